"""Streaming parser for PubMed/MEDLINE XML (EFetch ``db=pubmed&retmode=xml`` output).

The element structure follows NLM's PubMed DTD (``pubmed_250101.dtd`` and its predecessors back to
``pubmed_160101.dtd``): https://dtd.nlm.nih.gov/ncbi/pubmed/doc/out/250101/index.html .

The parser uses :func:`lxml.etree.iterparse` and clears every record once it has been read, so memory
stays flat however large the file. It never loads DTDs, resolves entities or touches the network.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

from lxml import etree

from evsynth.errors import InputError

__all__ = ["NCT_PATTERN", "RECORD_FIELDS", "MedlineParseError", "find_invalid_utf8", "parse_medline"]

#: Keys of every dict yielded by :func:`parse_medline`, in table order.
RECORD_FIELDS = (
    "pmid",
    "doi",
    "pmcid",
    "title",
    "abstract",
    "journal",
    "year",
    "volume",
    "issue",
    "pages",
    "authors",
    "pub_types",
    "mesh",
    "keywords",
    "nct_ids",
    "language",
    "source_db",
    "record_type",
)

#: ClinicalTrials.gov identifiers: ``NCT`` followed by exactly eight digits.
NCT_PATTERN = re.compile(r"(?<![A-Za-z0-9])NCT\d{8}(?!\d)")
_YEAR = re.compile(r"\b(\d{4})\b")
_RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle", "DeleteCitation")
_ROOT_TAGS = ("PubmedArticleSet",)


class MedlineParseError(InputError, ValueError):
    """A file is not PubMed XML (wrong root element, malformed XML, or a record without a PMID)."""


def find_invalid_utf8(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> tuple[int, int, int] | None:
    """Locate the first byte of ``path`` that is not valid UTF-8, reading in chunks.

    Returns
    -------
    (offset, line, byte) or None
        Zero-based byte offset, one-based line number and the byte's value; ``None`` when the whole
        file is valid UTF-8. A multi-byte sequence cut off by the end of the file counts as invalid.
    """
    offset, line, carry = 0, 1, b""
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(chunk_size)
            data = carry + chunk
            if not data:
                return None
            try:
                data.decode("utf-8")
                good, carry = len(data), b""
            except UnicodeDecodeError as exc:
                if chunk and exc.reason == "unexpected end of data":  # a sequence split by the chunk boundary
                    good, carry = exc.start, data[exc.start:]
                else:
                    return offset + exc.start, line + data.count(b"\n", 0, exc.start), data[exc.start]
            line += data.count(b"\n", 0, good)
            offset += good
            if not chunk:
                return None


def describe_invalid_utf8(path: str | os.PathLike[str]) -> str | None:
    """``"line L: byte 0xXX at offset N is not UTF-8 ..."`` for the first bad byte, or ``None``."""
    bad = find_invalid_utf8(path)
    if bad is None:
        return None
    offset, line, byte = bad
    return (f"line {line}: byte 0x{byte:02X} at offset {offset} is not UTF-8 "
            "(the file is in another encoding, e.g. Latin-1; save it as UTF-8)")


def _child(elem: etree._Element | None, *path: str) -> etree._Element | None:
    """First child along ``path`` (tag names), by direct-child iteration; ``None`` when absent.

    Equivalent to ``elem.find("A/B")`` but avoids lxml's Python-level ElementPath, which dominates the
    cost of reading a record.
    """
    for tag in path:
        if elem is None:
            return None
        elem = next(elem.iterchildren(tag), None)
    return elem


def _children(elem: etree._Element | None, *path: str):
    """All children named ``path[-1]`` under the first ``path[:-1]`` element (like ``iterfind``)."""
    parent = _child(elem, *path[:-1])
    return parent.iterchildren(path[-1]) if parent is not None else ()


def _child_text(elem: etree._Element | None, *path: str) -> str | None:
    found = _child(elem, *path)
    return found.text if found is not None else None


def _text(elem: etree._Element | None) -> str | None:
    """All text inside ``elem`` (inline markup such as ``<i>`` kept as text), whitespace collapsed."""
    if elem is None:
        return None
    raw = elem.text if len(elem) == 0 else "".join(elem.itertext())
    if not raw:
        return None
    text = " ".join(raw.split())
    return text or None


def _empty_record(pmid: str, record_type: str) -> dict[str, Any]:
    rec: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    for key in ("authors", "pub_types", "mesh", "keywords", "nct_ids"):
        rec[key] = []
    rec["pmid"] = pmid
    rec["source_db"] = "pubmed"
    rec["record_type"] = record_type
    return rec


def _abstract(abstract: etree._Element | None) -> str | None:
    """Abstract sections, each ``"LABEL: text"`` when labelled, joined by newlines.

    An empty labelled section (``<AbstractText Label="METHODS"/>``) is kept as ``"METHODS:"`` so the
    structure of the abstract stays visible.
    """
    if abstract is None:
        return None
    parts = []
    for section in abstract.iterchildren("AbstractText"):
        body = _text(section) or ""
        label = section.get("Label")
        if label:
            parts.append(f"{label}: {body}" if body else f"{label}:")
        elif body:
            parts.append(body)
    return "\n".join(parts) or None


def _authors(author_list: etree._Element | None) -> list[str]:
    """Authors as ``"LastName Initials"``; a group author as its ``CollectiveName``."""
    if author_list is None:
        return []
    out = []
    for author in author_list.iterchildren("Author"):
        last = initials = collective = None
        for part in author:
            tag = part.tag
            if tag == "LastName":
                last = part.text
            elif tag == "Initials":
                initials = part.text
            elif tag == "CollectiveName":
                collective = _text(part)
        if last:
            out.append(f"{last} {initials}" if initials else last)
        elif collective:
            out.append(collective)
    return out


def _year(pub_date: etree._Element | None) -> int | None:
    """``PubDate/Year``, else the first four-digit year in ``PubDate/MedlineDate`` (e.g. "1998 Dec-1999 Jan")."""
    if pub_date is None:
        return None
    year = _child_text(pub_date, "Year")
    if year and year.strip().isdigit():
        return int(year)
    medline_date = _child_text(pub_date, "MedlineDate")
    if medline_date:
        match = _YEAR.search(medline_date)
        if match:
            return int(match.group(1))
    return None


def _mesh(citation: etree._Element) -> list[str]:
    """MeSH descriptor names; a trailing ``*`` marks a major topic.

    A heading counts as a major topic when its descriptor or any of its qualifiers has
    ``MajorTopicYN="Y"`` (PubMed's ``[majr]`` definition).
    """
    out = []
    for heading in _children(citation, "MeshHeadingList", "MeshHeading"):
        name, major = None, False
        for part in heading:  # DescriptorName, then its QualifierNames
            if part.tag == "DescriptorName":
                name = _text(part)
            if part.get("MajorTopicYN") == "Y":
                major = True
        if name:
            out.append(name + "*" if major else name)
    return out


def _keywords(parent: etree._Element) -> list[str]:
    """Keywords from every ``KeywordList``, duplicates dropped, first-seen order kept."""
    seen: dict[str, None] = {}
    for kw_list in parent.iterchildren("KeywordList"):
        for kw in kw_list.iterchildren("Keyword"):
            text = _text(kw)
            if text:
                seen.setdefault(text, None)
    return list(seen)


def _article_ids(id_list: etree._Element | None) -> dict[str, str]:
    """``{IdType: value}`` from one ``ArticleIdList`` (first value of each type)."""
    ids: dict[str, str] = {}
    if id_list is not None:
        for aid in id_list.iterchildren("ArticleId"):
            value = (aid.text or "").strip()
            if value:
                ids.setdefault(aid.get("IdType", ""), value)
    return ids


def _nct_ids(databank_parent: etree._Element | None, *texts: str | None) -> list[str]:
    """NCT ids from the ClinicalTrials.gov ``DataBank`` and from free text, deduplicated and sorted."""
    found: set[str] = set()
    if databank_parent is not None:
        for bank in _children(databank_parent, "DataBankList", "DataBank"):
            if (_child_text(bank, "DataBankName") or "").strip().lower() != "clinicaltrials.gov":
                continue
            for acc in _children(bank, "AccessionNumberList", "AccessionNumber"):
                value = (acc.text or "").strip().upper()
                if value:
                    found.add(value)
    for text in texts:
        if text and "NCT" in text:
            found.update(NCT_PATTERN.findall(text))
    return sorted(found)


def _languages(parent: etree._Element) -> str | None:
    """Language codes lower-cased (the 2016 files write ``ENG``); several joined with ``|``."""
    langs: dict[str, None] = {}
    for lang in parent.iterchildren("Language"):
        value = (lang.text or "").strip().lower()
        if value:
            langs.setdefault(value, None)
    return "|".join(langs) or None


def _pages(article: etree._Element) -> str | None:
    pagination = _child(article, "Pagination")
    if pagination is None:
        return None
    pages = _child_text(pagination, "MedlinePgn")
    if pages and pages.strip():
        return pages.strip()
    start = _child_text(pagination, "StartPage")
    end = _child_text(pagination, "EndPage")
    if start and end:
        return f"{start.strip()}-{end.strip()}"
    return start.strip() if start else None


def _parse_article(elem: etree._Element, path: str) -> dict[str, Any]:
    citation = _child(elem, "MedlineCitation")
    pmid = _child_text(citation, "PMID")
    if not pmid or not pmid.strip():
        raise MedlineParseError(f"{path}: line {elem.sourceline}: PubmedArticle without MedlineCitation/PMID")
    rec = _empty_record(pmid.strip(), "article")
    article = _child(citation, "Article")
    ids = _article_ids(_child(elem, "PubmedData", "ArticleIdList"))
    if article is not None:
        rec["title"] = _text(_child(article, "ArticleTitle"))
        rec["abstract"] = _abstract(_child(article, "Abstract"))
        journal = _child(article, "Journal")
        rec["journal"] = _text(_child(journal, "Title"))
        issue = _child(journal, "JournalIssue")
        if issue is not None:
            rec["year"] = _year(_child(issue, "PubDate"))
            rec["volume"] = _text(_child(issue, "Volume"))
            rec["issue"] = _text(_child(issue, "Issue"))
        rec["pages"] = _pages(article)
        rec["authors"] = _authors(_child(article, "AuthorList"))
        rec["pub_types"] = [t for t in map(_text, _children(article, "PublicationTypeList", "PublicationType")) if t]
        rec["language"] = _languages(article)
        if "doi" not in ids:
            for eloc in article.iterchildren("ELocationID"):
                if eloc.get("EIdType") == "doi" and eloc.get("ValidYN", "Y") == "Y" and eloc.text:
                    ids["doi"] = eloc.text.strip()
                    break
    rec["doi"] = ids.get("doi")
    rec["pmcid"] = ids.get("pmc")
    rec["mesh"] = _mesh(citation)
    rec["keywords"] = _keywords(citation)
    rec["nct_ids"] = _nct_ids(article, rec["title"], rec["abstract"])
    return rec


def _parse_book(elem: etree._Element, path: str) -> dict[str, Any]:
    doc = _child(elem, "BookDocument")
    pmid = _child_text(doc, "PMID")
    if not pmid or not pmid.strip():
        raise MedlineParseError(f"{path}: line {elem.sourceline}: PubmedBookArticle without BookDocument/PMID")
    rec = _empty_record(pmid.strip(), "book")
    ids = _article_ids(_child(doc, "ArticleIdList"))
    ids.update(_article_ids(_child(elem, "PubmedBookData", "ArticleIdList")))
    book = _child(doc, "Book")
    rec["title"] = _text(_child(doc, "ArticleTitle")) or _text(_child(book, "BookTitle"))
    rec["abstract"] = _abstract(_child(doc, "Abstract"))
    rec["journal"] = _text(_child(book, "BookTitle"))
    rec["year"] = _year(_child(book, "PubDate"))
    rec["volume"] = _text(_child(book, "Volume"))
    rec["pages"] = _pages(doc)
    rec["authors"] = _authors(_child(doc, "AuthorList"))
    rec["pub_types"] = [t for t in map(_text, doc.iterchildren("PublicationType")) if t]
    rec["language"] = _languages(doc)
    rec["doi"] = ids.get("doi")
    rec["pmcid"] = ids.get("pmc")
    rec["keywords"] = _keywords(doc)
    rec["nct_ids"] = _nct_ids(doc, rec["title"], rec["abstract"])
    return rec


def _check_root(root: etree._Element | None, path: str) -> None:
    if root is None or root.tag not in _ROOT_TAGS:
        tag = "nothing" if root is None else f"<{root.tag}>"
        raise MedlineParseError(
            f"{path}: root element is {tag}, expected <PubmedArticleSet>: not PubMed EFetch XML "
            "(an HTML error page or an E-utilities error response?)"
        )


def parse_medline(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield one dict per record of a PubMed EFetch XML file, streaming.

    Parameters
    ----------
    path : str or path-like
        A ``PubmedArticleSet`` document as returned by EFetch (``db=pubmed``, ``retmode=xml``), or a
        MEDLINE/PubMed baseline or update file.

    Yields
    ------
    dict
        Keys :data:`RECORD_FIELDS`. Scalars are ``str`` (``year`` is ``int``) or ``None`` when absent;
        ``authors``, ``pub_types``, ``mesh``, ``keywords`` and ``nct_ids`` are lists (empty when absent).
        ``record_type`` is ``"article"`` (``PubmedArticle``), ``"book"`` (``PubmedBookArticle``) or
        ``"delete"``: a ``DeleteCitation`` yields one record per deleted PMID with every other field empty.

    Raises
    ------
    MedlineParseError
        The file is not well-formed XML, its root element is not ``PubmedArticleSet`` (e.g. the
        HTTP 301 HTML page), or a record has no PMID. The message names the file and line.

    Notes
    -----
    * ``doi`` and ``pmcid`` come from ``PubmedData/ArticleIdList`` only, never from the
      ``ReferenceList`` (whose references carry their own ``ArticleIdList``); ``doi`` falls back to a
      valid ``Article/ELocationID[@EIdType="doi"]``.
    * ``abstract``: ``AbstractText`` sections in order, ``"LABEL: text"`` when labelled, joined by ``\\n``.
    * ``year``: ``PubDate/Year``, else the first four-digit year in ``PubDate/MedlineDate``.
    * ``nct_ids``: ClinicalTrials.gov ``DataBank`` accession numbers plus ``NCT\\d{8}`` found in the title
      or abstract, deduplicated and sorted.
    * Text is taken with inline markup flattened and runs of whitespace collapsed to one space.
    """
    path = os.fspath(path)
    context = etree.iterparse(
        path,
        events=("end",),
        tag=_RECORD_TAGS,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    checked = False
    try:
        for _event, elem in context:
            if not checked:
                _check_root(elem.getroottree().getroot(), path)
                checked = True
            tag = elem.tag
            if tag == "PubmedArticle":
                yield _parse_article(elem, path)
            elif tag == "PubmedBookArticle":
                yield _parse_book(elem, path)
            else:
                for pmid in elem.iterchildren("PMID"):
                    if pmid.text and pmid.text.strip():
                        yield _empty_record(pmid.text.strip(), "delete")
            # Free the record and everything before it: memory stays flat.
            elem.clear(keep_tail=False)
            parent = elem.getparent()
            if parent is not None:
                while elem.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        text = str(exc)
        if "Invalid bytes in character encoding" in text or "not proper UTF-8" in text:
            where = describe_invalid_utf8(path)
            if where:
                raise MedlineParseError(f"{path}: {where}") from exc
        raise MedlineParseError(f"{path}: not well-formed XML: {exc}") from exc
    if not checked:
        _check_root(context.root, path)


def pmids_in_file(path: str | os.PathLike[str]) -> list[str]:
    """PMIDs of the records in an EFetch XML file, in file order (a fast pass used to validate batches)."""
    return [rec["pmid"] for rec in parse_medline(path)]
