"""Snakemake script: the self-contained HTML report (evsynth.report)."""
from evsynth.steps import step

with step(snakemake):
    from pathlib import Path

    from evsynth.report import DOCUMENTS, TABLES, build_report

    paths = {name: snakemake.input[name] for name in TABLES + DOCUMENTS}
    build_report(paths, Path(snakemake.input.forest).parent, snakemake.params.config, snakemake.params.plan,
                 Path(snakemake.output[0]))
