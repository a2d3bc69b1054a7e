# The self-contained HTML report and the executed notebooks.

REPORT_TABLES = ["search", "prisma", "onset_timecourse", "duration_timecourse", "screening", "studies",
                 "study_status", "pooled",
                 "pooled_studies", "side_effects", "side_effects_other", "summary_of_findings",
                 "small_study_tests", "effects_not_computed", "effects", "benchmarks", "multiverse",
                 "multiverse_summary"]


rule report:
    input:
        **{name: P(name) for name in REPORT_TABLES},
        figures=rules.figures.output.svg,
        benchmark_figure=rules.benchmarks.output.svg,
        multiverse_figures=rules.multiverse.output.svg,
        forest="results/figures/forest",
    output:
        report(
            "results/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
    params:
        config=config,
        plan=PLAN,
        plan_digest=PLAN.digest,  # reruns the step when any setting changes
    log:
        "logs/report.log",
    script:
        "../scripts/report.py"


rule notebook:
    input:
        notebook="notebooks/{nb}.ipynb",
        pooled=P("pooled"),
        effects=P("effects"),
        screening=P("screening"),
        study_status=P("study_status"),
        plan=P("analysis_plan"),
        figures=rules.figures.output.svg,
    output:
        html="results/notebooks/{nb}.html",
    log:
        "logs/notebook_{nb}.log",
    script:
        "../scripts/render_notebook.py"
