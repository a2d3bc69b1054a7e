"""The bibliographic records table: PubMed XML, MEDLINE text (.nbib) and RIS exports in one shape.

One row per record, with the registered column order (:data:`COLUMNS`); list fields are joined
with ``|``. The readers live in :mod:`evsynth.parsers`; de-duplication is part of screening
(:mod:`evsynth.dedup`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth.io import atomic_path
from evsynth.parsers.common import COLUMNS, LIST_FIELDS, RecordsInputError, blank
from evsynth.parsers.medline_text import read_nbib
from evsynth.parsers.medline_xml import MedlineParseError, parse_medline
from evsynth.parsers.ris import read_ris

__all__ = ["COLUMNS", "RecordsInputError", "read_nbib", "read_records", "read_ris", "records_table",
           "write_records_csv"]

log = logging.getLogger("evsynth.records")


# -- any input -------------------------------------------------------------------------------
def _from_medline_xml(path: Path) -> Iterator[dict[str, Any]]:
    for parsed in parse_medline(path):
        rec = blank("pubmed", path.name, parsed["record_type"])
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


def write_records_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the records table as UTF-8 CSV with deterministic bytes (fixed columns, ``\\n``), atomically."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"records table lacks columns: {', '.join(missing)}")
    with atomic_path(path) as tmp:
        df[COLUMNS].to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
