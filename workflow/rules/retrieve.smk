# Retrieval: the frozen snapshot (offline) or a live E-utilities search, then parsing to records.csv.

if MODE == "live":

    rule fetch_pubmed:
        output:
            done=f"{PUBMED_DIR}/fetch.done",
        params:
            pubmed=config["pubmed"],
        log:
            "logs/fetch_pubmed.log",
        script:
            "../scripts/fetch_pubmed.py"

    PUBMED_INPUTS = [f"{PUBMED_DIR}/fetch.done"]
else:
    PUBMED_INPUTS = [f"{PUBMED_DIR}/search.json"] + sorted(str(p) for p in Path(PUBMED_DIR).glob("*.xml"))


rule parse_records:
    input:
        pubmed=PUBMED_INPUTS,
        extra=config.get("extra_records", []),
    output:
        records="data/processed/records.csv",
        dedup="data/processed/records_duplicates.csv",
        search="data/processed/search.json",
    params:
        pubmed_dir=PUBMED_DIR,
        mode=MODE,
    script:
        "../scripts/parse_records.py"
