"""The frozen snapshot: built from bibliography.csv, read back by the MEDLINE parser, no abstracts."""

import csv
import json
from pathlib import Path

import pytest

from evsynth.pubmed import parse_medline
from evsynth.snapshot import BIBLIOGRAPHY_COLUMNS, build_snapshot, read_bibliography

ROOT = Path(__file__).resolve().parents[1]
PUBMED = ROOT / "data" / "raw" / "pubmed"


def test_shipped_snapshot_matches_bibliography_and_search():
    search = json.loads((PUBMED / "search.json").read_text())
    bib = read_bibliography(PUBMED / "bibliography.csv")
    parsed = list(parse_medline(PUBMED / "snapshot.xml"))
    assert [r["pmid"] for r in parsed] == [b["pmid"] for b in bib] == search["pmids"]
    assert search["count"] == len(parsed) >= 40
    assert all(r["abstract"] is None for r in parsed)
    short = next(r for r in parsed if r["pmid"] == "28757132")  # Short 2018, screened out
    assert short["year"] == 2018


def test_roundtrip(tmp_path):
    row = dict.fromkeys(BIBLIOGRAPHY_COLUMNS, "") | {
        "pmid": "12345678", "title": "A trial & its <title>", "journal": "J Test", "year": "2019", "volume": "7",
        "issue": "2", "pages": "10-19", "doi": "10.1000/xyz.1", "pmcid": "PMC123", "authors": "Smith AB|van Dam C",
        "publication_types": "Journal Article|Randomized Controlled Trial", "mesh": "Ketamine*|Humans",
        "nct_ids": "NCT01234567", "language": "eng"}
    bib = tmp_path / "bib.csv"
    with open(bib, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=BIBLIOGRAPHY_COLUMNS)
        w.writeheader()
        w.writerow(row)
    build_snapshot(bib, "ketamine", "2026-01-01", tmp_path)
    (rec,) = parse_medline(tmp_path / "snapshot.xml")
    assert rec["title"] == "A trial & its <title>" and rec["doi"] == "10.1000/xyz.1" and rec["pmcid"] == "PMC123"
    assert rec["authors"] == ["Smith AB", "van Dam C"]
    assert rec["pub_types"] == ["Journal Article", "Randomized Controlled Trial"]
    assert rec["mesh"] == ["Ketamine*", "Humans"] and rec["nct_ids"] == ["NCT01234567"]
    assert (rec["journal"], rec["year"], rec["pages"]) == ("J Test", 2019, "10-19")
    first = (tmp_path / "snapshot.xml").read_bytes()
    build_snapshot(bib, "ketamine", "2026-01-01", tmp_path)
    assert (tmp_path / "snapshot.xml").read_bytes() == first


def test_duplicate_pmid_is_named(tmp_path):
    bib = tmp_path / "bib.csv"
    bib.write_text("pmid,title\n1,A\n1,B\n")
    with pytest.raises(ValueError, match=r"row 3, column 'pmid'"):
        read_bibliography(bib)
