"""Build the frozen PubMed snapshot (``data/raw/pubmed/``) from the curated bibliography.

The snapshot holds, in PubMed's EFetch XML layout (``PubmedArticleSet``), the bibliographic facts
read from each record's PubMed page: PMID, title, journal, year, volume, issue, pages, DOI, PMCID,
authors, publication types, MeSH descriptors, ClinicalTrials.gov ids and language. No abstract text
is stored. ``evsynth.pubmed.parse_medline`` reads it like any EFetch response, so the rest of the
pipeline cannot tell the snapshot from a live retrieval except by ``search.json``; live mode
retrieves the full records, abstracts included.

Command line (see ``python -m evsynth.snapshot --help``)::

    python -m evsynth.snapshot data/raw/pubmed/bibliography.csv --query-file data/raw/pubmed/query.txt \
        --date 2026-11-21 --out data/raw/pubmed
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from lxml import etree

from evsynth import __version__
from evsynth.io import atomic_path, write_json

# MeSH unique identifiers of the publication types used here (NLM Publication Types list).
PUBLICATION_TYPE_UI = {
    "Journal Article": "D016428",
    "Randomized Controlled Trial": "D016449",
    "Clinical Trial": "D016430",
    "Clinical Trial, Phase II": "D017427",
    "Clinical Trial, Phase III": "D017428",
    "Controlled Clinical Trial": "D018848",
    "Multicenter Study": "D016448",
    "Comparative Study": "D003160",
    "Review": "D016454",
    "Systematic Review": "D000078182",
    "Meta-Analysis": "D017418",
    "Observational Study": "D064888",
    "Equivalence Trial": "D059020",
    "Research Support, N.I.H., Extramural": "D052061",
    "Research Support, Non-U.S. Gov't": "D013485",
    "Research Support, U.S. Gov't, P.H.S.": "D013487",
}

BIBLIOGRAPHY_COLUMNS = [
    "pmid", "study_id", "role", "title", "journal", "year", "volume", "issue", "pages", "doi", "pmcid",
    "authors", "publication_types", "mesh", "nct_ids", "language", "source_url",
]


def _split(value: str) -> list[str]:
    return [v.strip() for v in (value or "").split("|") if v.strip()]


def _sub(parent, tag: str, text: str | None = None, **attrib):
    elem = etree.SubElement(parent, tag, {k: v for k, v in attrib.items() if v is not None})
    if text is not None:
        elem.text = text
    return elem


def _author(author_list, name: str) -> None:
    author = _sub(author_list, "Author", ValidYN="Y")
    last, _, initials = name.rpartition(" ")
    if not last:  # a single token: a collective or a surname alone
        _sub(author, "CollectiveName", name)
        return
    _sub(author, "LastName", last)
    _sub(author, "Initials", initials)


def article_element(row: dict) -> etree._Element:
    """One ``PubmedArticle`` element from a bibliography row (no abstract)."""
    art = etree.Element("PubmedArticle")
    cit = _sub(art, "MedlineCitation", Status="MEDLINE", Owner="NLM")
    _sub(cit, "PMID", row["pmid"], Version="1")
    article = _sub(cit, "Article", PubModel="Print")
    journal = _sub(article, "Journal")
    issue = _sub(journal, "JournalIssue", CitedMedium="Internet")
    if row.get("volume"):
        _sub(issue, "Volume", row["volume"])
    if row.get("issue"):
        _sub(issue, "Issue", row["issue"])
    pub_date = _sub(issue, "PubDate")
    if row.get("year"):
        _sub(pub_date, "Year", row["year"])
    if row.get("journal"):
        _sub(journal, "Title", row["journal"])
    _sub(article, "ArticleTitle", row["title"])
    if row.get("pages"):
        _sub(_sub(article, "Pagination"), "MedlinePgn", row["pages"])
    if row.get("doi"):
        _sub(article, "ELocationID", row["doi"], EIdType="doi", ValidYN="Y")
    authors = _split(row.get("authors", ""))
    if authors:
        author_list = _sub(article, "AuthorList", CompleteYN="Y")
        for name in authors:
            _author(author_list, name)
    _sub(article, "Language", row.get("language") or "eng")
    ncts = _split(row.get("nct_ids", ""))
    if ncts:
        bank = _sub(_sub(article, "DataBankList", CompleteYN="Y"), "DataBank")
        _sub(bank, "DataBankName", "ClinicalTrials.gov")
        numbers = _sub(bank, "AccessionNumberList")
        for nct in ncts:
            _sub(numbers, "AccessionNumber", nct)
    types = _sub(article, "PublicationTypeList")
    for ptype in _split(row.get("publication_types", "")) or ["Journal Article"]:
        _sub(types, "PublicationType", ptype, UI=PUBLICATION_TYPE_UI.get(ptype))
    mesh = _split(row.get("mesh", ""))
    if mesh:
        headings = _sub(cit, "MeshHeadingList")
        for term in mesh:
            major = term.endswith("*")
            _sub(_sub(headings, "MeshHeading"), "DescriptorName", term.rstrip("*").strip(),
                 MajorTopicYN="Y" if major else "N")
    ids = _sub(_sub(art, "PubmedData"), "ArticleIdList")
    _sub(ids, "ArticleId", row["pmid"], IdType="pubmed")
    if row.get("doi"):
        _sub(ids, "ArticleId", row["doi"], IdType="doi")
    if row.get("pmcid"):
        _sub(ids, "ArticleId", row["pmcid"], IdType="pmc")
    return art


def read_bibliography(path: Path) -> list[dict]:
    """Read the bibliography CSV; one row per PMID (duplicates rejected, naming the row)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        for col in ("pmid", "title"):
            if not (row.get(col) or "").strip():
                raise ValueError(f"{path}, row {line}, column '{col}': required value is empty")
        if not row["pmid"].isdigit():
            raise ValueError(f"{path}, row {line}, column 'pmid': {row['pmid']!r} is not a PMID")
        if row["pmid"] in seen:
            raise ValueError(f"{path}, row {line}, column 'pmid': {row['pmid']} repeats row {seen[row['pmid']]}")
        seen[row["pmid"]] = line
    return sorted(rows, key=lambda r: int(r["pmid"]))


def build_snapshot(bibliography: Path, query: str, date: str, out_dir: Path) -> dict:
    """Write ``search.json`` and ``snapshot.xml`` into ``out_dir``; return the search record."""
    rows = read_bibliography(Path(bibliography))
    root = etree.Element("PubmedArticleSet")
    root.append(etree.Comment(" evsynth frozen snapshot: bibliographic facts from PubMed pages; "
                              "abstracts omitted (live mode retrieves full records) "))
    for row in rows:
        root.append(article_element(row))
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "snapshot.xml") as tmp:
        etree.ElementTree(root).write(
            str(tmp), xml_declaration=True, encoding="UTF-8", pretty_print=True,
            doctype='<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
                    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">',
        )
    pmids = [r["pmid"] for r in rows]
    search = {
        "mode": "snapshot",
        "query": query,
        "count": len(pmids),
        "pmids": pmids,
        "retrieval_date": date,
        "evsynth_version": __version__,
        "note": "frozen snapshot built from data/raw/pubmed/bibliography.csv; see data/raw/pubmed/README.md",
    }
    write_json(out_dir / "search.json", search)
    return search


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the frozen PubMed snapshot from bibliography.csv")
    parser.add_argument("bibliography", type=Path)
    parser.add_argument("--query-file", type=Path, required=True)
    parser.add_argument("--date", required=True, help="snapshot date, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    query = " ".join(args.query_file.read_text(encoding="utf-8").split())
    search = build_snapshot(args.bibliography, query, args.date, args.out)
    print(f"{args.out}: {search['count']} records")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
