"""Screening rules, manual decisions and PRISMA counts (synthetic records)."""

import pandas as pd

from evsynth.screening import rule_reason, screen

RULES = {"languages": ["eng"], "years": [1990, 2026], "intervention_terms": ["ketamine", "esketamine"],
         "population_terms": ["depress"], "include_publication_types": ["Randomized Controlled Trial"],
         "exclude_publication_types": ["Review", "Meta-Analysis"]}


def rec(pmid, title, pub_types="Randomized Controlled Trial", mesh="", language="eng", year=2018):
    return {"record_id": f"pubmed:{pmid}", "pmid": pmid, "source_db": "pubmed", "title": title,
            "pub_types": pub_types, "mesh": mesh, "keywords": "", "language": language, "year": year}


RECORDS = pd.DataFrame([
    rec(1, "Ketamine for treatment-resistant depression: a randomized trial"),
    rec(2, "Side effects of ketamine in depression", pub_types="Review|Systematic Review"),
    rec(3, "Ketamine for postoperative pain", pub_types="Randomized Controlled Trial"),
    rec(4, "Esketamine nasal spray in depression", language="ger"),
    rec(5, "Lithium in bipolar depression: a randomized trial"),
    rec(6, "Ketamine infusions in depression: an open-label study", pub_types="Journal Article"),
    rec(7, "Esketamine in major depression: randomized withdrawal", mesh="Depressive Disorder, Major*"),
])
DECISIONS = pd.DataFrame([
    {"pmid": 1, "decision": "include", "reason": "primary_report", "study_id": "Aaa2018"},
    {"pmid": 6, "decision": "exclude", "reason": "wrong_study_design", "study_id": ""},
    {"pmid": 99, "decision": "include", "reason": "primary_report", "study_id": "Bbb2019"},
])


def test_rule_reasons():
    reasons = [rule_reason(r, RULES) for _, r in RECORDS.iterrows()]
    assert reasons == [None, "wrong_publication_type", "wrong_population", "wrong_language", "wrong_intervention",
                       "wrong_study_design", None]


def test_manual_include_overrides_a_rule():
    decisions = pd.DataFrame([{"pmid": 3, "decision": "include", "reason": "primary_report", "study_id": "Ccc2018"}])
    table, _ = screen(RECORDS, decisions, RULES)
    assert table.set_index("pmid").loc[3, ["stage", "decision"]].tolist() == ["eligibility", "include"]


def test_screen_and_prisma():
    duplicates = pd.DataFrame([{"record_id": "embase:x", "source_db": "embase"}])
    table, prisma = screen(RECORDS, DECISIONS, RULES, duplicates)
    by = table.set_index("pmid")
    assert by.loc[1, "decision"] == "include" and by.loc[1, "study_id"] == "Aaa2018"
    assert by.loc[6, ["stage", "reason"]].tolist() == ["screening", "wrong_study_design"]  # rule and manual agree
    assert by.loc[7, "decision"] == "awaiting"  # passes the rules, no manual decision: never silently included
    assert prisma["identified"] == {"embase": 1, "pubmed": 7}
    assert prisma["duplicates_removed"] == 1 and prisma["screened"] == 7
    assert prisma["excluded_screening"] == 5
    assert prisma["excluded_screening_reasons"] == {"wrong_intervention": 1, "wrong_language": 1,
                                                    "wrong_population": 1, "wrong_publication_type": 1,
                                                    "wrong_study_design": 1}
    assert prisma["included_reports"] == 1 and prisma["included_studies"] == 1
    assert prisma["awaiting_assessment"] == 1 and prisma["decisions_without_record"] == [99]


def test_study_status_and_prisma_say_how_each_study_was_found():
    """Only studies truly found outside the search are 'other methods', with their own identifier;
    an included study not yet extracted is reported, not a failure; excluding a secondary report does
    not exclude its study."""
    from evsynth.extraction.included import study_status

    decisions = pd.concat([DECISIONS, pd.DataFrame([
        {"pmid": 7, "decision": "include", "reason": "primary_report", "study_id": "Ggg2021"},  # not extracted
        {"pmid": 5, "decision": "exclude", "reason": "secondary_analysis", "study_id": "Ddd2020"},
    ])], ignore_index=True)
    studies = pd.DataFrame([
        {"study_id": "Aaa2018", "pmid": 1, "doi": None},
        {"study_id": "Ccc2019", "pmid": 3, "doi": None},  # its record is excluded by the rules
        {"study_id": "Ddd2020", "pmid": None, "doi": "10.1/ddd"},  # only a secondary report was in the search
        {"study_id": "Eee2021", "pmid": 1234, "doi": None},  # record not returned by the search
    ])
    table, prisma = screen(RECORDS, decisions, RULES, None, studies)
    assert prisma["other_methods_studies"] == ["Ddd2020", "Eee2021"]
    assert prisma["other_methods_identifiers"] == {"Ddd2020": "DOI 10.1/ddd", "Eee2021": "PMID 1234"}
    assert prisma["awaiting_extraction"] == ["Bbb2019", "Ggg2021"]
    assert prisma["decisions_without_record"] == [99]
    status = study_status(studies, table).set_index("study_id")
    assert status.loc["Aaa2018", "status"] == "included" and status.loc["Aaa2018", "reason"] == ""
    assert status.loc["Ccc2019"].tolist()[:2] == ["excluded", "wrong_population (PMID 3, screening)"]
    assert status.loc["Ddd2020", "status"] == "included"
