"""Screening gates the extraction: which extracted studies are included, and their tables alone.

A study's status comes from the screening table (records x rules x manual decisions):

* **included** — a record linked to the study (by the decision's ``study_id`` or the study's
  PMID) was included; or no record of the search is linked to it at all, i.e. it was identified
  outside the search (PRISMA 2020's "other methods"), which the status says with its identifier;
* **excluded** — none of its records was included, and its own record (the study's PMID) was
  excluded, by a manual decision or by the screening rules, or a manual decision linked to it
  excludes it for a study-level reason; the reason is the screening reason. Excluding one of its
  *reports* (a secondary analysis, a linked report) does not exclude the study;
* **awaiting** — its record awaits a screening decision.

The extract step writes the included studies' rows of every extraction table; every later step
reads only those, so a study excluded at screening appears nowhere downstream (effects, pooled
results, figures, exports, notebooks), and the report lists it with its reason.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from evsynth.extraction.tables import read_csv_text
from evsynth.io import atomic_path

#: the extraction tables written for the included studies (vocabularies are copied whole)
STUDY_TABLES = ("studies", "arms", "outcomes", "contrasts", "adverse_events")
VOCABULARIES = ("ae_vocabulary", "outcome_vocabulary")
STATUS_COLUMNS = ["study_id", "status", "reason", "pmids"]
#: how a study found outside the search is labelled (followed by its identifier, "(PMID n)" or "(DOI x)")
OUTSIDE_SEARCH = "identified outside the search"
#: exclusion reasons that concern one report of a study, not the study
REPORT_LEVEL_REASONS = ("secondary_analysis", "linked_report", "duplicate_report")


def study_status(studies: pd.DataFrame, screening: pd.DataFrame) -> pd.DataFrame:
    """Each extracted study's status (included / excluded / awaiting), the reason and its linked PMIDs."""
    scr = screening.assign(pmid=pd.to_numeric(screening.pmid, errors="coerce").astype("Int64"),
                           study_id=screening.study_id.fillna("").astype(str))
    rows = []
    for s in studies.itertuples(index=False):
        pmid = None if pd.isna(s.pmid) else int(s.pmid)
        linked = scr[(scr.study_id == s.study_id) | (scr.pmid == pmid if pmid is not None else False)]
        pmids = "|".join(str(int(p)) for p in sorted(linked.pmid.dropna().unique()))
        decisions = set(linked.decision)
        own = linked.pmid == pmid if pmid is not None else pd.Series(False, index=linked.index)
        study_level = (linked.decision == "exclude") & (
            own | ((linked.stage == "eligibility") & ~linked.reason.isin(REPORT_LEVEL_REASONS)))
        if "include" in decisions:
            status, reason = "included", ""
        elif study_level.any():
            ex = linked[study_level].iloc[0]
            status, reason = "excluded", f"{ex.reason} (PMID {ex.pmid}, {ex.stage})"
        elif "awaiting" in set(linked[own].decision) if pmid is not None else False:
            status, reason = "awaiting", "its record awaits a screening decision"
        else:
            pmcid = getattr(s, "pmcid", None)
            if pmid is not None:
                ident = f"PMID {pmid}"
            elif isinstance(s.doi, str) and s.doi:
                ident = f"DOI {s.doi}"
            else:
                ident = f"PMCID {pmcid}"
            status, reason = "included", f"{OUTSIDE_SEARCH} ({ident})"
        rows.append({"study_id": s.study_id, "status": status, "reason": reason, "pmids": pmids})
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)


def write_included_tables(sources: Mapping[str, str | os.PathLike], status: pd.DataFrame,
                          outputs: Mapping[str, str | os.PathLike]) -> None:
    """Write the included studies' rows of each extraction table, byte for byte as curated.

    Parameters
    ----------
    sources : mapping
        Table name (``studies``, ``arms``, ..., ``ae_vocabulary``, ``outcome_vocabulary``) -> the
        curated CSV file.
    status : DataFrame
        :func:`study_status`.
    outputs : mapping
        Table name -> the file to write.
    """
    included = set(status.loc[status.status == "included", "study_id"])
    for name, out in outputs.items():
        text = read_csv_text(Path(sources[name]))
        if name in VOCABULARIES:
            kept = text
        else:
            rows = list(csv.reader(io.StringIO(text, newline="")))
            col = rows[0].index("study_id")
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(rows[0])
            writer.writerows(r for r in rows[1:] if r and r[col] in included)
            kept = buf.getvalue()
        with atomic_path(out) as tmp:
            tmp.write_text(kept, encoding="utf-8")
