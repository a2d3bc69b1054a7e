"""The study-characteristics table: the extraction's studies joined to their included PubMed records."""

from __future__ import annotations

import pandas as pd

CHARACTERISTICS = [
    "study_id", "pmid", "year", "design", "population", "drug", "route", "comparator", "country", "n_randomized",
    "n_arms", "rob_randomization", "rob_deviations", "rob_missing", "rob_measurement", "rob_selection",
    "rob_overall", "title", "journal", "doi", "nct_id", "reports", "screening",
]


def study_characteristics(frames: dict[str, pd.DataFrame], status: pd.DataFrame,
                          records: pd.DataFrame) -> pd.DataFrame:
    """One row per included study, with its PubMed record's title and journal and how it was found.

    ``reports`` lists every PMID linked to the study at screening; ``screening`` is ``included``
    for a study found by the search, else how it was identified outside the search (with its PMID
    or DOI). Excluded and awaiting studies are not here (see ``study_status.csv``).
    """
    st = status.set_index("study_id")
    studies = frames["studies"].drop(columns=["_line"], errors="ignore").copy()
    studies = studies[studies.study_id.map(st.status) == "included"]
    recs = records.assign(pmid=pd.to_numeric(records.pmid, errors="coerce").astype("Int64"))
    recs = recs.dropna(subset=["pmid"]).drop_duplicates("pmid").set_index("pmid")
    pmids = pd.to_numeric(studies.pmid, errors="coerce").astype("Int64")
    studies["title"] = pmids.map(recs.title).fillna("")
    studies["journal"] = pmids.map(recs.journal).fillna("")
    linked = studies.study_id.map(st.pmids).fillna("")
    studies["reports"] = linked.where(linked != "", pmids.astype(str).replace("<NA>", ""))
    reason = studies.study_id.map(st.reason).fillna("")
    studies["screening"] = reason.where(reason != "", "included")
    studies["n_arms"] = studies.study_id.map(frames["arms"].groupby("study_id").size()).astype("Int64")
    return studies[CHARACTERISTICS].sort_values("study_id").reset_index(drop=True)
