"""Snakemake script: published meta-analyses beside our pooled estimates (evsynth.analyses.benchmarks)."""
from pathlib import Path

from evsynth.steps import step

with step(snakemake):
    from evsynth.analyses.benchmarks import compare, load_published, write_comparison
    from evsynth.figures.benchmarks import render
    from evsynth.processed import read_table

    plan = snakemake.params.plan
    published = load_published(snakemake.input.published, [w.id for w in plan.windows])
    comparison = compare(read_table("pooled", snakemake.input.pooled), published, plan.level,
                         read_table("pooled_studies", snakemake.input.weights))
    render(comparison, Path(snakemake.output.svg).parent, plan.level)  # benchmarks.svg and benchmarks.png
    write_comparison(comparison, snakemake.output.table)
