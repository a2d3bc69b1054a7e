"""PubMed's MEDLINE text format (``.nbib``, ``.txt``): our own line reader.

A record is a block of tag lines (``TAG - value``, the tag padded to four characters as in NLM's
MEDLINE display format) and six-space continuation lines, records separated by blank lines. Any
other line inside a record is an error naming the file and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evsynth.parsers.common import RecordsInputError, blank, clean, first_year, nct_in, read_lines

_MEDLINE_TAG = re.compile(r"^([A-Z][A-Z0-9]{1,3}) *- ?(.*)$")
_MEDLINE_CONTINUATION = "      "  # six spaces




def _nbib_records(path: Path) -> Iterator[tuple[int, dict[str, list[str]]]]:
    """Yield ``(line of first tag, {tag: [values]})`` per MEDLINE record (records are separated by blank lines).

    A line is a tag line (``TAG - value``: a tag of 2-4 capitals/digits padded to four characters, as in
    NLM's MEDLINE display format), a continuation line (six spaces, joined to the last value), or blank.

    Raises
    ------
    RecordsInputError
        Any other line, or a continuation line with no field to continue, naming the file and line.
    """
    current: dict[str, list[str]] | None = None
    start, last_tag = 0, None
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            if current is not None:
                yield start, current
            current, last_tag = None, None
            continue
        if line.startswith(_MEDLINE_CONTINUATION):
            if last_tag is None:
                raise RecordsInputError(f"{path}: line {lineno}: continuation line (six spaces) outside a field")
            values = current[last_tag]
            values[-1] = f"{values[-1]} {line.strip()}".strip()
            continue
        match = _MEDLINE_TAG.match(line) if len(line) >= 5 and line[4] == "-" else None
        if match is None:
            raise RecordsInputError(
                f"{path}: line {lineno}: not a MEDLINE line ('TAG - value' with the tag padded to four "
                "characters, or a continuation indented by six spaces)")
        tag, value = match.group(1), match.group(2).strip()
        if current is None:
            current, start = {}, lineno
        current.setdefault(tag, []).append(value)
        last_tag = tag
    if current is not None:
        yield start, current


# -- PubMed MEDLINE text (.nbib) --------------------------------------------------------------
def _nbib_mesh(terms: list[str]) -> list[str]:
    """``MH`` lines (``*Depression/drug therapy``, ``Ketamine/*therapeutic use``) as ``Name`` / ``Name*``."""
    out = []
    for term in terms:
        descriptor = term.split("/", 1)[0]
        name = clean(descriptor.replace("*", ""))
        if name:
            out.append(name + "*" if "*" in term else name)
    return out


def _nbib_doi(record: dict[str, list[str]]) -> str | None:
    for value in record.get("AID", []) + record.get("LID", []):
        match = re.search(r"(\S+)\s+\[doi\]", value or "")
        if match:
            return match.group(1)
    return None


def read_nbib(path: str | os.PathLike[str], source_db: str = "pubmed") -> Iterator[dict[str, Any]]:
    """Read a PubMed MEDLINE-format export (``.nbib``/``.txt``).

    Field tags follow NLM's "MEDLINE/PubMed Data Element (Field) Descriptions". ``authors`` come from
    ``AU`` (already ``"Last Initials"``); ``mesh`` from ``MH``, starred when the heading or a
    subheading is starred; ``nct_ids`` from ``SI`` (``ClinicalTrials.gov/NCT…``) plus title/abstract.
    UTF-8 with or without a byte-order mark, LF or CRLF line ends.

    Raises
    ------
    RecordsInputError
        A line that is neither a tag line nor a six-space continuation (file and line), a byte that is
        not UTF-8 (line, offset, value), no records in the file, or a record without ``PMID``.
    """
    path = Path(path)
    records = list(_nbib_records(path))
    if not records:
        raise RecordsInputError(f"{path}: no MEDLINE records (lines 'PMID- …') found")
    for n, (line, raw) in enumerate(records, start=1):
        def first(tag: str, raw: dict[str, list[str]] = raw) -> str | None:
            return clean(raw[tag][0]) if raw.get(tag) else None

        pmid = first("PMID")
        if not pmid or not pmid.isdigit():
            raise RecordsInputError(f"{path}: record {n} (line {line}): missing or invalid PMID field ({pmid!r})")
        book_title = clean(" ".join(raw.get("BTI", [])))
        rec = blank(source_db, path.name, "book" if book_title else "article")
        rec["pmid"] = pmid
        rec["title"] = first("TI") or book_title
        rec["abstract"] = first("AB")
        rec["journal"] = first("JT") or first("TA") or book_title
        rec["year"] = first_year(first("DP"))
        rec["volume"], rec["issue"], rec["pages"] = first("VI"), first("IP"), first("PG")
        rec["authors"] = [a for a in map(clean, raw.get("AU", [])) if a]
        rec["pub_types"] = [t for t in map(clean, raw.get("PT", [])) if t]
        rec["mesh"] = _nbib_mesh(raw.get("MH", []))
        rec["keywords"] = list(dict.fromkeys(k for k in map(clean, raw.get("OT", [])) if k))
        rec["doi"] = _nbib_doi(raw)
        rec["pmcid"] = first("PMC")
        si = [s for s in raw.get("SI", []) if s.lower().startswith("clinicaltrials.gov/")]
        rec["nct_ids"] = sorted(set(nct_in(*si, rec["title"], rec["abstract"])))
        rec["language"] = "|".join(dict.fromkeys(x.strip().lower() for x in raw.get("LA", []) if x.strip())) or None
        rec["record_id"] = f"{source_db}:{pmid}"
        yield rec


# -- RIS ----------------------------------------------------------------------------------------
