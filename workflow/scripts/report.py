"""Snakemake script: the self-contained HTML report (evsynth.report)."""
from pathlib import Path

from evsynth.report import build_report

build_report(Path(snakemake.input.pooled).parent, Path(snakemake.input.forest).parent,
             snakemake.params.config, Path(snakemake.output[0]))
