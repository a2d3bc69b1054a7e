"""Controlled vocabularies of the extraction: outcome names and their kinds, adverse-event terms.

Read at config load (the plan's outcome names are checked against them) and by the validator.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from evsynth.extraction.tables import load_schema, read_csv_text


def table_files(directory: str | Path, include_optional: bool = False) -> dict[str, str]:
    """Table name -> path of every extraction table the schema declares, inside ``directory``."""
    tables = load_schema()["tables"]
    return {name: str(Path(directory) / spec["file"]) for name, spec in tables.items()
            if include_optional or not spec.get("optional", False)}


def _rows(path: str | Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(read_csv_text(Path(path)), newline="")))


def outcome_kinds(directory: str | Path) -> dict[str, str]:
    """``{outcome: kind}`` from ``vocabulary/outcomes.csv`` (kind: scale, binary or time_to_event)."""
    return {r["outcome"]: r["kind"] for r in _rows(table_files(directory)["outcome_vocabulary"])}


def study_ids(directory: str | Path) -> list[str]:
    """The study ids of the extraction's ``studies.csv``."""
    return [r["study_id"] for r in _rows(table_files(directory)["studies"])]
