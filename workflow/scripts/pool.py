"""Snakemake script: run the analysis plan (evsynth.analyses.run) on the included studies."""
from evsynth.steps import step

with step(snakemake):
    from evsynth.analyses.effect_table import read_effects
    from evsynth.analyses.run import run_plan
    from evsynth.extraction.validate import load_frames
    from evsynth.processed import write_document, write_table

    tables = {name: path for name, path in snakemake.input.items() if name != "effects"}
    frames = load_frames(None, paths=tables, allow_empty=True)
    result = run_plan(read_effects(snakemake.input.effects), frames, snakemake.params.plan)
    write_table("pooled", result.pooled, snakemake.output.pooled)
    write_table("pooled_studies", result.studies, snakemake.output.weights)
    write_document("onset_timecourse", result.onset, snakemake.output.onset)
    write_document("duration_timecourse", result.duration, snakemake.output.duration)
    write_table("side_effects", result.side_effects, snakemake.output.side_effects)
    write_table("side_effects_other", result.side_effects_other, snakemake.output.side_effects_other)
    write_table("summary_of_findings", result.sof, snakemake.output.sof)
    write_table("small_study_tests", result.small_study, snakemake.output.bias)
