"""evsynth.pubmed.parse_medline against every real EFetch fixture (shared/fixtures/entrez)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evsynth.pubmed import RECORD_FIELDS, MedlineParseError, parse_medline

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "entrez"
EFETCH_FILES = sorted(FIXTURES.glob("efetch_pubmed_*.xml"))


def one(name: str) -> dict:
    records = list(parse_medline(FIXTURES / name))
    assert len(records) == 1
    return records[0]


def by_pmid(name: str) -> dict[str, dict]:
    return {r["pmid"]: r for r in parse_medline(FIXTURES / name)}


def test_every_efetch_fixture_is_covered():
    # 8 efetch files holding 10 records; a new fixture must be added to the expectations below.
    assert len(EFETCH_FILES) == 8
    pmids = sorted((r["pmid"] for f in EFETCH_FILES for r in parse_medline(f)), key=int)
    assert pmids == ["1", "9997", "11700088", "11748933", "12091962", "20301577",
                     "22078490", "22327499", "23121403", "38011560"]


@pytest.mark.parametrize("path", EFETCH_FILES, ids=lambda p: p.name)
def test_every_record_has_the_full_key_set(path):
    for rec in parse_medline(path):
        assert tuple(rec) == RECORD_FIELDS
        assert rec["source_db"] == "pubmed"
        assert rec["pmid"].isdigit()
        for key in ("authors", "pub_types", "mesh", "keywords", "nct_ids"):
            assert isinstance(rec[key], list)


def test_two_nct_ids_in_one_databank_and_structured_abstract():
    rec = one("efetch_pubmed_2017_rct_databank_two_nct_structured_abstract_22327499.xml")
    assert rec["pmid"] == "22327499"
    assert rec["doi"] == "10.4161/hv.18617"
    assert rec["pmcid"] is None
    assert rec["nct_ids"] == ["NCT00289757", "NCT00291876"]
    assert "Randomized Controlled Trial" in rec["pub_types"]
    labels = [line.split(":", 1)[0] for line in rec["abstract"].split("\n")]
    assert labels == ["BACKGROUND AND OBJECTIVES", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert (rec["year"], rec["volume"], rec["issue"], rec["pages"]) == (2012, "8", "3", "323-7")
    assert rec["journal"] == "Human vaccines & immunotherapeutics"  # &amp; decoded
    assert rec["authors"][0] == "Van Herck K"
    assert "Hepatitis A Vaccines*" in rec["mesh"] and "Humans" in rec["mesh"]
    assert rec["language"] == "eng"
    assert rec["record_type"] == "article"


def test_empty_labelled_section_upper_case_language_pmc_and_databank():
    rec = one("efetch_pubmed_2016_rct_databank_empty_abstracttext_22078490.xml")
    assert rec["pmid"] == "22078490"
    assert rec["doi"] == "10.1186/1471-2458-11-859"
    assert rec["pmcid"] == "PMC3236011"
    assert rec["language"] == "eng"  # written ENG in the file
    assert rec["nct_ids"] == ["NCT01194596"]  # DataBank and "TRIAL REGISTRATION" text agree
    lines = rec["abstract"].split("\n")
    assert len(lines) == 12
    assert lines[1] == "METHODS:"  # the self-closing <AbstractText Label="METHODS"/>
    assert lines[0].startswith("BACKGROUND: ")
    assert lines[-1].startswith("TRIAL REGISTRATION: ") and "NCT01194596" in lines[-1]
    assert {"Multicenter Study", "Randomized Controlled Trial"} <= set(rec["pub_types"])
    assert (rec["year"], rec["volume"], rec["issue"], rec["pages"]) == (2011, "11", None, "859")


def test_compact_2024_rct_without_databank():
    rec = one("efetch_pubmed_2024_rct_multicenter_structured_abstract_23121403.xml")
    assert rec["pmid"] == "23121403"
    assert rec["doi"] == "10.1056/NEJMoa1210384"
    assert rec["nct_ids"] == []
    assert [line.split(":", 1)[0] for line in rec["abstract"].split("\n")] == [
        "BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert (rec["year"], rec["volume"], rec["issue"], rec["pages"]) == (2012, "367", "21", "1979-87")
    assert rec["authors"][0] == "Brighton TA"
    assert "Aspirin*" in rec["mesh"]


def test_ketamine_review_doi_is_its_own_not_a_reference():
    rec = one("efetch_pubmed_2025_ketamine_review_38011560_referencelist.xml")
    assert rec["pmid"] == "38011560"
    # The file holds 226 references with their own ArticleIdLists; the record's DOI is this one.
    assert rec["doi"] == "10.1073/pnas.2305772120"
    assert rec["pmcid"] == "PMC10710048"
    assert rec["pub_types"] == ["Review", "Journal Article"]
    assert rec["mesh"] == ["Ketamine*", "Depression", "Antidepressive Agents"]
    assert rec["keywords"] == ["antidepressant", "depression", "ketamine", "neuroplasticity", "stress"]
    assert (rec["year"], rec["volume"], rec["issue"], rec["pages"]) == (2023, "120", "49", "e2305772120")
    assert rec["authors"][0] == "Krystal JH"
    assert "\n" not in rec["abstract"]  # unlabelled abstract: one section, no label
    assert rec["nct_ids"] == []


def test_book_article():
    rec = one("efetch_pubmed_2025_book_article_20301577.xml")
    assert rec["pmid"] == "20301577"
    assert rec["record_type"] == "book"
    assert rec["title"] == "CACNA1C-Related Disorders"  # inline <i> flattened
    assert rec["journal"] == "GeneReviews\u00ae"  # <sup>&#174;</sup> kept as text
    assert rec["year"] == 1993
    assert rec["authors"] == ["Napolitano C", "Priori SG"]  # authors, not the book's editors
    assert rec["pub_types"] == ["Review"]
    assert rec["mesh"] == []
    assert rec["doi"] is None and rec["pmcid"] is None
    labels = [line.split(":", 1)[0] for line in rec["abstract"].split("\n")]
    assert labels == ["CLINICAL CHARACTERISTICS", "DIAGNOSIS/TESTING", "MANAGEMENT", "GENETIC COUNSELING"]
    assert rec["keywords"][0] == "Timothy Syndrome" and rec["keywords"].count("Timothy Syndrome") == 1
    assert len(rec["keywords"]) == 8


def test_medline_and_not_medline_without_mesh():
    recs = by_pmid("efetch_pubmed_2025_medline_and_not_medline_no_mesh.xml")
    assert list(recs) == ["11748933", "11700088"]
    medline, not_medline = recs["11748933"], recs["11700088"]
    assert medline["doi"] == "10.1006/cryo.2001.2328"
    assert len(medline["mesh"]) == 11 and "Cryopreservation*" in medline["mesh"]
    assert not_medline["mesh"] == []
    assert not_medline["doi"] == "10.1006/jmre.2001.2429"
    assert not_medline["abstract"]
    assert (not_medline["year"], not_medline["volume"], not_medline["pages"]) == (2001, "153", "117-23")


def test_no_abstract_and_kie_keywords():
    recs = by_pmid("efetch_pubmed_2025_no_abstract_kie_generalnote.xml")
    kie = recs["12091962"]
    assert kie["abstract"] is None
    assert kie["doi"] is None
    assert kie["keywords"] == ["Health Care and Public Health", "Legal Approach"]
    assert kie["year"] == 1990  # PubDate with Year + Season
    assert "United States" in kie["mesh"]  # the Type="Geographic" heading
    old = recs["9997"]
    assert old["doi"] == "10.1016/0005-2795(76)90109-4"
    assert (old["year"], old["volume"], old["issue"], old["pages"]) == (1976, "446", "1", "179-91")


def test_pmid_1_record():
    rec = one("efetch_pubmed_2024_request_id_minus1_returns_pmid1.xml")
    assert rec["pmid"] == "1"
    assert rec["abstract"] is None
    assert rec["doi"] == "10.1016/0006-2944(75)90147-7"
    assert rec["year"] == 1975


def test_html_page_is_a_clear_error():
    path = FIXTURES / "http301_efetch_http_scheme_redirect.html"
    with pytest.raises(MedlineParseError, match="http301_efetch_http_scheme_redirect.html: not well-formed XML"):
        list(parse_medline(path))


@pytest.mark.parametrize("name", ["epost_pubmed_2025_error_invalid_ids.xml", "esearch_pubmed_2024_rettype_count.xml"])
def test_other_eutils_answers_are_rejected_by_root(name):
    with pytest.raises(MedlineParseError, match=r"root element is <e(Post|Search)Result>"):
        list(parse_medline(FIXTURES / name))


def test_medline_date_delete_citation_and_text_nct(tmp_path):
    # Hand-made test input (not real records): MedlineDate, DeleteCitation, an NCT id only in the title.
    path = tmp_path / "made_up.xml"
    path.write_text(
        "<PubmedArticleSet>"
        "<PubmedArticle><MedlineCitation><PMID>123</PMID><Article><Journal><JournalIssue>"
        "<PubDate><MedlineDate>1998 Dec-1999 Jan</MedlineDate></PubDate></JournalIssue>"
        "<Title>Test Journal</Title></Journal><ArticleTitle>Trial NCT01234567 and NCT0123456 (too short)"
        "</ArticleTitle><Pagination><StartPage>5</StartPage><EndPage>9</EndPage></Pagination>"
        "<ELocationID EIdType=\"doi\" ValidYN=\"Y\">10.9999/test.1</ELocationID>"
        "<AuthorList><Author><CollectiveName>Test Group</CollectiveName></Author></AuthorList>"
        "<Language>eng</Language><Language>FRE</Language>"
        "</Article><MeshHeadingList><MeshHeading><DescriptorName MajorTopicYN=\"N\">Ketamine</DescriptorName>"
        "<QualifierName MajorTopicYN=\"Y\">therapeutic use</QualifierName></MeshHeading></MeshHeadingList>"
        "</MedlineCitation><PubmedData/></PubmedArticle>"
        "<DeleteCitation><PMID>5</PMID><PMID>7</PMID></DeleteCitation>"
        "</PubmedArticleSet>"
    )
    recs = list(parse_medline(path))
    art = recs[0]
    assert art["year"] == 1998
    assert art["nct_ids"] == ["NCT01234567"]
    assert art["pages"] == "5-9"
    assert art["doi"] == "10.9999/test.1"  # ELocationID fallback
    assert art["authors"] == ["Test Group"]
    assert art["language"] == "eng|fre"
    assert art["mesh"] == ["Ketamine*"]  # major via its qualifier
    assert [(r["pmid"], r["record_type"], r["title"]) for r in recs[1:]] == [("5", "delete", None), ("7", "delete", None)]


def test_truncated_file_names_file_and_line(tmp_path):
    src = (FIXTURES / "efetch_pubmed_2025_medline_and_not_medline_no_mesh.xml").read_bytes()
    path = tmp_path / "cut.xml"
    path.write_bytes(src[: int(len(src) * 0.7)])
    with pytest.raises(MedlineParseError, match=r"cut\.xml: not well-formed XML.*line"):
        list(parse_medline(path))


def test_entities_are_not_resolved(tmp_path):
    # An external entity must not be read (XXE): the parser neither loads the DTD nor resolves it.
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    path = tmp_path / "xxe.xml"
    path.write_text(
        f'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>9</PMID><Article>"
        "<ArticleTitle>A &x; B</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"
    )
    (rec,) = list(parse_medline(path))
    assert "SECRET" not in (rec["title"] or "")
