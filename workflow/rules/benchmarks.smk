# Published meta-analyses beside ours: data/raw/benchmarks/published_pooled.csv (read from the
# reviews' own pages) against our primary pooled estimates (evsynth.analyses.benchmarks).


rule benchmarks:
    input:
        pooled=P("pooled"),
        weights=P("pooled_studies"),
        published="data/raw/benchmarks/published_pooled.csv",
    output:
        table="data/processed/benchmarks.csv",
        svg="results/figures/benchmarks.svg",
        png="results/figures/benchmarks.png",
    params:
        plan=PLAN,
        plan_digest=PLAN.digest,  # reruns the step when any setting changes
    log:
        "logs/benchmarks.log",
    script:
        "../scripts/benchmarks.py"
