# Figures: SVG + PNG, deterministic bytes.


rule figures:
    input:
        pooled=P("pooled"),
        weights=P("pooled_studies"),
        onset=P("onset_timecourse"),
        duration=P("duration_timecourse"),
        side_effects=P("side_effects"),
        bias=P("small_study_tests"),
        studies=P("studies"),
        prisma=P("prisma"),
    output:
        svg=report(expand("results/figures/{name}.svg", name=FIGURES), caption="../report/figures.rst",
                   category="Figures"),
        png=expand("results/figures/{name}.png", name=FIGURES),
        forest=directory("results/figures/forest"),
    log:
        "logs/figures.log",
    script:
        "../scripts/figures.py"
