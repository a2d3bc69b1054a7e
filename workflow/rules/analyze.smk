# Effect sizes and the analysis plan. Inputs are the included studies' tables only.


rule plan:
    output:
        plan=P("analysis_plan"),
    params:
        analysis=config["analysis"],
        plan_digest=PLAN.digest,  # rewritten (and the notebooks rerun) when any setting changes
    log:
        "logs/plan.log",
    script:
        "../scripts/plan.py"


rule effects:
    input:
        **INCLUDED,
    output:
        effects=P("effects"),
        excluded=P("effects_not_computed"),
    params:
        plan=PLAN,
        plan_digest=PLAN.digest,  # reruns the step when any setting changes
    log:
        "logs/effects.log",
    script:
        "../scripts/effects.py"


rule pool:
    input:
        **INCLUDED,
        effects=P("effects"),
    output:
        pooled=P("pooled"),
        weights=P("pooled_studies"),
        onset=P("onset_timecourse"),
        duration=P("duration_timecourse"),
        side_effects=P("side_effects"),
        side_effects_other=P("side_effects_other"),
        sof=P("summary_of_findings"),
        bias=P("small_study_tests"),
    params:
        plan=PLAN,
        plan_digest=PLAN.digest,  # reruns the step when any setting changes
    log:
        "logs/pool.log",
    script:
        "../scripts/pool.py"


rule exports:
    input:
        studies=P("studies"),
        records=P("records"),
        effects=P("effects"),
    output:
        ris="data/processed/exports/included.ris",
        bib="data/processed/exports/included.bib",
        metafor=P("effects_metafor"),
    log:
        "logs/exports.log",
    script:
        "../scripts/exports.py"
