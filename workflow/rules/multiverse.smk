# The multiverse (specification-curve) analysis of analysis.multiverse (evsynth.analyses.multiverse):
# every specification fitted with rma_batch -> multiverse.csv, a per-multiverse summary with the
# null-curve test, and one specification-curve figure per analysis.

MULTIVERSE_FIGURES = [f"results/figures/specification_curve_{a}" for a in PLAN.multiverse.analyses]


rule multiverse:
    input:
        **INCLUDED,
        effects=P("effects"),
    output:
        table=P("multiverse"),
        summary=P("multiverse_summary"),
        svg=[f"{stem}.svg" for stem in MULTIVERSE_FIGURES],
        png=[f"{stem}.png" for stem in MULTIVERSE_FIGURES],
    params:
        plan=PLAN,
        plan_digest=PLAN.digest,  # reruns the step when any setting changes
        figures="results/figures",
    log:
        "logs/multiverse.log",
    script:
        "../scripts/multiverse.py"
