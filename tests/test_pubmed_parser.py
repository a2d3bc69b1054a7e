"""evsynth.pubmed.parse_medline: the project's own EFetch fixtures, then the captured real responses.

``tests/fixtures/entrez`` holds invented records in NCBI's formats (see its README); the tests marked
``shared_fixtures`` replay the real responses in ``../shared/fixtures/entrez`` and are skipped (with
one line) in a clone that lacks that folder.
"""

from __future__ import annotations

import pytest
from eutils_stub import OWN_FIXTURES, SHARED_FIXTURES

from evsynth.pubmed import RECORD_FIELDS, MedlineParseError, parse_medline
from evsynth.parsers.medline_xml import find_invalid_utf8, pmids_in_file

OWN_EFETCH = sorted(OWN_FIXTURES.glob("efetch_*.xml"))
SHARED_EFETCH = [  # listed, not globbed: the parameter set is the same with or without ../shared
    "efetch_pubmed_2016_rct_databank_empty_abstracttext_22078490.xml",
    "efetch_pubmed_2017_rct_databank_two_nct_structured_abstract_22327499.xml",
    "efetch_pubmed_2024_rct_multicenter_structured_abstract_23121403.xml",
    "efetch_pubmed_2024_request_id_minus1_returns_pmid1.xml",
    "efetch_pubmed_2025_book_article_20301577.xml",
    "efetch_pubmed_2025_ketamine_review_38011560_referencelist.xml",
    "efetch_pubmed_2025_medline_and_not_medline_no_mesh.xml",
    "efetch_pubmed_2025_no_abstract_kie_generalnote.xml",
]
shared = pytest.mark.shared_fixtures


def by_pmid(path) -> dict[str, dict]:
    return {r["pmid"]: r for r in parse_medline(path)}


def own(name: str) -> dict[str, dict]:
    return by_pmid(OWN_FIXTURES / name)


def real(name: str) -> dict:
    records = list(parse_medline(SHARED_FIXTURES / name))
    assert len(records) == 1
    return records[0]


# -- the project's own fixtures ---------------------------------------------------------------
def test_every_own_efetch_fixture_is_covered():
    # A new fixture must be added to the expectations below.
    assert [p.name for p in OWN_EFETCH] == [
        "efetch_answer_to_id_minus1_pmid1.xml", "efetch_book_article.xml", "efetch_error_inside_http_200.xml",
        "efetch_indented_2017_layout_empty_section.xml", "efetch_no_abstract_and_no_mesh.xml",
        "efetch_rct_structured_abstract_databank_three_nct.xml", "efetch_update_file_delete_citation.xml"]
    pmids = sorted((r["pmid"] for p in OWN_EFETCH if "error" not in p.name for r in parse_medline(p)), key=int)
    assert pmids == ["1", *(str(90100001 + i) for i in range(9))]


@pytest.mark.parametrize("path", [p for p in OWN_EFETCH if "error" not in p.name], ids=lambda p: p.name)
def test_every_record_has_the_full_key_set(path):
    for rec in parse_medline(path):
        assert tuple(rec) == RECORD_FIELDS
        assert rec["source_db"] == "pubmed" and rec["pmid"].isdigit()
        for key in ("authors", "pub_types", "mesh", "keywords", "nct_ids"):
            assert isinstance(rec[key], list)


def test_structured_abstract_and_three_nct_ids_in_one_databank():
    rec = own("efetch_rct_structured_abstract_databank_three_nct.xml")["90100001"]
    # DataBank: three accession numbers; a fourth id only in the abstract; the ISRCTN bank is not ClinicalTrials.gov.
    assert rec["nct_ids"] == ["NCT90100011", "NCT90100012", "NCT90100013", "NCT90100014"]
    sections = rec["abstract"].split("\n")
    assert [s.split(":", 1)[0] for s in sections] == ["BACKGROUND AND OBJECTIVES", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert sections[1] == "METHODS: Invented text with markup: n = 40 and H2O < 5 units."  # inline markup flattened
    assert "copyright" not in rec["abstract"].lower()
    assert rec["pub_types"] == ["Randomized Controlled Trial", "Journal Article", "Multicenter Study"]  # file order
    assert rec["mesh"] == ["Adult", "Depressive Disorder, Treatment-Resistant*", "Double-Blind Method", "Humans",
                           "Ketamine*", "Midazolam"]  # Ketamine* through its qualifier's MajorTopicYN
    assert rec["authors"] == ["Fixture AB", "van der Probe C", "Müller-Teßt D", "Invented Ketamine Fixture Study Group"]
    assert rec["keywords"] == ["ketamine", "rapid-acting antidepressant"]  # repeated keyword once
    assert rec["journal"] == "Invented journal of psychiatry & fixture tests"  # &amp; decoded
    assert (rec["doi"], rec["pmcid"]) == ("10.9999/evsynth.fixture.1", "PMC90100001")
    assert (rec["year"], rec["volume"], rec["issue"], rec["pages"], rec["language"]) == (2024, "31", "4", "401-409", "eng")
    assert rec["record_type"] == "article"


def test_not_medline_without_mesh_and_doi_from_elocation_not_references():
    rec = own("efetch_rct_structured_abstract_databank_three_nct.xml")["90100002"]
    assert rec["mesh"] == []
    assert rec["doi"] == "10.9999/evsynth.fixture.2"  # ELocationID; the ReferenceList's DOIs are not the record's
    assert rec["pmcid"] is None  # nor its PMC ids
    assert rec["year"] == 2023  # MedlineDate "2023 Nov-Dec"
    assert (rec["volume"], rec["issue"], rec["pages"]) == ("9", None, "e1002")
    assert rec["abstract"] == "Invented unlabelled abstract in one section, written for parser tests only."


def test_indented_2017_layout_with_empty_section():
    (rec,) = own("efetch_indented_2017_layout_empty_section.xml").values()
    assert rec["pmid"] == "90100003"
    assert rec["abstract"].split("\n") == [
        "BACKGROUND: Invented text, wrapped over two lines in the file.",  # whitespace collapsed
        "METHODS:",  # the self-closing <AbstractText Label="METHODS" .../>
        "DISCUSSION: Invented text.",
        "TRIAL REGISTRATION: ClinicalTrial.gov, number NCT90100031. Registered 1 January 2017.",  # UNASSIGNED
    ]
    assert rec["language"] == "eng"  # written ENG
    assert rec["nct_ids"] == ["NCT90100031"]  # DataBank and text agree: one id
    assert (rec["doi"], rec["pmcid"], rec["pages"], rec["issue"]) == ("10.9999/evsynth.fixture.3", "PMC90100003", "112", None)
    assert rec["mesh"] == ["Humans", "Ketamine*"]


def test_records_without_abstract_or_mesh():
    recs = own("efetch_no_abstract_and_no_mesh.xml")
    kie, letter = recs["90100004"], recs["90100005"]
    assert kie["abstract"] is None
    assert kie["mesh"] == ["Humans", "Informed Consent*", "United States"]  # the Geographic heading too
    assert kie["keywords"] == ["Invented Keyword One", "Invented Keyword Two"]
    assert kie["year"] == 1997  # Year + Season
    assert (letter["abstract"], letter["mesh"], letter["pages"], letter["volume"]) == (None, [], None, None)
    assert letter["doi"] is None  # the only DOI is ValidYN="N"
    assert letter["language"] == "ger|eng"
    assert letter["authors"] == ["Letterwriter K"]


def test_book_article():
    (rec,) = own("efetch_book_article.xml").values()
    assert (rec["pmid"], rec["record_type"]) == ("90100006", "book")
    assert rec["title"] == "Invented-Ketamine Chapter for Fixtures"  # <i> flattened
    assert rec["journal"] == "Invented Reviews\u00ae"  # <sup>&#xae;</sup> kept as text
    assert rec["authors"] == ["Chapterwriter A", "Second B"]  # the chapter's authors, not the book's editors
    assert (rec["year"], rec["pub_types"], rec["mesh"]) == (2001, ["Review"], [])
    assert rec["doi"] is None and rec["pmcid"] is None  # the reference's PMC id is not the chapter's
    assert rec["abstract"] == "CLINICAL CHARACTERISTICS: Invented text with italic markup.\nMANAGEMENT: Invented text."
    assert rec["keywords"] == ["Invented Syndrome", "INV1"]


def test_update_file_with_delete_citation():
    recs = list(parse_medline(OWN_FIXTURES / "efetch_update_file_delete_citation.xml"))
    assert [(r["pmid"], r["record_type"]) for r in recs] == [
        ("90100007", "article"), ("90100008", "delete"), ("90100009", "delete")]
    assert all(r["title"] is None and r["authors"] == [] for r in recs[1:])
    assert recs[0]["pub_types"] == ["Journal Article", "Comparative Study"] and recs[0]["pages"] == "77-8"


def test_answer_to_id_minus_1_is_pmid_1():
    assert pmids_in_file(OWN_FIXTURES / "efetch_answer_to_id_minus1_pmid1.xml") == ["1"]


def test_html_page_is_a_clear_error():
    with pytest.raises(MedlineParseError, match=r"html_301_moved_permanently\.html: not well-formed XML"):
        list(parse_medline(OWN_FIXTURES / "html_301_moved_permanently.html"))


@pytest.mark.parametrize("name, root", [
    ("efetch_error_inside_http_200.xml", "eFetchResult"),
    ("esearch_error_inside_http_200.xml", "eSearchResult"),
    ("esearch_rettype_count.xml", "eSearchResult"),
])
def test_other_eutils_answers_are_rejected_by_root(name, root):
    with pytest.raises(MedlineParseError, match=rf"{name}: root element is <{root}>, expected <PubmedArticleSet>"):
        list(parse_medline(OWN_FIXTURES / name))


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
    src = (OWN_FIXTURES / "efetch_no_abstract_and_no_mesh.xml").read_bytes()
    path = tmp_path / "cut.xml"
    path.write_bytes(src[: int(len(src) * 0.7)])
    with pytest.raises(MedlineParseError, match=r"cut\.xml: not well-formed XML.*line"):
        list(parse_medline(path))


def test_latin1_byte_and_empty_file_name_the_file(tmp_path):
    src = (OWN_FIXTURES / "efetch_book_article.xml").read_bytes()
    latin1 = tmp_path / "latin1.xml"
    latin1.write_bytes(src.replace(b"Chapterwriter", b"Chapterwr\xefter"))  # Latin-1 i-diaeresis, not UTF-8
    offset = src.index(b"Chapterwriter") + len(b"Chapterwr")
    with pytest.raises(MedlineParseError, match=rf"latin1\.xml: line 4: byte 0xEF at offset {offset} is not UTF-8"):
        list(parse_medline(latin1))
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    with pytest.raises(MedlineParseError, match=r"empty\.xml: "):
        list(parse_medline(empty))


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 1 << 20])
def test_find_invalid_utf8_across_chunk_boundaries(tmp_path, chunk_size):
    path = tmp_path / "t.txt"
    path.write_bytes("Gr\u00fc\u00dfe \u20ac\n\U0001f600 ok\n".encode())  # 2-, 3- and 4-byte sequences
    assert find_invalid_utf8(path, chunk_size) is None
    path.write_bytes("\u00e9t\u00e9\nline two\nM\u00fcller ".encode() + b"M\xfcller\n")
    assert find_invalid_utf8(path, chunk_size) == (len("\u00e9t\u00e9\nline two\nM\u00fcller M".encode()), 3, 0xFC)
    path.write_bytes(b"ok\n\xe2\x82")  # a 3-byte sequence cut off by the end of the file
    assert find_invalid_utf8(path, chunk_size) == (3, 2, 0xE2)


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


# -- replay of the captured real responses (../shared) -------------------------------------------
@shared
def test_every_shared_efetch_fixture_is_covered():
    assert sorted(p.name for p in SHARED_FIXTURES.glob("efetch_pubmed_*.xml")) == SHARED_EFETCH
    pmids = sorted((r["pmid"] for name in SHARED_EFETCH for r in parse_medline(SHARED_FIXTURES / name)), key=int)
    assert pmids == ["1", "9997", "11700088", "11748933", "12091962", "20301577",
                     "22078490", "22327499", "23121403", "38011560"]


@shared
@pytest.mark.parametrize("name", SHARED_EFETCH)
def test_every_real_record_has_the_full_key_set(name):
    for rec in parse_medline(SHARED_FIXTURES / name):
        assert tuple(rec) == RECORD_FIELDS
        assert rec["source_db"] == "pubmed"
        assert rec["pmid"].isdigit()
        for key in ("authors", "pub_types", "mesh", "keywords", "nct_ids"):
            assert isinstance(rec[key], list)


@shared
def test_real_two_nct_ids_in_one_databank_and_structured_abstract():
    rec = real("efetch_pubmed_2017_rct_databank_two_nct_structured_abstract_22327499.xml")
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


@shared
def test_real_empty_labelled_section_upper_case_language_pmc_and_databank():
    rec = real("efetch_pubmed_2016_rct_databank_empty_abstracttext_22078490.xml")
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


@shared
def test_real_compact_2024_rct_without_databank():
    rec = real("efetch_pubmed_2024_rct_multicenter_structured_abstract_23121403.xml")
    assert rec["pmid"] == "23121403"
    assert rec["doi"] == "10.1056/NEJMoa1210384"
    assert rec["nct_ids"] == []
    assert [line.split(":", 1)[0] for line in rec["abstract"].split("\n")] == [
        "BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert (rec["year"], rec["volume"], rec["issue"], rec["pages"]) == (2012, "367", "21", "1979-87")
    assert rec["authors"][0] == "Brighton TA"
    assert "Aspirin*" in rec["mesh"]


@shared
def test_real_ketamine_review_doi_is_its_own_not_a_reference():
    rec = real("efetch_pubmed_2025_ketamine_review_38011560_referencelist.xml")
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


@shared
def test_real_book_article():
    rec = real("efetch_pubmed_2025_book_article_20301577.xml")
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


@shared
def test_real_medline_and_not_medline_without_mesh():
    recs = by_pmid(SHARED_FIXTURES / "efetch_pubmed_2025_medline_and_not_medline_no_mesh.xml")
    assert list(recs) == ["11748933", "11700088"]
    medline, not_medline = recs["11748933"], recs["11700088"]
    assert medline["doi"] == "10.1006/cryo.2001.2328"
    assert len(medline["mesh"]) == 11 and "Cryopreservation*" in medline["mesh"]
    assert not_medline["mesh"] == []
    assert not_medline["doi"] == "10.1006/jmre.2001.2429"
    assert not_medline["abstract"]
    assert (not_medline["year"], not_medline["volume"], not_medline["pages"]) == (2001, "153", "117-23")


@shared
def test_real_no_abstract_and_kie_keywords():
    recs = by_pmid(SHARED_FIXTURES / "efetch_pubmed_2025_no_abstract_kie_generalnote.xml")
    kie = recs["12091962"]
    assert kie["abstract"] is None
    assert kie["doi"] is None
    assert kie["keywords"] == ["Health Care and Public Health", "Legal Approach"]
    assert kie["year"] == 1990  # PubDate with Year + Season
    assert "United States" in kie["mesh"]  # the Type="Geographic" heading
    old = recs["9997"]
    assert old["doi"] == "10.1016/0005-2795(76)90109-4"
    assert (old["year"], old["volume"], old["issue"], old["pages"]) == (1976, "446", "1", "179-91")


@shared
def test_real_pmid_1_record():
    rec = real("efetch_pubmed_2024_request_id_minus1_returns_pmid1.xml")
    assert rec["pmid"] == "1"
    assert rec["abstract"] is None
    assert rec["doi"] == "10.1016/0006-2944(75)90147-7"
    assert rec["year"] == 1975


@shared
def test_real_html_page_and_other_answers_are_clear_errors():
    with pytest.raises(MedlineParseError, match="http301_efetch_http_scheme_redirect.html: not well-formed XML"):
        list(parse_medline(SHARED_FIXTURES / "http301_efetch_http_scheme_redirect.html"))
    for name in ("epost_pubmed_2025_error_invalid_ids.xml", "esearch_pubmed_2024_rettype_count.xml"):
        with pytest.raises(MedlineParseError, match=r"root element is <e(Post|Search)Result>"):
            list(parse_medline(SHARED_FIXTURES / name))
