"""Snakemake script: screen the records (evsynth.screening)."""
from evsynth.steps import step

with step(snakemake):
    import pandas as pd

    from evsynth.processed import read_table, write_document, write_table
    from evsynth.screening import screen

    records = read_table("records", snakemake.input.records)
    duplicates = read_table("records_duplicates", snakemake.input.dedup)
    decisions = pd.read_csv(snakemake.input.decisions, keep_default_na=False, na_values=[""])
    studies = pd.read_csv(snakemake.input.studies, keep_default_na=False, na_values=[""])
    screening, prisma = screen(records, decisions, snakemake.params.rules, duplicates, studies)
    write_table("screening", screening, snakemake.output.screening)
    write_document("prisma", prisma, snakemake.output.prisma)
