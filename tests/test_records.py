"""evsynth.records: MEDLINE text / RIS import, the records table and CSV, cross-source duplicates.

Inputs are invented (``tests/data/records``, ``tests/fixtures/entrez``); the test marked
``shared_fixtures`` also parses the captured real EFetch responses in ``../shared/fixtures/entrez``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from eutils_stub import OWN_FIXTURES, SHARED_FIXTURES

from evsynth.cli import main as evsynth_main
from evsynth.dedup import find_duplicates, normalise_doi, normalise_title
from evsynth.records import (
    COLUMNS,
    RecordsInputError,
    read_nbib,
    read_records,
    read_ris,
    records_table,
    write_records_csv,
)

DATA = Path(__file__).resolve().parent / "data" / "records"  # invented records, see its README
PUBMED_XML = OWN_FIXTURES / "efetch_indented_2017_layout_empty_section.xml"  # one record, PMID 90100003
INVENTED = sorted(DATA.glob("invented_*"))
OWN_EFETCH = sorted(p for p in OWN_FIXTURES.glob("efetch_*.xml") if "error" not in p.name)


def all_records():
    return [rec for path in [*INVENTED, PUBMED_XML] for rec in read_records(path)]


def test_nbib_fields():
    one, two = read_nbib(DATA / "invented_pubmed.nbib")
    assert one["record_id"] == "pubmed:90000001" and one["source_db"] == "pubmed"
    assert one["title"].endswith("to test the MEDLINE reader.")  # continuation line joined
    assert one["doi"] == "10.9999/evsynth.test.1" and one["pmcid"] == "PMC9000001"
    assert one["year"] == 2019 and (one["volume"], one["issue"], one["pages"]) == ("12", "3", "101-9")
    assert one["authors"] == ["Tester AB", "Example C"]
    assert one["mesh"] == ["Depressive Disorder*", "Humans", "Ketamine*"]
    assert one["nct_ids"] == ["NCT90000001", "NCT90000002"]  # SI databank + abstract text
    assert one["pub_types"] == ["Journal Article", "Randomized Controlled Trial"]
    assert one["language"] == "eng"
    assert (two["abstract"], two["mesh"], two["doi"], two["year"], two["language"]) == (None, [], None, 2021, "eng")


def test_ris_fields_embase():
    first, second, third = read_ris(DATA / "invented_embase.ris")
    assert first["source_db"] == "embase" and first["record_id"] == "embase:L900000001"
    assert first["doi"] == "10.9999/EVSYNTH.TEST.1"  # as exported, https://doi.org/ removed
    assert first["authors"] == ["Tester AB", "Example C"]
    assert (first["year"], first["volume"], first["issue"], first["pages"]) == (2019, "12", "3", "101-109")
    assert first["keywords"] == ["ketamine", "depression"] and first["pub_types"] == ["Article"]
    assert first["pmid"] is None  # nothing names a PMID
    assert second["doi"] == "10.9999/EVSYNTH.FIXTURE.3"
    assert third["nct_ids"] == ["NCT90000003"]


def test_ris_crlf_and_source_from_file_name():
    psyc = list(read_ris(DATA / "invented_psycinfo.ris"))
    assert [r["source_db"] for r in psyc] == ["psycinfo", "psycinfo"]
    assert psyc[0]["title"].endswith("used only to test the MEDLINE reader!")
    assert psyc[0]["authors"] == ["Tester AB"] and psyc[0]["journal"] == "Invented journal of format tests"
    (central,) = read_ris(DATA / "invented_central.ris")
    assert central["source_db"] == "cochrane_central"  # no DB tag: from the file name
    assert central["pmid"] == "90000002"  # "PMID: 90000002"
    assert central["record_id"] == "cochrane_central:CN-90000001"
    (named,) = read_ris(DATA / "invented_central.ris", source_db="central_2026")
    assert named["source_db"] == "central_2026"


@pytest.mark.parametrize("name, message", [
    ("bad_missing_er.ris", r"bad_missing_er\.ris: line 4: record has no closing 'ER  - '"),
    ("bad_orphan_line.ris", r"bad_orphan_line\.ris: line 1: not an RIS line \('XX  - value'\), outside a record$"),
    # stray text after an author line, HTML in the abstract: rejected, never merged into the fields
    ("bad_garbage_in_record.ris",
     r"bad_garbage_in_record\.ris: line 4: not an RIS line \('XX  - value'\), inside the record of line 1$"),
])
def test_bad_ris_names_file_and_line(name, message):
    with pytest.raises(RecordsInputError, match=message):
        list(read_ris(DATA / name))


def test_ris_html_line_inside_a_record_is_rejected(tmp_path):
    src = (DATA / "bad_garbage_in_record.ris").read_text().replace("ARG\n", "")
    (tmp_path / "html.ris").write_text(src)
    with pytest.raises(RecordsInputError, match=r"html\.ris: line 5: not an RIS line .*inside the record of line 1"):
        list(read_ris(tmp_path / "html.ris"))


def test_bad_nbib_and_unknown_inputs(tmp_path):
    no_pmid = tmp_path / "x.nbib"
    no_pmid.write_text("PMID- 5\nTI  - Invented\n\nTI  - Invented record without PMID\n")
    with pytest.raises(RecordsInputError, match=r"x\.nbib: record 2 \(line 4\): missing or invalid PMID"):
        list(read_nbib(no_pmid))
    (tmp_path / "y.nbib").write_text("<xml/>\n")
    with pytest.raises(RecordsInputError, match=r"y\.nbib: line 1: not a MEDLINE line"):
        list(read_nbib(tmp_path / "y.nbib"))
    (tmp_path / "blank.nbib").write_text("\n\n")
    with pytest.raises(RecordsInputError, match=r"blank\.nbib: no MEDLINE records"):
        list(read_nbib(tmp_path / "blank.nbib"))
    (tmp_path / "lead.nbib").write_text("      continuation before any field\nPMID- 5\n")
    with pytest.raises(RecordsInputError, match=r"lead\.nbib: line 1: continuation line \(six spaces\) outside a field"):
        list(read_nbib(tmp_path / "lead.nbib"))
    (tmp_path / "z.csv").write_text("a,b\n")
    with pytest.raises(RecordsInputError, match=r"z\.csv: unknown input type '\.csv'"):
        list(read_records(tmp_path / "z.csv"))
    page = tmp_path / "page.xml"  # an HTTP 301 HTML page saved under an .xml name
    page.write_bytes((OWN_FIXTURES / "html_301_moved_permanently.html").read_bytes())
    with pytest.raises(RecordsInputError, match=r"page\.xml: not well-formed XML"):
        list(read_records(page))


def test_nbib_stray_line_inside_a_record_names_file_and_line():
    with pytest.raises(RecordsInputError, match=r"bad_orphan_line\.nbib: line 3: not a MEDLINE line \('TAG - value'"):
        list(read_nbib(DATA / "bad_orphan_line.nbib"))


def test_latin1_byte_names_file_line_offset_and_value(tmp_path):
    src = (DATA / "bad_latin1.nbib").read_bytes()
    offset = src.index(b"\xfc")
    with pytest.raises(RecordsInputError,
                       match=rf"bad_latin1\.nbib: line 3: byte 0xFC at offset {offset} is not UTF-8 .*Latin-1") as info:
        list(read_records(DATA / "bad_latin1.nbib"))
    assert "\n" not in str(info.value)
    ris = (DATA / "invented_embase.ris").read_bytes().replace(b"Tester, Alice", b"T\xe9ster, Alice")
    (tmp_path / "latin1.ris").write_bytes(b"\xef\xbb\xbf" + ris)  # BOM, then a Latin-1 byte on line 5
    offset = ris.index(b"\xe9") + 3
    with pytest.raises(RecordsInputError, match=rf"latin1\.ris: line 5: byte 0xE9 at offset {offset} "):
        list(read_ris(tmp_path / "latin1.ris"))


@pytest.mark.parametrize("name", [p.name for p in INVENTED])
def test_bom_and_crlf_read_identically(tmp_path, name):
    lf = (DATA / name).read_bytes().replace(b"\r\n", b"\n")
    expected = list(read_records(DATA / name))
    assert expected
    variants = {"lf": lf, "crlf": lf.replace(b"\n", b"\r\n"), "bom": b"\xef\xbb\xbf" + lf,
                "bom_crlf": b"\xef\xbb\xbf" + lf.replace(b"\n", b"\r\n")}
    for label, data in variants.items():
        path = tmp_path / label / name
        path.parent.mkdir()
        path.write_bytes(data)
        assert list(read_records(path)) == expected, label


def test_records_table_shape_and_order():
    df = records_table(all_records())
    assert list(df.columns) == COLUMNS
    assert df["record_id"].is_unique
    pubmed = df[df["source_db"] == "pubmed"]
    assert pubmed["pmid"].tolist() == ["90000001", "90000002", "90100003"]  # numeric order
    xml = df.set_index("record_id").loc["pubmed:90100003"]
    assert xml["mesh"] == "Humans|Ketamine*"
    assert xml["pub_types"] == "Randomized Controlled Trial|Journal Article"
    assert xml["year"] == 2017 and xml["doi"] == "10.9999/evsynth.fixture.3"
    assert xml["source_file"] == PUBMED_XML.name
    assert str(df["year"].dtype) == "Int64"


def test_records_table_delete_and_replacement():
    recs = list(read_records(OWN_FIXTURES / "efetch_rct_structured_abstract_databank_three_nct.xml"))
    newer = dict(recs[0], title="Invented corrected title")
    delete = dict(recs[1], record_type="delete")
    df = records_table([*recs, newer, delete])
    assert df["pmid"].tolist() == ["90100001"]
    assert df["title"].tolist() == ["Invented corrected title"]


def test_csv_bytes_are_deterministic(tmp_path):
    recs = all_records()
    write_records_csv(records_table(recs), tmp_path / "a.csv")
    write_records_csv(records_table(list(reversed(recs))), tmp_path / "b.csv")
    a = (tmp_path / "a.csv").read_bytes()
    assert a == (tmp_path / "b.csv").read_bytes()
    assert b"\r\n" not in a
    rows = list(csv.DictReader(io.StringIO(a.decode())))
    assert list(rows[0]) == COLUMNS and len(rows) == 9
    by_id = {r["record_id"]: r for r in rows}
    assert by_id["pubmed:90000001"]["year"] == "2019"  # not 2019.0
    assert by_id["pubmed:90000002"]["doi"] == ""
    assert by_id["pubmed:90000001"]["nct_ids"] == "NCT90000001|NCT90000002"
    assert not list(tmp_path.glob(".*.tmp"))


def test_normalisation():
    assert normalise_doi(" https://doi.org/10.9999/ABC.1 ") == "10.9999/abc.1"
    assert normalise_doi("http://dx.doi.org/10.9999/X") == "10.9999/x"
    assert normalise_doi("doi:10.9999/X") == "10.9999/x"
    assert normalise_doi("") is None
    assert normalise_title("Ketamine: a Trial — Part 2!") == normalise_title("ketamine A trial part 2") == "ketamineatrialpart2"
    assert normalise_title("Étude") == "etude"
    assert normalise_title("...") is None


def test_duplicates_across_sources():
    dedup = find_duplicates(records_table(all_records())).set_index("record_id")
    assert len(dedup) == 9
    expect = {
        "cochrane_central:CN-90000001": (False, "pmid", "pubmed:90000002"),
        "embase:L900000001": (False, "doi", "pubmed:90000001"),  # DOI differs only by case and prefix
        "embase:L900000002": (False, "doi", "pubmed:90100003"),
        "psycinfo:2019-90001-001": (False, "title", "pubmed:90000001"),  # punctuation/case-only title difference
        "embase:L900000003": (True, "", ""),
        "psycinfo:2015-90002-002": (True, "", ""),  # same title, different year: kept apart
        "pubmed:90100003": (True, "", ""),
        "pubmed:90000001": (True, "", ""),
        "pubmed:90000002": (True, "", ""),
    }
    for rid, (kept, match, to) in expect.items():
        row = dedup.loc[rid]
        assert (bool(row["kept"]), row["match"], row["matched_to"]) == (kept, match, to), rid
    assert dedup.loc["embase:L900000001", "group"] == "pubmed:90000001"
    assert dedup.loc["pubmed:90000001", "reason"] == "kept: PubMed record"
    assert dedup.loc["embase:L900000003", "reason"] == "only record"
    assert dedup.loc["cochrane_central:CN-90000001", "reason"] == "duplicate: same pmid as pubmed:90000002"


def test_duplicates_without_pubmed_keep_the_most_complete():
    recs = [r for r in read_ris(DATA / "invented_embase.ris")] + list(read_ris(DATA / "invented_psycinfo.ris"))
    dedup = find_duplicates(records_table(recs)).set_index("record_id")
    # Embase L900000001 has DOI, authors, year, journal; the 2019 PsycINFO copy has fewer fields.
    assert bool(dedup.loc["embase:L900000001", "kept"])
    assert dedup.loc["psycinfo:2019-90001-001", "matched_to"] == "embase:L900000001"
    assert dedup.loc["embase:L900000001", "reason"] == "kept: most complete record"


def test_cli_parse(tmp_path, capsys):
    out, dedup = tmp_path / "records.csv", tmp_path / "dedup.csv"
    code = evsynth_main(["parse", "--out", str(out), "--dedup-out", str(dedup), *map(str, OWN_EFETCH),
                         str(DATA / "invented_pubmed.nbib")])
    assert code == 0
    df = pd.read_csv(out, dtype=str)
    # 8 EFetch records (the two DeleteCitation PMIDs were never present) + 2 MEDLINE-text records
    assert len(df) == 10 and list(df.columns) == COLUMNS
    assert df.set_index("pmid").loc["90100001", "nct_ids"] == "NCT90100011|NCT90100012|NCT90100013|NCT90100014"
    assert df.set_index("pmid").loc["90100006", "record_type"] == "book"
    assert len(pd.read_csv(dedup)) == 10


@pytest.mark.shared_fixtures
def test_cli_parse_captured_responses(tmp_path, capsys):
    out = tmp_path / "records.csv"
    efetch = sorted(SHARED_FIXTURES.glob("efetch_pubmed_*.xml"))
    code = evsynth_main(["parse", "--out", str(out), *map(str, efetch), str(DATA / "invented_pubmed.nbib")])
    assert code == 0
    df = pd.read_csv(out, dtype=str)
    assert len(df) == 12 and list(df.columns) == COLUMNS
    assert df.set_index("pmid").loc["22327499", "nct_ids"] == "NCT00289757|NCT00291876"
    assert df.set_index("pmid").loc["20301577", "record_type"] == "book"
    assert df.set_index("pmid").loc["38011560", "doi"] == "10.1073/pnas.2305772120"


def test_cli_parse_error_writes_nothing(tmp_path, capsys):
    out = tmp_path / "records.csv"
    code = evsynth_main(["parse", "--out", str(out), str(DATA / "invented_embase.ris"), str(DATA / "bad_missing_er.ris")])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("evsynth parse: error: ") and "bad_missing_er.ris: line 4" in err
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("name, where", [
    ("bad_latin1.nbib", "bad_latin1.nbib: line 3: byte 0xFC at offset"),
    ("bad_orphan_line.nbib", "bad_orphan_line.nbib: line 3: not a MEDLINE line"),
    ("bad_garbage_in_record.ris", "bad_garbage_in_record.ris: line 4: not an RIS line"),
])
def test_cli_parse_bad_text_exports_are_one_line(tmp_path, capsys, name, where):
    out = tmp_path / "records.csv"
    code = evsynth_main(["parse", "--out", str(out), str(DATA / "invented_pubmed.nbib"), str(DATA / name)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("evsynth parse: error: ") and where in err
    assert "Traceback" not in err and not out.exists()
