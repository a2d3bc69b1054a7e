# Extraction: validate the curated tables and keep the included studies' rows only.


rule extract:
    input:
        **EXTRACTION_TABLES,
        screening=P("screening"),
        records=P("records"),
    output:
        **INCLUDED_OUTPUTS,
        status=P("study_status"),
        studies=P("studies"),
    log:
        "logs/extract.log",
    script:
        "../scripts/extract.py"
