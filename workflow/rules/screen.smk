# Screening: configured eligibility rules plus the manual decisions file -> included/excluded, PRISMA counts.


rule screen:
    input:
        records="data/processed/records.csv",
        dedup="data/processed/records_duplicates.csv",
        decisions=config["screening"]["decisions"],
        studies=f"{EXTRACTION}/studies.csv",
    output:
        screening="data/processed/screening.csv",
        prisma="data/processed/prisma.json",
    params:
        rules=config["screening"],
    script:
        "../scripts/screen.py"
