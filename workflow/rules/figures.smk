# Figures: SVG + PNG, deterministic bytes.


rule figures:
    input:
        pooled="data/processed/pooled.csv",
        weights="data/processed/pooled_studies.csv",
        onset="data/processed/onset_timecourse.json",
        side_effects="data/processed/side_effects.csv",
        effects="data/processed/effects.csv",
        studies="data/processed/studies.csv",
        prisma="data/processed/prisma.json",
    output:
        svg=report(expand("results/figures/{name}.svg", name=FIGURES), caption="../report/figures.rst",
                   category="Figures"),
        png=expand("results/figures/{name}.png", name=FIGURES),
        forest=directory("results/figures/forest"),
    params:
        analysis=config["analysis"],
    script:
        "../scripts/figures.py"
