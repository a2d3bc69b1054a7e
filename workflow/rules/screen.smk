# Screening: de-duplication, configured eligibility rules plus the manual decisions file -> included/excluded,
# PRISMA counts.


rule screen:
    input:
        records=P("records"),
        decisions=config["screening"]["decisions"],
        studies=EXTRACTION_TABLES["studies"],
    output:
        dedup=P("records_duplicates"),
        screening=P("screening"),
        prisma=P("prisma"),
    params:
        rules=config["screening"],
    log:
        "logs/screen.log",
    script:
        "../scripts/screen.py"
