# Extraction: validate the curated tables and join them to the included records.


rule extract:
    input:
        tables=EXTRACTION_TABLES,
        screening="data/processed/screening.csv",
        records="data/processed/records.csv",
    output:
        studies="data/processed/studies.csv",
    params:
        directory=EXTRACTION,
    script:
        "../scripts/extract.py"
