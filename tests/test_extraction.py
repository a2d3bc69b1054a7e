"""Extraction tables: the shipped data validate clean; bad input is reported by file, row and column."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from evsynth.cli import main
from evsynth.extraction.tables import ExtractionError, load_frames
from evsynth.extraction.validate import validate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "raw" / "extraction"
SCHEMA = ROOT / "workflow" / "schemas" / "extraction.schema.yaml"


def test_shipped_tables_are_valid():
    assert validate(DATA, SCHEMA) == []


def test_every_numeric_row_names_its_source_and_page():
    frames = load_frames(DATA, SCHEMA)
    for name in ("studies", "arms", "outcomes", "contrasts", "adverse_events"):
        df = frames[name]
        assert df.source.notna().all() and df.source_url.str.startswith("http").all(), name


def test_cli_validate_exit_status(capsys):
    assert main(["validate", str(DATA), "--schema", str(SCHEMA)]) == 0
    assert "all tables valid" in capsys.readouterr().out


@pytest.fixture
def tables(tmp_path):
    """A copy of the shipped tables that a test may break."""
    d = tmp_path / "extraction"
    shutil.copytree(DATA, d)
    (tmp_path / "screening").mkdir()
    shutil.copy(DATA.parent / "screening" / "decisions.csv", tmp_path / "screening" / "decisions.csv")
    return d


def _edit(path: Path, row: int, column: str, value: str) -> int:
    """Set one cell (0-based data row); return its CSV line number."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[row, column] = value
    df.to_csv(path, index=False, lineterminator="\n")
    return row + 2


def _first(path: Path, **match) -> int:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    mask = pd.Series(True, index=df.index)
    for k, v in match.items():
        mask &= df[k] != "" if v is ... else df[k] == v
    return int(df.index[mask][0])


@pytest.mark.parametrize(
    "table, where, column, value, message",
    [
        ("outcomes", {"stat": "events"}, "events", "100000", "events >"),
        ("outcomes", {"sd": ...}, "sd", "-1", "less than or equal to the minimum"),
        ("outcomes", {}, "timepoint_unit", "months", "is not one of"),
        ("outcomes", {}, "arm_id", "nosucharm", "is not an arm of"),
        ("contrasts", {"ci_lb": ...}, "estimate", "999", "outside its CI"),
        ("arms", {}, "study_id", "Nobody2099", "unknown study"),
        ("adverse_events", {}, "event", "made_up_term", "not a controlled term"),
        ("studies", {}, "design", "", "required value is empty"),
        ("studies", {"doi": ""}, "pmid", "", "needs a PMID or"),
        ("outcomes", {}, "source", "", "required value is empty"),
    ],
)
def test_bad_cell_is_named(tables, table, where, column, value, message):
    path = tables / f"{table}.csv"
    line = _edit(path, _first(path, **where), column, value)
    problems = validate(tables, SCHEMA)
    hits = [p for p in problems if p.file.endswith(f"{table}.csv") and p.row == line and p.column == column]
    assert hits and any(message in p.message for p in hits), problems
    with pytest.raises(ExtractionError, match=rf"{table}\.csv, row {line}, column '{column}'"):
        load_frames(tables, SCHEMA)


def test_unknown_column_is_named(tables):
    path = tables / "arms.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False).assign(colour="red")
    df.to_csv(path, index=False)
    problems = validate(tables, SCHEMA)
    assert any(p.column == "colour" and "unknown column" in p.message for p in problems)
