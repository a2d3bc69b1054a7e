"""Load the curated extraction tables and check each cell against the table schema.

The schema (``evsynth/schemas/extraction.schema.yaml``, shipped with the package) gives, per table, its file, key,
required columns and a JSON Schema per column. Cells are parsed before they are checked:
an empty cell is *missing* (``None``), integers and numbers are parsed from their text, and
anything that does not parse is left as text so that the column schema rejects it with a
message naming the file, the row (as the line number in the CSV file) and the column.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

from evsynth.errors import InputError, nearest

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "extraction.schema.yaml"


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


class EncodingError(InputError, ValueError):
    """A CSV file that is not UTF-8; the message names the file, line and byte."""

    def __init__(self, path, line: int, byte: int, value: int):
        self.path, self.line, self.byte, self.value = path, line, byte, value
        super().__init__(f"{path}, line {line}: {self.detail}")

    @property
    def detail(self) -> str:
        return f"byte {self.byte} (0x{self.value:02x}) is not UTF-8 (save the file as UTF-8)"


class ExtractionError(InputError, ValueError):
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


def load_schema(path: Path | None = None) -> dict:
    """The extraction schema (the package's own unless ``path`` is given)."""
    with open(path or SCHEMA_PATH, encoding="utf-8") as fh:
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


def read_csv_text(path: Path) -> str:
    """The text of a CSV file: UTF-8, with or without a byte-order mark, any line ends.

    Raises
    ------
    EncodingError
        naming the file, line and byte when the file is not UTF-8.
    """
    data = Path(path).read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise EncodingError(path, line, col, data[err.start]) from None


def _rule(spec: dict, err: jsonschema.ValidationError) -> str:
    """The message for a failed cell check: the column's stated rule, never the regular expression."""
    if err.validator == "pattern":
        return spec.get("description") or "does not have the expected form"
    if err.validator == "enum":
        return "must be one of " + ", ".join(repr(v) for v in err.validator_value)
    if err.validator == "type":
        return {"integer": "must be a whole number", "number": "must be a number"}.get(
            str(err.validator_value), f"must be of type {err.validator_value}")
    if err.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {"minimum": "at least", "exclusiveMinimum": "above", "maximum": "at most",
                 "exclusiveMaximum": "below"}
        return f"must be {words[err.validator]} {err.validator_value}"
    return err.message


def read_table(name: str, spec: dict, path: Path, allow_empty: bool = False) -> tuple[Table, list[Problem]]:
    """Read one CSV table, parse its cells and check them against the column schemas.

    A table with a header and no rows is a problem (a curated table emptied by mistake would
    silently drop every result) unless ``allow_empty`` (the included studies' tables, where no
    included study may have, e.g., a reported contrast).
    """
    table = Table(name=name, path=path)
    problems: list[Problem] = []
    columns: dict = spec["columns"]
    required = set(spec.get("required", []))
    shown = str(path)
    try:
        text = read_csv_text(path)
    except EncodingError as err:
        return table, [Problem(shown, err.line, None, err.detail)]
    if not text.strip():
        return table, [Problem(shown, None, None, "the file is empty (not even a header row)")]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in columns]
    missing = [c for c in required if c not in header]
    for c in unknown:
        near = nearest(c, columns)
        problems.append(Problem(shown, 1, c, "unknown column (not in the schema)"
                                + (f"; did you mean {near!r}?" if near else "")))
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
                problems.append(Problem(shown, line, column, f"{value!r}: {_rule(columns[column], err)}"))
        table.records.append(record)
        table.lines.append(line)
    if not table.records and not problems and not allow_empty:
        problems.append(Problem(shown, None, None, "the table has a header but no rows"))
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


def load_tables(directory: Path | None, schema: Path | None = None, paths: dict | None = None,
                allow_empty: bool = False) -> tuple[dict[str, Table], dict, list[Problem]]:
    """Load every table the schema names from ``directory`` (or from explicit ``paths``).

    Returns the tables, the schema and the problems found cell by cell. A table whose file
    is absent is reported as a problem unless the schema marks it optional.

    Parameters
    ----------
    directory : path or None
        The extraction folder; each table at its schema ``file`` inside it.
    paths : dict, optional
        Table name -> file, overriding ``directory`` (tables not named are absent).
    allow_empty : bool
        Accept tables with a header and no rows.
    """
    if paths is None:
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: extraction folder not found")
    schema_doc = load_schema(schema)
    tables: dict[str, Table] = {}
    problems: list[Problem] = []
    for name, spec in schema_doc["tables"].items():
        if paths is not None:
            path = Path(paths[name]) if name in paths else Path(f"<{name} not given>")
        else:
            path = (directory / spec["file"]).resolve()
        if not path.is_file():
            if not spec.get("optional", False):
                problems.append(Problem(str(path), None, None, "table file is missing"))
            tables[name] = Table(name=name, path=path)
            continue
        table, found = read_table(name, spec, path, allow_empty=allow_empty)
        tables[name] = table
        problems.extend(found)
    return tables, schema_doc, problems
