"""Snakemake script: screen the records (evsynth.screening)."""
import pandas as pd

from evsynth.io import write_csv, write_json
from evsynth.screening import screen

records = pd.read_csv(snakemake.input.records, dtype={"pmid": "Int64"}, keep_default_na=False, na_values=[""])
duplicates = pd.read_csv(snakemake.input.dedup, keep_default_na=False, na_values=[""])
decisions = pd.read_csv(snakemake.input.decisions, keep_default_na=False, na_values=[""])
studies = pd.read_csv(snakemake.input.studies, keep_default_na=False, na_values=[""])
screening, prisma = screen(records, decisions, snakemake.params.rules, duplicates, studies)
write_csv(screening, snakemake.output.screening)
write_json(snakemake.output.prisma, prisma)
