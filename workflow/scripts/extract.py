"""Snakemake script: validate the curated tables; write the included studies' tables and their status."""
from evsynth.steps import step

with step(snakemake):
    from evsynth.extraction.included import study_status, write_included_tables
    from evsynth.extraction.studies import study_characteristics
    from evsynth.extraction.validate import load_frames
    from evsynth.processed import read_table, write_table

    names = [k[len("included_"):] for k in snakemake.output.keys() if k.startswith("included_")]
    sources = {name: snakemake.input[name] for name in names}
    frames = load_frames(None, paths=sources)
    screening = read_table("screening", snakemake.input.screening)
    records = read_table("records", snakemake.input.records)
    status = study_status(frames["studies"], screening)
    write_included_tables(sources, status, {name: snakemake.output[f"included_{name}"] for name in names})
    write_table("study_status", status, snakemake.output.status)
    write_table("studies", study_characteristics(frames, status, records), snakemake.output.studies)
