"""Load the curated extraction tables and check each cell against the table schema.

The schema (``workflow/schemas/extraction.schema.yaml``) gives, per table, its file, key,
required columns and a JSON Schema per column. Cells are parsed before they are checked:
an empty cell is *missing* (``None``), integers and numbers are parsed from their text, and
anything that does not parse is left as text so that the column schema rejects it with a
message naming the file, the row (as the line number in the CSV file) and the column.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

SCHEMA_RELPATH = Path("workflow") / "schemas" / "extraction.schema.yaml"


@dataclass(frozen=True)
class Problem:
    """One validation problem, located in a file, row (CSV line number) and column."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


class ExtractionError(ValueError):
    """Raised when extraction tables fail validation; ``problems`` lists every one found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s) in the extraction tables:\n{shown}{more}")


@dataclass
class Table:
    """A loaded table: typed records (one dict per CSV row) plus where each row came from."""

    name: str
    path: Path
    records: list[dict] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def frame(self, columns: list[str]) -> pd.DataFrame:
        """The records as a DataFrame with the schema's columns, in file order."""
        df = pd.DataFrame.from_records(self.records, columns=columns)
        df["_line"] = self.lines
        return df


def find_schema(start: Path) -> Path:
    """Find ``workflow/schemas/extraction.schema.yaml`` in ``start`` or one of its parents."""
    start = Path(start).resolve()
    for folder in [start, *start.parents]:
        candidate = folder / SCHEMA_RELPATH
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {SCHEMA_RELPATH} found in {start} or its parents; pass schema= explicitly")


def load_schema(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _parse_cell(text: str, spec: dict):
    """Parse one CSV cell for a column spec; unparseable text is returned unchanged."""
    text = text.strip()
    if text == "":
        return None
    kind = spec.get("type")
    if kind == "integer":
        try:
            value = float(text)
        except ValueError:
            return text
        return int(value) if value.is_integer() else value
    if kind == "number":
        try:
            value = float(text)
        except ValueError:
            return text
        return value if math.isfinite(value) else text
    return text


def read_table(name: str, spec: dict, path: Path) -> tuple[Table, list[Problem]]:
    """Read one CSV table, parse its cells and check them against the column schemas."""
    table = Table(name=name, path=path)
    problems: list[Problem] = []
    columns: dict = spec["columns"]
    required = set(spec.get("required", []))
    shown = str(path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in columns]
        missing = [c for c in required if c not in header]
        for c in unknown:
            problems.append(Problem(shown, 1, c, "unknown column (not in the schema)"))
        for c in sorted(missing):
            problems.append(Problem(shown, 1, c, "required column is missing from the header"))
        if unknown or missing:
            return table, problems
        validators = {c: jsonschema.Draft202012Validator(s) for c, s in columns.items()}
        for line, raw in enumerate(reader, start=2):
            if None in raw:
                problems.append(Problem(shown, line, None, "more fields than the header has columns"))
                continue
            record = {}
            for column in columns:
                value = _parse_cell(raw.get(column) or "", columns[column])
                record[column] = value
                if value is None:
                    if column in required:
                        problems.append(Problem(shown, line, column, "required value is empty"))
                    continue
                for err in validators[column].iter_errors(value):
                    problems.append(Problem(shown, line, column, f"{value!r}: {err.message}"))
            table.records.append(record)
            table.lines.append(line)
    problems.extend(_duplicate_keys(table, spec.get("key", [])))
    return table, problems


def _duplicate_keys(table: Table, key: list[str]) -> list[Problem]:
    if not key:
        return []
    seen: dict[tuple, int] = {}
    problems = []
    for record, line in zip(table.records, table.lines):
        k = tuple(record.get(c) for c in key)
        if k in seen:
            problems.append(
                Problem(str(table.path), line, ",".join(key), f"duplicate key {k} (first at row {seen[k]})")
            )
        else:
            seen[k] = line
    return problems


def load_tables(directory: Path, schema: Path | None = None) -> tuple[dict[str, Table], dict, list[Problem]]:
    """Load every table the schema names from ``directory``.

    Returns the tables, the schema and the problems found cell by cell. A table whose file
    is absent is reported as a problem, except the vocabulary and decisions tables.
    """
    directory = Path(directory)
    schema_path = Path(schema) if schema else find_schema(directory)
    schema_doc = load_schema(schema_path)
    tables: dict[str, Table] = {}
    problems: list[Problem] = []
    for name, spec in schema_doc["tables"].items():
        path = (directory / spec["file"]).resolve()
        if not path.is_file():
            if name in {"studies", "arms", "outcomes"}:
                problems.append(Problem(str(path), None, None, "table file is missing"))
            tables[name] = Table(name=name, path=path)
            continue
        table, found = read_table(name, spec, path)
        tables[name] = table
        problems.extend(found)
    return tables, schema_doc, problems


def load_frames(directory: Path, schema: Path | None = None) -> dict[str, pd.DataFrame]:
    """Load and validate the extraction tables; return one DataFrame per table.

    Raises
    ------
    ExtractionError
        listing every problem (file, row, column) when any table fails validation.
    """
    from evsynth.extraction.validate import check_rules

    tables, schema_doc, problems = load_tables(directory, schema)
    problems.extend(check_rules(tables, schema_doc))
    if problems:
        raise ExtractionError(problems)
    return {
        name: tables[name].frame(list(spec["columns"])) for name, spec in schema_doc["tables"].items()
    }
