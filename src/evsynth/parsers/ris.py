"""RIS exports (Embase, PsycINFO, Cochrane CENTRAL): our own reader.

Follows the RIS tag list of Research Information Systems' "RIS Format Specifications" (2012): a
record runs from ``TY  - `` to ``ER  - ``; a line inside a record that is not a tag line is an error
naming the file and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evsynth.parsers.common import RecordsInputError, blank, clean, first_year, nct_in, read_lines

_RIS_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*))?$")
_PMID_VALUE = re.compile(r"^\s*(?:PMID|PubMed(?:\s+ID)?|MEDLINE)\s*[:=]?\s*([1-9]\d{0,9})\s*$", re.IGNORECASE)
_PUBMED_URL = re.compile(r"pubmed\.ncbi\.nlm\.nih\.gov/([1-9]\d{0,9})\b|ncbi\.nlm\.nih\.gov/pubmed/([1-9]\d{0,9})\b")
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


def _ris_records(path: Path) -> Iterator[tuple[int, dict[str, list[str]]]]:
    """Yield ``(line of TY, {tag: [values]})`` per RIS record.

    Every non-blank line must be a tag line ``XX  - value`` (two capitals or a capital and a digit,
    two spaces, a hyphen; RIS Format Specifications, 2012): a field is one line, so a line of any other
    shape (stray text, HTML, a wrapped line) is an error naming the file and line, never merged into a
    field. UTF-8 with or without a byte-order mark, LF or CRLF line ends.
    """
    current: dict[str, list[str]] | None = None
    start = 0
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        match = _RIS_TAG.match(line.rstrip())
        if match is None:
            where = f"inside the record of line {start}" if current is not None else "outside a record"
            raise RecordsInputError(f"{path}: line {lineno}: not an RIS line ('XX  - value'), {where}")
        tag, value = match.group(1), (match.group(2) or "").strip()
        if tag == "TY":
            if current is not None:
                raise RecordsInputError(f"{path}: line {lineno}: new TY before ER closed the record of line {start}")
            current, start = {"TY": [value]}, lineno
        elif current is None:
            raise RecordsInputError(f"{path}: line {lineno}: tag {tag} outside a record (expected 'TY  - ')")
        elif tag == "ER":
            yield start, current
            current = None
        else:
            current.setdefault(tag, []).append(value)
    if current is not None:
        raise RecordsInputError(f"{path}: line {start}: record has no closing 'ER  - '")


def _ris_author(name: str) -> str | None:
    """``"Smith, John A."`` -> ``"Smith JA"`` (PubMed's style); a name without comma is kept as is."""
    name = clean(name) or ""
    if "," not in name:
        return name or None
    last, given = (part.strip() for part in name.split(",", 1))
    initials = "".join(p[0] for p in re.split(r"[\s.\-]+", given) if p and p[0].isalpha())
    return f"{last} {initials.upper()}".strip() or None


def _ris_source(tags: dict[str, list[str]], path: Path) -> str:
    """Database from the ``DB`` (or ``DP``) tag, else from the file name; ``"ris"`` when unknown."""
    for text in (*(tags.get("DB", []) + tags.get("DP", [])), path.stem):
        low = text.lower()
        if "embase" in low:
            return "embase"
        if "psyc" in low:
            return "psycinfo"
        if "cochrane" in low or "central" in low:
            return "cochrane_central"
        if "medline" in low or "pubmed" in low:
            return "pubmed"
    return "ris"


def _ris_pmid(tags: dict[str, list[str]]) -> str | None:
    """A PMID only when a value says so explicitly (``PMID: 123``, a PubMed URL); never guessed."""
    for values in tags.values():
        for value in values:
            match = _PMID_VALUE.match(value) or _PUBMED_URL.search(value)
            if match:
                return next(g for g in match.groups() if g)
    return None


def read_ris(path: str | os.PathLike[str], source_db: str | None = None) -> Iterator[dict[str, Any]]:
    """Read an RIS export (Embase, PsycINFO, Cochrane CENTRAL, ...) into record dicts.

    Tags used: ``TI``/``T1`` title; ``AB``/``N2`` abstract; ``JF``/``JO``/``T2``/``J2`` journal;
    ``PY``/``Y1``/``DA`` year (first four-digit year); ``AU``/``A1`` authors; ``DO`` DOI (or a doi.org
    ``UR``); ``VL``, ``IS``, ``SP``-``EP``; ``KW`` keywords; ``M3`` publication type; ``LA`` language;
    ``AN`` (else ``ID``) accession number, for the record id. A PMID is taken only from a value that names it
    (``PMID: 123``) or a PubMed URL. NCT ids are searched in every field.

    Parameters
    ----------
    source_db : str, optional
        Database name; default from the ``DB`` tag or the file name (``embase``, ``psycinfo``,
        ``cochrane_central``), else ``"ris"``.
    """
    path = Path(path)
    found = False
    for n, (line, tags) in enumerate(_ris_records(path), start=1):
        found = True
        first = {tag: values[0] for tag, values in tags.items() if values}
        db = source_db or _ris_source(tags, path)
        rec = blank(db, path.name)
        rec["title"] = clean(first.get("TI") or first.get("T1"))
        rec["abstract"] = clean(first.get("AB") or first.get("N2"))
        rec["journal"] = clean(next((first[t] for t in ("JF", "JO", "T2", "J2") if t in first), None))
        rec["year"] = first_year(first.get("PY"), first.get("Y1"), first.get("DA"))
        rec["volume"], rec["issue"] = clean(first.get("VL")), clean(first.get("IS"))
        sp, ep = clean(first.get("SP")), clean(first.get("EP"))
        rec["pages"] = f"{sp}-{ep}" if sp and ep else sp
        rec["authors"] = [a for a in map(_ris_author, tags.get("AU", []) + tags.get("A1", [])) if a]
        rec["pub_types"] = [t for t in map(clean, tags.get("M3", [])) if t]
        rec["keywords"] = list(dict.fromkeys(k for k in map(clean, tags.get("KW", [])) if k))
        doi = first.get("DO") or next((u for u in tags.get("UR", []) if "doi.org/" in u.lower()), None)
        rec["doi"] = _DOI_PREFIX.sub("", doi.strip()) if doi else None
        rec["pmid"] = _ris_pmid(tags)
        rec["nct_ids"] = nct_in(*(v for values in tags.values() for v in values))
        rec["language"] = "|".join(dict.fromkeys(x.strip().lower() for x in tags.get("LA", []) if x.strip())) or None
        accession = next((clean(first[t]) for t in ("AN", "ID")
                          if first.get(t) and not _PMID_VALUE.match(first[t])), None)
        rec["record_id"] = f"{db}:{accession}" if accession else f"{db}:{path.stem}#{n}"
        if not rec["title"] and not rec["doi"] and not rec["pmid"]:
            raise RecordsInputError(f"{path}: line {line}: record has no title (TI/T1), DO or PMID")
        yield rec
    if not found:
        raise RecordsInputError(f"{path}: no RIS records ('TY  - ' ... 'ER  - ') found")
