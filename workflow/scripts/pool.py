"""Snakemake script: run the analysis plan (evsynth.analyses.plan)."""

from evsynth.analyses.effect_table import read_effects
from evsynth.analyses.plan import run_plan
from evsynth.extraction.tables import load_frames
from evsynth.io import write_csv, write_json

frames = load_frames(snakemake.params.directory)
result = run_plan(read_effects(snakemake.input.effects), frames, snakemake.params.analysis)
write_csv(result.pooled, snakemake.output.pooled)
write_csv(result.studies, snakemake.output.weights)
write_json(snakemake.output.onset, result.onset)
write_csv(result.side_effects, snakemake.output.side_effects)
write_csv(result.sof, snakemake.output.sof)
write_csv(result.small_study, snakemake.output.bias)
