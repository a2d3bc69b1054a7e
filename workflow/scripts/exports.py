"""Snakemake script: included studies as RIS and BibTeX; effect sizes as a metafor-ready CSV."""
from evsynth.steps import step

with step(snakemake):
    from evsynth.exports import metafor_csv, to_bibtex, to_ris
    from evsynth.io import write_text
    from evsynth.processed import read_table, write_table

    studies = read_table("studies", snakemake.input.studies)
    records = read_table("records", snakemake.input.records)
    effects = read_table("effects", snakemake.input.effects)
    write_text(snakemake.output.ris, to_ris(studies, records))
    write_text(snakemake.output.bib, to_bibtex(studies, records))
    write_table("effects_metafor", metafor_csv(effects), snakemake.output.metafor)
