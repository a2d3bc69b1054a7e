"""The study-characteristics table: the extraction's studies joined to their included PubMed records."""

from __future__ import annotations

import pandas as pd

CHARACTERISTICS = [
    "study_id", "pmid", "year", "design", "population", "drug", "route", "comparator", "country", "n_randomized",
    "n_arms", "rob_randomization", "rob_deviations", "rob_missing", "rob_measurement", "rob_selection",
    "rob_overall", "title", "journal", "doi", "nct_id", "reports", "screening",
]


def study_characteristics(frames: dict[str, pd.DataFrame], screening: pd.DataFrame,
                          records: pd.DataFrame) -> pd.DataFrame:
    """One row per extracted study, with its PubMed record's title and journal and its screening status.

    ``reports`` lists every PMID linked to the study in the screening decisions; ``screening`` is
    ``included`` when the study's primary PMID was included at screening, otherwise the record's
    decision (a study extracted but not included is flagged rather than silently analysed).
    """
    studies = frames["studies"].drop(columns=["_line"], errors="ignore").copy()
    recs = records.assign(pmid=records.pmid.astype("Int64")).set_index("pmid")
    scr = screening.assign(pmid=screening.pmid.astype("Int64"))
    linked = scr[scr.study_id.fillna("") != ""].groupby("study_id").pmid.apply(
        lambda s: "|".join(str(p) for p in sorted(s)))
    status = scr.set_index("pmid").decision
    pmids = studies.pmid.astype("Int64")
    studies["title"] = pmids.map(recs.title) if "title" in recs else ""
    studies["journal"] = pmids.map(recs.journal) if "journal" in recs else ""
    studies["reports"] = studies.study_id.map(linked).fillna(pmids.astype(str))
    studies["screening"] = pmids.map(status).map({"include": "included"}).fillna(
        pmids.map(status)).fillna("via other methods (DOI; no page showed the PMID)")
    studies["n_arms"] = studies.study_id.map(frames["arms"].groupby("study_id").size()).astype("Int64")
    return studies[CHARACTERISTICS].sort_values("study_id").reset_index(drop=True)
