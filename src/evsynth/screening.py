"""Screening: de-duplicated records -> included / excluded with a reason, and PRISMA 2020 counts.

Two stages, as PRISMA 2020 reports them:

1. *Screening* applies the configured rules (language, years, publication types, intervention
   and population terms in title, MeSH or keywords) to every record.
2. *Eligibility* is the manual decisions file (``data/raw/screening/decisions.csv``: pmid,
   decision, reason, study_id), for the records that pass the rules. A manual ``include`` overrides
   a failed rule (the record then goes to eligibility); a record that passes the rules but has no
   manual decision is ``awaiting`` assessment: it is counted and listed, never silently included.

Reasons are short tokens (PRISMA 2020 categories): ``wrong_publication_type``,
``wrong_study_design``, ``wrong_population``, ``wrong_intervention``, ``wrong_language``,
``out_of_date_range``, ``secondary_analysis``, ``duplicate``.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from evsynth.extraction.included import OUTSIDE_SEARCH, study_status

SCREENING_COLUMNS = ["record_id", "pmid", "source_db", "year", "title", "stage", "decision", "reason", "study_id"]


def _split(value) -> list[str]:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return []
    return [v.strip() for v in str(value).split("|") if v.strip()]


def _text(record: pd.Series) -> str:
    parts = [record.get("title"), record.get("mesh"), record.get("keywords")]
    return " ".join(str(p) for p in parts if isinstance(p, str)).casefold()


def rule_reason(record: pd.Series, rules: dict) -> str | None:
    """The first configured rule a record fails, as a reason token; ``None`` when it passes all."""
    languages = [lang.casefold() for lang in rules.get("languages", [])]
    language = str(record.get("language") or "").casefold()
    if languages and language and not any(lang in language.split("|") for lang in languages):
        return "wrong_language"
    years = rules.get("years")
    year = record.get("year")
    if years and pd.notna(year) and not (years[0] <= int(year) <= years[1]):
        return "out_of_date_range"
    pub_types = {p.casefold() for p in _split(record.get("pub_types"))}
    excluded_types = {p.casefold() for p in rules.get("exclude_publication_types", [])}
    if pub_types & excluded_types:
        return "wrong_publication_type"
    text = _text(record)
    terms = rules.get("intervention_terms", [])
    if terms and not any(t.casefold() in text for t in terms):
        return "wrong_intervention"
    population = rules.get("population_terms", [])
    if population and not any(t.casefold() in text for t in population):
        return "wrong_population"
    included_types = {p.casefold() for p in rules.get("include_publication_types", [])}
    if included_types and not (pub_types & included_types) and "random" not in text:
        return "wrong_study_design"
    return None


def screen(records: pd.DataFrame, decisions: pd.DataFrame, rules: dict,
           duplicates: pd.DataFrame | None = None, studies: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Screen de-duplicated records.

    Parameters
    ----------
    records : DataFrame
        The records table (``data/processed/records.csv``), one row per unique record.
    decisions : DataFrame
        Manual decisions: pmid, decision (include/exclude), reason, study_id.
    rules : dict
        The ``screening`` section of the config.
    duplicates : DataFrame, optional
        The de-duplication table (one row per record removed as a duplicate), for PRISMA counts.
    studies : DataFrame, optional
        The extraction's studies table. Studies with no included PubMed record (identified by DOI on
        a journal page because no page showed their PMID) are counted as identified via other
        methods (PRISMA 2020's second column).

    Returns
    -------
    screening : DataFrame
        One row per record: pmid, source_db, year, title, stage, decision, reason, study_id.
    prisma : dict
        PRISMA 2020 flow counts.
    """
    manual = {int(r.pmid): r for r in decisions.itertuples(index=False)}
    pmids = pd.to_numeric(records["pmid"], errors="coerce").astype("Int64")
    unknown = sorted(set(manual) - set(int(p) for p in pmids.dropna()))
    rows = []
    order = records.assign(_pmid=pmids).sort_values(["_pmid", "record_id"], na_position="last", kind="mergesort")
    for _, rec in order.iterrows():
        pmid = None if pd.isna(rec["_pmid"]) else int(rec["_pmid"])
        base = {"record_id": rec.get("record_id", f"pubmed:{pmid}"), "pmid": pmid,
                "source_db": rec.get("source_db", "pubmed"), "year": rec.get("year"), "title": rec.get("title")}
        reason = rule_reason(rec, rules)
        d = manual.get(pmid)
        study = d.study_id if d is not None and isinstance(d.study_id, str) else ""
        if reason and (d is None or d.decision == "exclude"):
            rows.append(base | {"stage": "screening", "decision": "exclude", "reason": reason, "study_id": study})
        elif d is not None:
            rows.append(base | {"stage": "eligibility", "decision": d.decision, "reason": d.reason,
                                "study_id": study})
        else:
            rows.append(base | {"stage": "eligibility", "decision": "awaiting", "reason": "no_manual_decision",
                                "study_id": ""})
    screening = pd.DataFrame(rows, columns=SCREENING_COLUMNS)
    screening["pmid"] = screening["pmid"].astype("Int64")
    prisma = prisma_counts(records, screening, duplicates, unknown)
    if studies is not None:
        status = study_status(studies, screening)
        other = status[(status.status == "included") & status.reason.str.startswith(OUTSIDE_SEARCH)]
        prisma["other_methods_studies"] = other.study_id.tolist()
        prisma["other_methods_identifiers"] = {
            r.study_id: r.reason[len(OUTSIDE_SEARCH):].strip(" ()") for r in other.itertuples()}
        prisma["included_studies_total"] = prisma["included_studies"] + len(other)
        decided = decisions.loc[decisions.decision == "include", "study_id"].dropna().astype(str)
        included_ids = (set(screening.loc[screening.decision == "include", "study_id"]) | set(decided)) - {""}
        prisma["awaiting_extraction"] = sorted(included_ids - set(studies.study_id))
    return screening, prisma


def prisma_counts(records: pd.DataFrame, screening: pd.DataFrame, duplicates: pd.DataFrame | None,
                  decisions_without_record: list[int]) -> dict:
    """PRISMA 2020 flow-diagram counts from the screening table."""
    dup_n = 0 if duplicates is None else len(duplicates)
    by_source = Counter(records.get("source_db", pd.Series(["pubmed"] * len(records))).fillna("pubmed"))
    if duplicates is not None and "source_db" in duplicates:
        by_source.update(duplicates["source_db"].fillna("pubmed"))
    scr = screening[screening.stage == "screening"]
    elig = screening[screening.stage == "eligibility"]
    included = elig[elig.decision == "include"]
    excluded_elig = elig[elig.decision == "exclude"]
    return {
        "identified": dict(sorted(by_source.items())),
        "identified_total": int(sum(by_source.values())),
        "duplicates_removed": int(dup_n),
        "screened": int(len(screening)),
        "excluded_screening": int(len(scr)),
        "excluded_screening_reasons": dict(sorted(Counter(scr.reason).items())),
        "assessed_eligibility": int(len(elig)),
        "excluded_eligibility": int(len(excluded_elig)),
        "excluded_eligibility_reasons": dict(sorted(Counter(excluded_elig.reason).items())),
        "awaiting_assessment": int((elig.decision == "awaiting").sum()),
        "included_reports": int(len(included)),
        "included_studies": int(included.study_id.replace("", pd.NA).dropna().nunique()),
        "decisions_without_record": [int(p) for p in decisions_without_record],
    }
