"""Snakemake script: execute a notebook headless and render it to HTML (evsynth.report.notebooks)."""
from evsynth.steps import step

with step(snakemake):
    from pathlib import Path

    from evsynth.report.notebooks import render_notebook

    render_notebook(Path(snakemake.input.notebook), Path(snakemake.output.html))
