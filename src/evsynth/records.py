"""The bibliographic records table: PubMed XML, MEDLINE text (.nbib) and RIS exports in one shape.

One row per record, with a fixed column order (:data:`COLUMNS`); list fields are joined with ``|``.
Sources: PubMed EFetch XML (:func:`evsynth.pubmed.parse_medline`), PubMed's MEDLINE text format
(``.nbib``/``.txt``), and RIS (Embase, PsycINFO, Cochrane CENTRAL; the RIS
reader is our own, following the RIS tag list of Research Information Systems' "RIS Format
Specifications", 2012). De-duplication (PMID, DOI, title) lives in :mod:`evsynth.dedup`, re-exported here.

``evsynth parse --out records.csv INPUT...`` is the command-line entry point.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth.dedup import find_duplicates, normalise_doi, normalise_title  # re-exported for compatibility
from evsynth.io import atomic_path
from evsynth.pubmed.parser import NCT_PATTERN, MedlineParseError, describe_invalid_utf8, parse_medline

__all__ = [
    "COLUMNS",
    "RecordsInputError",
    "add_arguments",
    "find_duplicates",
    "normalise_doi",
    "normalise_title",
    "read_nbib",
    "read_records",
    "read_ris",
    "records_table",
    "run",
    "write_records_csv",
]

log = logging.getLogger("evsynth.records")

#: Column order of the records table and of records.csv.
COLUMNS = [
    "record_id", "source_db", "source_file", "record_type", "pmid", "doi", "pmcid", "title", "abstract",
    "journal", "year", "volume", "issue", "pages", "authors", "pub_types", "mesh", "keywords", "nct_ids",
    "language",
]
LIST_FIELDS = ("authors", "pub_types", "mesh", "keywords", "nct_ids")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_RIS_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*))?$")
_PMID_VALUE = re.compile(r"^\s*(?:PMID|PubMed(?:\s+ID)?|MEDLINE)\s*[:=]?\s*([1-9]\d{0,9})\s*$", re.IGNORECASE)
_PUBMED_URL = re.compile(r"pubmed\.ncbi\.nlm\.nih\.gov/([1-9]\d{0,9})\b|ncbi\.nlm\.nih\.gov/pubmed/([1-9]\d{0,9})\b")
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


class RecordsInputError(ValueError):
    """An input file cannot be read as records; the message names the file and line or record."""


# -- shared helpers ---------------------------------------------------------------------------
def _blank(source_db: str, source_file: str, record_type: str = "article") -> dict[str, Any]:
    rec: dict[str, Any] = dict.fromkeys(COLUMNS)
    for key in LIST_FIELDS:
        rec[key] = []
    rec.update(source_db=source_db, source_file=source_file, record_type=record_type)
    return rec


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


def _first_year(*values: str | None) -> int | None:
    for value in values:
        match = _YEAR.search(value or "")
        if match:
            return int(match.group(1))
    return None


def _nct_in(*texts: str | None) -> list[str]:
    found: set[str] = set()
    for text in texts:
        if text:
            found.update(NCT_PATTERN.findall(text))
    return sorted(found)


# -- reading text exports (RIS, MEDLINE) -----------------------------------------------------
_MEDLINE_TAG = re.compile(r"^([A-Z][A-Z0-9]{1,3}) *- ?(.*)$")
_MEDLINE_CONTINUATION = "      "  # six spaces


def _read_lines(path: Path) -> list[str]:
    """The file's lines as UTF-8 text: a byte-order mark and CRLF/CR line ends are accepted.

    Lines are split on ``\\n`` only (so a stray form feed or U+2028 inside a field cannot shift the
    line numbers that error messages give), with a trailing ``\\r`` removed.

    Raises
    ------
    RecordsInputError
        A byte that is not UTF-8, named by line, byte offset and value.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordsInputError(f"{path}: {describe_invalid_utf8(path) or exc}") from exc
    if "\n" not in text and "\r" in text:  # old Mac line ends
        text = text.replace("\r", "\n")
    return [line.removesuffix("\r") for line in text.split("\n")]


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
    for lineno, line in enumerate(_read_lines(path), start=1):
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
        name = _clean(descriptor.replace("*", ""))
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
            return _clean(raw[tag][0]) if raw.get(tag) else None

        pmid = first("PMID")
        if not pmid or not pmid.isdigit():
            raise RecordsInputError(f"{path}: record {n} (line {line}): missing or invalid PMID field ({pmid!r})")
        book_title = _clean(" ".join(raw.get("BTI", [])))
        rec = _blank(source_db, path.name, "book" if book_title else "article")
        rec["pmid"] = pmid
        rec["title"] = first("TI") or book_title
        rec["abstract"] = first("AB")
        rec["journal"] = first("JT") or first("TA") or book_title
        rec["year"] = _first_year(first("DP"))
        rec["volume"], rec["issue"], rec["pages"] = first("VI"), first("IP"), first("PG")
        rec["authors"] = [a for a in map(_clean, raw.get("AU", [])) if a]
        rec["pub_types"] = [t for t in map(_clean, raw.get("PT", [])) if t]
        rec["mesh"] = _nbib_mesh(raw.get("MH", []))
        rec["keywords"] = list(dict.fromkeys(k for k in map(_clean, raw.get("OT", [])) if k))
        rec["doi"] = _nbib_doi(raw)
        rec["pmcid"] = first("PMC")
        si = [s for s in raw.get("SI", []) if s.lower().startswith("clinicaltrials.gov/")]
        rec["nct_ids"] = sorted(set(_nct_in(*si, rec["title"], rec["abstract"])))
        rec["language"] = "|".join(dict.fromkeys(x.strip().lower() for x in raw.get("LA", []) if x.strip())) or None
        rec["record_id"] = f"{source_db}:{pmid}"
        yield rec


# -- RIS ----------------------------------------------------------------------------------------
def _ris_records(path: Path) -> Iterator[tuple[int, dict[str, list[str]]]]:
    """Yield ``(line of TY, {tag: [values]})`` per RIS record.

    Every non-blank line must be a tag line ``XX  - value`` (two capitals or a capital and a digit,
    two spaces, a hyphen; RIS Format Specifications, 2012): a field is one line, so a line of any other
    shape (stray text, HTML, a wrapped line) is an error naming the file and line, never merged into a
    field. UTF-8 with or without a byte-order mark, LF or CRLF line ends.
    """
    current: dict[str, list[str]] | None = None
    start = 0
    for lineno, line in enumerate(_read_lines(path), start=1):
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
    name = _clean(name) or ""
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
        rec = _blank(db, path.name)
        rec["title"] = _clean(first.get("TI") or first.get("T1"))
        rec["abstract"] = _clean(first.get("AB") or first.get("N2"))
        rec["journal"] = _clean(next((first[t] for t in ("JF", "JO", "T2", "J2") if t in first), None))
        rec["year"] = _first_year(first.get("PY"), first.get("Y1"), first.get("DA"))
        rec["volume"], rec["issue"] = _clean(first.get("VL")), _clean(first.get("IS"))
        sp, ep = _clean(first.get("SP")), _clean(first.get("EP"))
        rec["pages"] = f"{sp}-{ep}" if sp and ep else sp
        rec["authors"] = [a for a in map(_ris_author, tags.get("AU", []) + tags.get("A1", [])) if a]
        rec["pub_types"] = [t for t in map(_clean, tags.get("M3", [])) if t]
        rec["keywords"] = list(dict.fromkeys(k for k in map(_clean, tags.get("KW", [])) if k))
        doi = first.get("DO") or next((u for u in tags.get("UR", []) if "doi.org/" in u.lower()), None)
        rec["doi"] = _DOI_PREFIX.sub("", doi.strip()) if doi else None
        rec["pmid"] = _ris_pmid(tags)
        rec["nct_ids"] = _nct_in(*(v for values in tags.values() for v in values))
        rec["language"] = "|".join(dict.fromkeys(x.strip().lower() for x in tags.get("LA", []) if x.strip())) or None
        accession = next((_clean(first[t]) for t in ("AN", "ID")
                          if first.get(t) and not _PMID_VALUE.match(first[t])), None)
        rec["record_id"] = f"{db}:{accession}" if accession else f"{db}:{path.stem}#{n}"
        if not rec["title"] and not rec["doi"] and not rec["pmid"]:
            raise RecordsInputError(f"{path}: line {line}: record has no title (TI/T1), DO or PMID")
        yield rec
    if not found:
        raise RecordsInputError(f"{path}: no RIS records ('TY  - ' ... 'ER  - ') found")


# -- any input -------------------------------------------------------------------------------
def _from_medline_xml(path: Path) -> Iterator[dict[str, Any]]:
    for parsed in parse_medline(path):
        rec = _blank("pubmed", path.name, parsed["record_type"])
        rec.update({k: v for k, v in parsed.items() if k in rec})
        rec["source_file"] = path.name
        rec["record_id"] = f"pubmed:{parsed['pmid']}"
        yield rec


def read_records(path: str | os.PathLike[str], source_db: str | None = None) -> Iterator[dict[str, Any]]:
    """Records from one input, chosen by extension: ``.xml`` (PubMed XML), ``.nbib``/``.txt``/``.medline``
    (MEDLINE text), ``.ris``; a directory means every such file in it, in sorted name order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".xml", ".nbib", ".txt", ".medline", ".ris"))
        if not files:
            raise RecordsInputError(f"{path}: directory has no .xml, .nbib, .txt or .ris files")
        for file in files:
            yield from read_records(file, source_db)
        return
    suffix = path.suffix.lower()
    if not path.exists():
        raise RecordsInputError(f"{path}: no such file")
    if suffix == ".xml":
        try:
            yield from _from_medline_xml(path)
        except MedlineParseError as exc:
            raise RecordsInputError(str(exc)) from exc
    elif suffix in (".nbib", ".txt", ".medline"):
        yield from read_nbib(path, source_db or "pubmed")
    elif suffix == ".ris":
        yield from read_ris(path, source_db)
    else:
        raise RecordsInputError(f"{path}: unknown input type {suffix!r} (expected .xml, .nbib, .txt or .ris)")


def records_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The records table: :data:`COLUMNS`, list fields joined with ``|``, one row per ``record_id``.

    PubMed records have ``record_id`` ``pubmed:<PMID>``, so the table has one row per PMID per source.
    When a ``record_id`` occurs twice the later record wins (a newer MEDLINE version of a citation);
    a ``delete`` record (``DeleteCitation``) removes its PMID. Rows are sorted by ``source_db``, then
    PMID (numeric; records without one last), then ``record_id``.
    """
    rows: dict[str, dict[str, Any]] = {}
    for rec in records:
        rid = rec["record_id"]
        if rid in rows:
            log.warning("%s appears more than once; keeping the later record (from %s)", rid, rec["source_file"])
        rows.pop(rid, None)
        if rec["record_type"] == "delete":
            continue
        row = {col: rec.get(col) for col in COLUMNS}
        for key in LIST_FIELDS:
            row[key] = "|".join(row[key] or []) or None
        rows[rid] = row
    df = pd.DataFrame(list(rows.values()), columns=COLUMNS)
    df["year"] = pd.array(df["year"].tolist(), dtype="Int64")
    order = pd.to_numeric(df["pmid"], errors="coerce")
    df = df.assign(_pmid=order).sort_values(["source_db", "_pmid", "record_id"], na_position="last", kind="stable")
    return df.drop(columns="_pmid").reset_index(drop=True)


def _atomic_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")


def write_records_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the records table as UTF-8 CSV with deterministic bytes (fixed columns, ``\\n``), atomically."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"records table lacks columns: {', '.join(missing)}")
    _atomic_csv(df[COLUMNS], path)


# -- command line -------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evsynth parse`` options to ``parser``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="PubMed XML (.xml), MEDLINE text (.nbib/.txt), RIS (.ris) files or directories")
    parser.add_argument("--out", required=True, help="records CSV to write")
    parser.add_argument("--dedup-out", default=None, help="also write the duplicate table (CSV) here")
    parser.add_argument("--source-db", default=None, help="database name for RIS/.nbib inputs (default: detected)")


def run(args: argparse.Namespace) -> int:
    """Run ``evsynth parse``; return 0, or 1 with a one-line reason on stderr."""
    try:
        records = [rec for path in args.inputs for rec in read_records(path, args.source_db)]
        table = records_table(records)
        dedup = find_duplicates(table) if args.dedup_out else None
        write_records_csv(table, args.out)
        if dedup is not None:
            _atomic_csv(dedup, args.dedup_out)
    except (RecordsInputError, OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"evsynth parse: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    print(f"evsynth parse: {len(table)} records -> {args.out}", file=sys.stderr)
    return 0
