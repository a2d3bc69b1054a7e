"""Snakemake script: the effects table (evsynth.analyses.effect_table)."""
from evsynth.analyses.effect_table import build_effects
from evsynth.extraction.tables import load_frames
from evsynth.io import write_csv

frames = load_frames(snakemake.params.directory)
effects, not_computed = build_effects(frames, snakemake.params.analysis)
write_csv(effects, snakemake.output.effects)
write_csv(not_computed, snakemake.output.excluded)
