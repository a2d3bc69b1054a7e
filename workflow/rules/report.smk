# The self-contained HTML report and the executed notebooks.


rule report:
    input:
        search="data/processed/search.json",
        prisma="data/processed/prisma.json",
        screening="data/processed/screening.csv",
        studies="data/processed/studies.csv",
        effects="data/processed/effects.csv",
        not_computed="data/processed/effects_not_computed.csv",
        pooled="data/processed/pooled.csv",
        weights="data/processed/pooled_studies.csv",
        onset="data/processed/onset_timecourse.json",
        side_effects="data/processed/side_effects.csv",
        sof="data/processed/summary_of_findings.csv",
        bias="data/processed/small_study_tests.csv",
        figures=rules.figures.output.svg,
        forest="results/figures/forest",
    output:
        report(
            "results/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
    params:
        config=config,
    script:
        "../scripts/report.py"


rule notebook:
    input:
        notebook="notebooks/{nb}.ipynb",
        pooled="data/processed/pooled.csv",
        effects="data/processed/effects.csv",
        screening="data/processed/screening.csv",
        figures=rules.figures.output.svg,
    output:
        html="results/notebooks/{nb}.html",
    script:
        "../scripts/notebook.py"
