# Retrieval: the frozen snapshot (offline) or a live E-utilities search, then parsing to records.csv.
#
# Live mode: fetch_pubmed makes sure pubmed.live_dir holds a complete search for the pubmed.* settings;
# one made with the same settings is reused without a request. To search again run `make update`
# (`evsynth update`): it re-searches, keeps the dated search history and rewrites fetch.done only when
# the search changed, so the next `make report MODE=live` parses the new records. A failed search
# leaves the last complete one (search.json, batches, fetch.done content) in place.

if MODE == "live":

    rule fetch_pubmed:
        # Needs the internet and shares one NCBI request budget: never submitted to cluster nodes.
        localrule: True
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
        records=P("records"),
        search=P("search"),
    params:
        pubmed_dir=PUBMED_DIR,
        mode=MODE,
    log:
        "logs/parse_records.log",
    script:
        "../scripts/parse_records.py"
