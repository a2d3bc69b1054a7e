"""Snakemake script: the effects table of the included studies (evsynth.analyses.effect_table)."""
from evsynth.steps import step

with step(snakemake):
    from evsynth.analyses.effect_table import build_effects
    from evsynth.extraction.validate import load_frames
    from evsynth.processed import write_table

    frames = load_frames(None, paths=dict(snakemake.input.items()), allow_empty=True)
    effects, not_computed = build_effects(frames, snakemake.params.plan)
    write_table("effects", effects, snakemake.output.effects)
    write_table("effects_not_computed", not_computed, snakemake.output.excluded)
