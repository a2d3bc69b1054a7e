# Effect sizes and the analysis plan.


rule effects:
    input:
        tables=EXTRACTION_TABLES,
        studies="data/processed/studies.csv",
    output:
        effects="data/processed/effects.csv",
        excluded="data/processed/effects_not_computed.csv",
    params:
        directory=EXTRACTION,
        analysis=config["analysis"],
    script:
        "../scripts/effects.py"


rule pool:
    input:
        effects="data/processed/effects.csv",
        studies="data/processed/studies.csv",
        tables=EXTRACTION_TABLES,
    output:
        pooled="data/processed/pooled.csv",
        weights="data/processed/pooled_studies.csv",
        onset="data/processed/onset_timecourse.json",
        side_effects="data/processed/side_effects.csv",
        sof="data/processed/summary_of_findings.csv",
        bias="data/processed/small_study_tests.csv",
    params:
        directory=EXTRACTION,
        analysis=config["analysis"],
    script:
        "../scripts/pool.py"


rule exports:
    input:
        studies="data/processed/studies.csv",
        records="data/processed/records.csv",
        effects="data/processed/effects.csv",
    output:
        ris="data/processed/exports/included.ris",
        bib="data/processed/exports/included.bib",
        metafor="data/processed/exports/effects_metafor.csv",
    script:
        "../scripts/exports.py"
