"""Snakemake script: included studies as RIS and BibTeX; effect sizes as a metafor-ready CSV."""
import pandas as pd

from evsynth.exports import metafor_csv, to_bibtex, to_ris
from evsynth.io import write_csv, write_text

studies = pd.read_csv(snakemake.input.studies, keep_default_na=False, na_values=[""])
records = pd.read_csv(snakemake.input.records, keep_default_na=False, na_values=[""])
effects = pd.read_csv(snakemake.input.effects, keep_default_na=False, na_values=[""])
write_text(snakemake.output.ris, to_ris(studies, records))
write_text(snakemake.output.bib, to_bibtex(studies, records))
write_csv(metafor_csv(effects), snakemake.output.metafor)
