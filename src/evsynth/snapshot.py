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

``evsynth snapshot-refresh`` (``make snapshot``) refreshes the snapshot from the latest complete live
search (``make update``): :func:`refresh_snapshot` rewrites ``bibliography.csv`` from the live records
(keeping each PMID's curated ``study_id`` and ``role``), then ``snapshot.xml``, ``query.txt`` and
``search.json``, which records the live search's date, query, count, date ranges and parts. The same
policy holds: bibliographic facts only, no abstracts.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import shutil
from pathlib import Path

from lxml import etree

from evsynth import __version__
from evsynth.errors import InputError
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


# Initials as PubMed writes them, or a generational suffix kept after them ("Zarate CA Jr"); any
# other last word means a collective name ("Ketamine Study Group").
_INITIALS = re.compile(r"[A-Z]{1,4}|Jr|Sr|I{2,3}|IV|2nd|3rd")


def _author(author_list, name: str) -> None:
    author = _sub(author_list, "Author", ValidYN="Y")
    last, _, initials = name.rpartition(" ")
    if not last or not _INITIALS.fullmatch(initials):  # a collective ("... Study Group") or a surname alone
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
    for language in _split(row.get("language") or "eng"):
        _sub(article, "Language", language)
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


def build_snapshot(bibliography: Path, query: str, date: str, out_dir: Path, extra: dict | None = None) -> dict:
    """Write ``search.json`` and ``snapshot.xml`` into ``out_dir``; return the search record.

    ``extra`` keys are added to ``search.json`` (and replace the default ``note``).
    """
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
    } | (extra or {})
    write_json(out_dir / "search.json", search)
    return search


def _bibliography_row(rec: dict, curated: dict, eutils_url: str) -> dict:
    pmid = str(rec["pmid"])
    old = curated.get(pmid, {})

    def text(key: str) -> str:
        value = rec.get(key)
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)

    return {
        "pmid": pmid, "study_id": old.get("study_id", ""), "role": old.get("role", ""), "title": text("title"),
        "journal": text("journal"), "year": text("year"), "volume": text("volume"), "issue": text("issue"),
        "pages": text("pages"), "doi": text("doi"), "pmcid": text("pmcid"), "authors": text("authors"),
        "publication_types": text("pub_types"), "mesh": text("mesh"), "nct_ids": text("nct_ids"),
        "language": text("language"),
        "source_url": f"{eutils_url}efetch.fcgi?db=pubmed&id={pmid}&retmode=xml",
    }


def refresh_snapshot(live_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> dict:
    """Refresh the shipped snapshot in ``out_dir`` from the complete live search in ``live_dir``.

    Every file is built in a temporary folder first and moved into place only when all are ready,
    so a failure leaves the previous snapshot untouched.

    Returns
    -------
    dict
        The new ``search.json``: ``mode`` (``snapshot``), ``source`` (``live``), ``query``, ``count``,
        ``pmids``, ``retrieval_date`` (the live search's), ``date_ranges``, ``datetype``, ``parts``,
        ``split``, ``eutils_url``, ``evsynth_version``, ``note``.

    Raises
    ------
    InputError
        ``live_dir`` holds no complete live search, or its records cannot be read.
    """
    from evsynth.parsers.medline_xml import MedlineParseError
    from evsynth.pubmed.client import DEFAULT_EUTILS_URL
    from evsynth.pubmed.retrieve import complete_search
    from evsynth.records import RecordsInputError, read_records, records_table

    live, out = Path(live_dir), Path(out_dir)
    search = complete_search(live)
    if search is None:
        raise InputError(f"{live}: no complete live search (search.json and its batches); run `make update` first")
    try:
        table = records_table(rec for name in search["batches"] for rec in read_records(live / name))
    except (RecordsInputError, MedlineParseError) as exc:
        raise InputError(" ".join(str(exc).split())) from None
    missing = sorted(set(search["pmids"]) - set(table["pmid"].astype(str)), key=int)
    if missing:
        raise InputError(f"{live}: search.json lists PMID {missing[0]} but no batch holds its record")
    curated = {}
    if (out / "bibliography.csv").is_file():
        curated = {row["pmid"]: row for row in read_bibliography(out / "bibliography.csv")}
    url = search.get("eutils_url") or DEFAULT_EUTILS_URL
    rows = [_bibliography_row(rec, curated, url) for rec in table.to_dict("records")]
    rows.sort(key=lambda r: int(r["pmid"]))
    day = str(search["retrieval_date"])
    extra = {
        "source": "live",
        "retrieval_date": day,
        "date_ranges": search.get("date_ranges", []),
        "datetype": search.get("datetype"),
        "parts": search.get("parts", []),
        "split": search.get("split", False),
        "eutils_url": url,
        "note": f"refreshed from the live search of {day} by `evsynth snapshot-refresh`: bibliographic facts "
                "of every record the search returned, no abstracts; see data/raw/pubmed/README.md",
    }
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".refresh"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=BIBLIOGRAPHY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        (work / "bibliography.csv").write_text(buf.getvalue(), encoding="utf-8")
        (work / "query.txt").write_text(search["query"] + "\n", encoding="utf-8")
        result = build_snapshot(work / "bibliography.csv", search["query"], day, work, extra)
        for name in ("bibliography.csv", "query.txt", "snapshot.xml", "search.json"):  # search.json last
            os.replace(work / name, out / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result
