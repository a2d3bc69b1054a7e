"""Snakemake script: render every figure (evsynth.figures.render_all)."""
from evsynth.steps import step

with step(snakemake):
    from pathlib import Path

    from evsynth.figures import render_all

    paths = {"pooled": snakemake.input.pooled, "pooled_studies": snakemake.input.weights,
             "onset_timecourse": snakemake.input.onset, "side_effects": snakemake.input.side_effects,
             "small_study_tests": snakemake.input.bias, "studies": snakemake.input.studies,
             "prisma": snakemake.input.prisma, "duration_timecourse": snakemake.input.duration}
    render_all(paths, Path(snakemake.output.svg[0]).parent, Path(snakemake.output.forest))
