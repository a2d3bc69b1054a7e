"""Snakemake script: the multiverse of analysis.multiverse (evsynth.analyses.multiverse)."""
from evsynth.steps import step

with step(snakemake):
    from evsynth.analyses.effect_table import read_effects
    from evsynth.analyses.multiverse import run_step
    from evsynth.extraction.validate import load_frames

    tables = {name: path for name, path in snakemake.input.items() if name != "effects"}
    frames = load_frames(None, paths=tables, allow_empty=True)
    run_step(read_effects(snakemake.input.effects), frames, snakemake.params.plan, snakemake.output.table,
             snakemake.output.summary, snakemake.params.figures)
