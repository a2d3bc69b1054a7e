"""Extraction tables: the shipped data validate clean; bad input is reported by file, row and column."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from evsynth.cli import main
from evsynth.extraction.tables import ExtractionError
from evsynth.extraction.validate import load_frames
from evsynth.extraction.validate import validate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "raw" / "extraction"
SCHEMA = ROOT / "src" / "evsynth" / "schemas" / "extraction.schema.yaml"


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
        ("outcomes", {"sd": ...}, "sd", "-1", "must be above 0"),
        ("outcomes", {}, "timepoint_unit", "months", "must be one of 'min', 'h', 'd', 'wk'"),
        ("outcomes", {}, "outcome", "mards", "is not an outcome in vocabulary/outcomes.csv (nearest known: 'madrs')"),
        ("studies", {}, "study_id", "Žarate2006", "study ids are the first author's surname"),
        ("contrasts", {"p": ...}, "p", "1.5", "a p-value as printed: a number from 0 to 1"),
        ("contrasts", {"measure": "HR"}, "reference_arm", "", "must state its reference arm"),
        ("adverse_events", {"use": "yes"}, "use", "no", "mark exactly one 'yes'"),
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


def test_header_only_table_is_an_error(tables):
    """An outcomes.csv emptied to its header used to drop every arm-level effect without a word."""
    path = tables / "outcomes.csv"
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    problems = validate(tables, SCHEMA)
    assert [str(p) for p in problems if "no rows" in p.message] == [f"{path.resolve()}: the table has a header but no rows"]


def test_bom_and_crlf_are_read_identically(tables):
    reference = load_frames(tables, SCHEMA)
    for name in ("studies", "outcomes"):
        path = tables / f"{name}.csv"
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert validate(tables, SCHEMA) == []
    again = load_frames(tables, SCHEMA)
    for name in reference:
        pd.testing.assert_frame_equal(reference[name], again[name])


def test_non_utf8_byte_names_file_line_and_byte(tables):
    path = tables / "arms.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"single", b"s\xe9ngle", 1)
    path.write_bytes(b"\n".join(lines))
    problems = validate(tables, SCHEMA)
    assert [(p.row, p.column) for p in problems] == [(4, None)]  # the CSV line; rows are line numbers
    assert str(problems[0]).endswith(", row 4: byte " + str(problems[0].message.split()[1]) +
                                     " (0xe9) is not UTF-8 (save the file as UTF-8)")


def test_missing_folder_is_named(capsys, tmp_path):
    assert main(["validate", str(tmp_path / "nowhere")]) == 2
    out = capsys.readouterr().out
    assert out.strip() == f"evsynth validate: {tmp_path / 'nowhere'}: extraction folder not found"


def test_two_rows_for_one_term_need_a_marked_row(tables):
    path = tables / "adverse_events.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[df.use != "", "use"] = ""
    df.to_csv(path, index=False, lineterminator="\n")
    problems = [p for p in validate(tables, SCHEMA) if p.column == "use"]
    assert problems and all("mark exactly one 'yes'" in p.message for p in problems)
    assert any("Daly2019 arm 'esk'" in p.message and "'Dizziness postural'" in p.message for p in problems)
