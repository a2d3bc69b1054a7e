"""Snakemake script: de-duplicate and screen the records (evsynth.dedup, evsynth.screening)."""
from evsynth.steps import step

with step(snakemake):
    import pandas as pd

    from evsynth.dedup import find_duplicates
    from evsynth.processed import read_table, write_document, write_table
    from evsynth.screening import screen

    everything = read_table("records", snakemake.input.records)
    dedup = find_duplicates(everything)
    records = everything[everything.record_id.isin(set(dedup.loc[dedup.kept, "record_id"]))]
    duplicates = dedup[~dedup.kept].reset_index(drop=True)
    write_table("records_duplicates", duplicates, snakemake.output.dedup)
    decisions = pd.read_csv(snakemake.input.decisions, keep_default_na=False, na_values=[""])
    studies = pd.read_csv(snakemake.input.studies, keep_default_na=False, na_values=[""])
    screening, prisma = screen(records, decisions, snakemake.params.rules, duplicates, studies)
    write_table("screening", screening, snakemake.output.screening)
    write_document("prisma", prisma, snakemake.output.prisma)
