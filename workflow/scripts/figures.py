"""Snakemake script: render every figure (evsynth.figures.render_all)."""
from pathlib import Path

from evsynth.figures import render_all

render_all(Path(snakemake.input.pooled).parent, Path(snakemake.output.forest).parent)
