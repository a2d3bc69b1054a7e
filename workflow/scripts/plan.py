"""Snakemake script: the validated analysis section this run used, for notebooks (evsynth.processed)."""
from evsynth.steps import step

with step(snakemake):
    from evsynth.processed import write_document

    write_document("analysis_plan", {"analysis": dict(snakemake.params.analysis), "digest": snakemake.params.plan_digest},
                   snakemake.output.plan)
