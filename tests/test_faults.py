"""Bad inputs and faults, the way a user makes them, through the README's commands.

Each case runs in a copy of the project (``git ls-files``, taken once per session; ``.venv`` shared,
the copy's own ``src`` first on ``PYTHONPATH``) and goes through
``evsynth run`` (what ``make report`` calls) or the CLI (``evsynth validate / parse / fetch``). Each
asserts: non-zero exit, a one-line message naming what is wrong and where, no ``Traceback`` in what
the user sees, and that nothing stale is reused (the failed step's outputs are gone; a fixed or
resumed run gives the clean run's bytes).

One clean pipeline run (notebooks off, for speed) is shared by the whole module; cases that need
built outputs start from a copy of it. """

from __future__ import annotations

import csv
import filecmp
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from evsynth.io import current_umask
from evsynth.runner import RunLock

ROOT = Path(__file__).resolve().parents[1]
# the project copied into each case (another checkout can be tried with EVSYNTH_FAULTS_SOURCE)
SOURCE = Path(os.environ.get("EVSYNTH_FAULTS_SOURCE") or ROOT)
BIN = Path(sys.executable).parent
EVSYNTH = BIN / "evsynth"
CORES = os.environ.get("CORES") or "2"
NO_NOTEBOOKS = "no_notebooks.yaml"
EXTRACTION = Path("data/raw/extraction")
SKIP_DIRS = {".git", ".venv", ".snakemake", ".cache", "logs", "results", "__pycache__", ".pytest_cache",
             ".ruff_cache", ".hypothesis"}


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


# -- project copies ---------------------------------------------------------------------------
def _project_files(source: Path) -> list[str]:
    if (source / ".git").exists():
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=source, capture_output=True, check=True)
        names = [n for n in out.stdout.decode().split("\0") if n]
    else:
        names = [str(p.relative_to(source)) for p in source.rglob("*") if p.is_file() or p.is_symlink()]
    skip = SKIP_DIRS | {"data/processed"}
    return [n for n in names if not any(n == s or n.startswith(s + "/") for s in skip)
            and (source / n).is_file()]


def copy_project(dest: Path, source: Path = SOURCE) -> Path:
    """A fresh copy of the project's files in ``dest`` (no derived outputs), sharing ``.venv``."""
    for name in _project_files(source):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    (dest / NO_NOTEBOOKS).write_text("report:\n  notebooks: false\n")
    return dest


def clone_built(built: Path, dest: Path) -> Path:
    """A copy of a (built) project: outputs, Snakemake's records and mtimes kept, ``.venv`` shared."""
    shutil.copytree(built, dest, symlinks=True, ignore=shutil.ignore_patterns("locks", "evsynth-run.pid"))
    return dest


def derived_files(project: Path) -> dict[str, Path]:
    files = {}
    for folder in ("data/processed", "results"):
        for p in sorted((project / folder).rglob("*")):
            if p.is_file() and p.name != ".snakemake_timestamp":
                files[str(p.relative_to(project))] = p
    return files


def assert_same_outputs(project: Path, clean: Path) -> None:
    mine, ref = derived_files(project), derived_files(clean)
    assert sorted(mine) == sorted(ref)
    different = [n for n in ref if not filecmp.cmp(mine[n], ref[n], shallow=False)]
    assert different == []


# -- running the commands ---------------------------------------------------------------------
def _drop_root_file_powers() -> None:
    """In the child: as root, drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH so that file modes apply."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _own_code(project: Path) -> dict[str, str]:
    """Run a copy with its own copy of the package, so that one session sees one version of the code."""
    src = project / "src"
    return {"PYTHONPATH": str(src)} if (src / "evsynth" / "__init__.py").is_file() else {}


def run(cwd: Path, *args: str, env: dict | None = None, as_user: bool = False,
        timeout: float = 600) -> subprocess.CompletedProcess:
    environ = os.environ | {"CORES": CORES} | _own_code(cwd) | (env or {})
    return subprocess.run([str(EVSYNTH), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=environ, check=False, preexec_fn=_drop_root_file_powers if as_user else None)


def pipeline(project: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    """``evsynth run`` as ``make report`` calls it (notebooks off, for speed)."""
    return run(project, "run", "--cores", CORES, "--configfile", NO_NOTEBOOKS, *args, **kw)


def assert_one_line(result: subprocess.CompletedProcess, *needles: str | tuple[str, ...],
                    lines: int | None = 1) -> str:
    """Non-zero exit, no traceback, and a line of output naming every needle; returns that line.

    ``lines``: at most this many lines shown, besides a closing count such as ``3 problem(s)``
    (None: any number, e.g. one per bad row).
    """
    shown = result.stdout + result.stderr
    assert result.returncode != 0, shown
    assert "Traceback" not in shown, shown
    said = [ln for ln in shown.splitlines() if ln.strip() and not re.match(r"^\d+ problem\(s\)", ln)]
    hits = [ln for ln in said if all(_names(ln, n) for n in needles)]
    assert hits, f"no line names {needles!r}:\n{shown}"
    if lines is not None:
        assert len(said) <= lines, shown
    return hits[0]


def _names(line: str, needle: str | tuple[str, ...]) -> bool:
    """``line`` contains ``needle`` (case-insensitive); a tuple of needles means any one of them."""
    options = needle if isinstance(needle, tuple) else (needle,)
    return any(n.lower() in line.lower() for n in options)


MISSING = ("missing", "not found", "no such file")


def has_row(line: str) -> bool:
    return re.search(r"\b(row|line) \d+", line) is not None


# -- editing inputs ---------------------------------------------------------------------------
def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def set_cell(path: Path, column: str, value: str, where=lambda row: True) -> int:
    """Set ``column`` of the first data row matching ``where``; return its line number (header = 1)."""
    rows = read_rows(path)
    col = rows[0].index(column)
    for i, row in enumerate(rows[1:], start=2):
        record = dict(zip(rows[0], row, strict=False))
        if where(record):
            row[col] = value
            write_rows(path, rows)
            return i
    raise LookupError(f"no row of {path} matches")


def touch_note(path: Path) -> None:
    """Change one free-text cell (content changes, numbers do not)."""
    rows = read_rows(path)
    rows[1][rows[0].index("notes")] += " (checked)"
    write_rows(path, rows)


def corrupt_keeping_mtime(path: Path, data: bytes) -> None:
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


# -- shared state -----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pristine(tmp_path_factory) -> Path:
    """The project's files as the session found them: every case copies this one snapshot."""
    return copy_project(tmp_path_factory.mktemp("pristine"))


@pytest.fixture(scope="session")
def clean(pristine, tmp_path_factory) -> Path:
    """The pipeline built once from a fresh copy with the README's command (notebooks off)."""
    project = clone_built(pristine, tmp_path_factory.mktemp("clean") / "p")
    out = pipeline(project)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("evsynth run: ") and out.stderr == ""
    return project


@pytest.fixture
def project(pristine, tmp_path) -> Path:
    """A fresh copy of the project, nothing built."""
    return clone_built(pristine, tmp_path / "p")


@pytest.fixture
def built(clean, tmp_path) -> Path:
    """A copy of the clean, built project: everything up to date."""
    return clone_built(clean, tmp_path / "b")


# =============================================================================================
# Extraction tables through `evsynth validate` (the README's check) — cheap, no Snakemake
# =============================================================================================
def validate(project: Path) -> subprocess.CompletedProcess:
    return run(project, "validate", str(EXTRACTION))


def test_validate_clean_tables_pass(project):
    out = validate(project)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_bad_number(project):
    set_cell(project / EXTRACTION / "outcomes.csv", "mean", "abc", lambda r: r["mean"] != "")
    hit = assert_one_line(validate(project), "outcomes.csv", "mean", "abc", lines=3)
    assert has_row(hit)


def test_negative_sd(project):
    set_cell(project / EXTRACTION / "outcomes.csv", "sd", "-3", lambda r: r["sd"] != "")
    hit = assert_one_line(validate(project), "outcomes.csv", "sd", lines=3)
    assert has_row(hit)


def test_unknown_study_id(project):
    set_cell(project / EXTRACTION / "arms.csv", "study_id", "Nobody2099")
    hit = assert_one_line(validate(project), "arms.csv", "Nobody2099", lines=None)
    assert has_row(hit)


def test_unknown_arm_id(project):
    set_cell(project / EXTRACTION / "outcomes.csv", "arm_id", "ghost_arm")
    hit = assert_one_line(validate(project), "outcomes.csv", "ghost_arm", lines=None)
    assert has_row(hit)


def test_unknown_column(project):
    path = project / EXTRACTION / "outcomes.csv"
    rows = read_rows(path)
    write_rows(path, [r + (["colour"] if i == 0 else ["blue"]) for i, r in enumerate(rows)])
    assert_one_line(validate(project), "outcomes.csv", "colour")


def test_missing_required_column(project):
    path = project / EXTRACTION / "arms.csv"
    rows = read_rows(path)
    col = rows[0].index("role")
    write_rows(path, [r[:col] + r[col + 1:] for r in rows])
    assert_one_line(validate(project), "arms.csv", "role")


def test_bad_enum_value(project):
    set_cell(project / EXTRACTION / "outcomes.csv", "timepoint_unit", "fortnights")
    hit = assert_one_line(validate(project), "outcomes.csv", "timepoint_unit", lines=3)
    assert has_row(hit)


def test_events_greater_than_n(project):
    set_cell(project / EXTRACTION / "adverse_events.csv", "events", "9999")
    hit = assert_one_line(validate(project), "adverse_events.csv", "events", lines=3)
    assert has_row(hit)


def test_events_greater_than_n_in_outcomes(project):
    set_cell(project / EXTRACTION / "outcomes.csv", "events", "9999", lambda r: r["events"] != "")
    hit = assert_one_line(validate(project), "outcomes.csv", "events", lines=3)
    assert has_row(hit)


def test_duplicate_study_id(project):
    path = project / EXTRACTION / "studies.csv"
    rows = read_rows(path)
    write_rows(path, rows + [rows[1]])
    assert_one_line(validate(project), "studies.csv", rows[1][0], lines=None)


def test_accented_study_id_states_the_rule(project):
    set_cell(project / EXTRACTION / "studies.csv", "study_id", "Dály2018")
    out = validate(project)
    hit = assert_one_line(out, "studies.csv", "Dály2018", lines=None)
    assert has_row(hit)
    assert "^[" not in out.stderr and "\\d" not in out.stderr and len(out.stderr.splitlines()) <= 5


def test_p_value_above_one_states_the_rule(project):
    set_cell(project / EXTRACTION / "contrasts.csv", "p", "1.5")
    out = validate(project)
    hit = assert_one_line(out, "contrasts.csv", "1.5", lines=3)
    assert has_row(hit) and "^[" not in out.stderr


def test_utf8_bom_is_accepted(project):
    path = project / EXTRACTION / "outcomes.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    out = validate(project)
    assert out.returncode == 0, out.stderr
    assert "study_id" not in out.stderr


def test_crlf_line_ends_are_accepted(project):
    path = project / EXTRACTION / "arms.csv"
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    out = validate(project)
    assert out.returncode == 0, out.stderr


def test_latin1_byte_names_file_line_and_byte(project):
    path = project / EXTRACTION / "studies.csv"
    data = path.read_bytes().split(b"\n")
    data[3] = data[3] + b"\xe9"  # one Latin-1 'e acute' at the end of line 4
    path.write_bytes(b"\n".join(data))
    hit = assert_one_line(validate(project), "studies.csv", "byte")
    assert re.search(r"\b(row|line) 4\b", hit) and "UnicodeDecodeError" not in hit


def test_header_only_outcomes_table(project):
    path = project / EXTRACTION / "outcomes.csv"
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    assert_one_line(validate(project), "outcomes.csv", lines=3)


def test_empty_file_without_header(project):
    (project / EXTRACTION / "contrasts.csv").write_bytes(b"")
    assert_one_line(validate(project), "contrasts.csv", lines=3)


def test_missing_table_file(project):
    (project / EXTRACTION / "arms.csv").unlink()
    assert_one_line(validate(project), "arms.csv", lines=3)


def test_validate_missing_folder_names_the_folder(project):
    out = run(project, "validate", "data/raw/no_such_folder")
    hit = assert_one_line(out, "no_such_folder")
    assert "schema" not in hit


# =============================================================================================
# PubMed XML, RIS and MEDLINE text through `evsynth parse`
# =============================================================================================
def parse(cwd: Path, *files: str) -> subprocess.CompletedProcess:
    return run(cwd, "parse", "--out", "out/records.csv", *files)


def test_parse_truncated_xml(tmp_path):
    (tmp_path / "batch.xml").write_text('<?xml version="1.0"?>\n<PubmedArticleSet>\n<PubmedArticle>\n'
                                        "<MedlineCitation><PMID>1</PMID>\n")
    assert_one_line(parse(tmp_path, "batch.xml"), "batch.xml")
    assert not (tmp_path / "out" / "records.csv").exists()


def test_parse_not_xml(tmp_path):
    (tmp_path / "batch.xml").write_text("<html><body>Service unavailable</body>\n")
    assert_one_line(parse(tmp_path, "batch.xml"), "batch.xml")
    assert not (tmp_path / "out" / "records.csv").exists()


def test_parse_entity_bomb_is_refused(tmp_path):
    lol = ['<!ENTITY a0 "lol">']
    lol += [f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
    (tmp_path / "bomb.xml").write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [\n' + "\n".join(lol)
        + "\n]>\n<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID>"
        "<Article><ArticleTitle>&a9;</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
        "</PubmedArticleSet>\n")
    out = parse(tmp_path, "bomb.xml")
    assert_one_line(out, "bomb.xml")
    assert "lollollol" not in out.stdout + out.stderr


def test_parse_external_entity_is_not_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    (tmp_path / "xxe.xml").write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>12345</PMID><Article><ArticleTitle>&x;"
        "</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>\n")
    out = parse(tmp_path, "xxe.xml")
    assert "Traceback" not in out.stdout + out.stderr
    table = tmp_path / "out" / "records.csv"
    written = table.read_text() if table.exists() else ""
    assert "TOP-SECRET-VALUE" not in out.stdout + out.stderr + written


def test_parse_ris_orphan_line(tmp_path):
    (tmp_path / "embase.ris").write_text("TY  - JOUR\nAU  - Smith, J\nARG garbage\nTI  - A trial\nER  - \n")
    hit = assert_one_line(parse(tmp_path, "embase.ris"), "embase.ris", "line 3")
    assert "Traceback" not in hit
    assert not (tmp_path / "out" / "records.csv").exists()


def test_parse_medline_orphan_line(tmp_path):
    (tmp_path / "pubmed.nbib").write_text("PMID- 12345\nTI  - A trial of\n      ketamine\n<b>html</b>\n"
                                          "AU  - Smith J\n\n")
    assert_one_line(parse(tmp_path, "pubmed.nbib"), "pubmed.nbib", "line 4")


def test_parse_nbib_latin1_byte(tmp_path):
    (tmp_path / "pubmed.nbib").write_bytes(b"PMID- 12345\nTI  - Caf\xe9 trial\nAU  - Smith J\n\n")
    hit = assert_one_line(parse(tmp_path, "pubmed.nbib"), "pubmed.nbib", "byte")
    assert re.search(r"\b(row|line) 2\b", hit) and "UnicodeDecodeError" not in hit


def test_parse_missing_file(tmp_path):
    assert_one_line(parse(tmp_path, "nowhere.ris"), "nowhere.ris")


def test_parse_unknown_format(tmp_path):
    (tmp_path / "export.docx").write_bytes(b"PK\x03\x04 not a records export")
    assert_one_line(parse(tmp_path, "export.docx"), "export.docx")


def test_parse_into_read_only_folder(tmp_path):
    (tmp_path / "ok.ris").write_text("TY  - JOUR\nAU  - Smith, J\nTI  - A trial\nPY  - 2020\nER  - \n")
    (tmp_path / "out").mkdir()
    os.chmod(tmp_path / "out", 0o555)
    try:
        out = run(tmp_path, "parse", "--out", "out/records.csv", "ok.ris", as_user=True)
    finally:
        os.chmod(tmp_path / "out", 0o755)
    assert_one_line(out, "out/records.csv")
    assert list((tmp_path / "out").iterdir()) == []


# =============================================================================================
# E-utilities through `evsynth fetch` — a closed port on 127.0.0.1, never the network
# =============================================================================================
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def fetch(tmp_path: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    url = f"http://127.0.0.1:{_closed_port()}/entrez/eutils/"
    return run(tmp_path, "fetch", "--query", "ketamine AND depression", "--out", "snap", "--eutils-url", url,
               "--max-retries", "0", "--timeout", "2",
               *extra, env=env, timeout=120)


def test_fetch_unreachable_server(tmp_path):
    out = fetch(tmp_path)
    assert_one_line(out, "127.0.0.1")
    assert not (tmp_path / "snap" / "search.json").exists()


def test_fetch_never_shows_the_api_key(tmp_path):
    key = "abcdef0123456789abcdef0123456789ab"
    out = fetch(tmp_path, env={"NCBI_API_KEY": key})
    assert_one_line(out, "127.0.0.1")
    assert key not in out.stdout + out.stderr
    for p in tmp_path.rglob("*"):
        assert not p.is_file() or key not in p.read_text(errors="replace"), p


def test_fetch_bad_batch_size(tmp_path):
    out = fetch(tmp_path, "--batch-size", "0")
    assert_one_line(out, "batch")


def test_fetch_half_a_date_range(tmp_path):
    assert_one_line(fetch(tmp_path, "--mindate", "2020/01/01"), "--maxdate")


# =============================================================================================
# Configuration through `evsynth run` (Snakemake stops before any step: seconds)
# =============================================================================================
@pytest.mark.parametrize(("settings", "expected"), [
    ("colour: blue", "config: colour: unknown key"),
    ("analysis: {methd: REML}", "config: analysis.methd: unknown key"),
    ("analysis: {method: REMLX}", "config: analysis.method: 'REMLX' is not one of ["),
    ("analysis: {level: 150}", "config: analysis.level:"),
    ("analysis: {test: t}", "config: analysis.test: 't' is not one of"),
    ("pubmed: {mode: offline}", "config: pubmed.mode: 'offline' is not one of"),
], ids=["unknown-key", "nested-typo", "bad-method", "bad-level", "bad-test", "bad-mode"])
def test_config_errors(project, settings, expected):
    (project / "my_settings.yaml").write_text(settings + "\n")
    out = pipeline(project, "--configfile", "my_settings.yaml")
    hit = assert_one_line(out, expected)
    assert hit.startswith(expected)
    assert not (project / "data" / "processed").exists()


def test_config_error_given_on_the_command_line(project):
    out = pipeline(project, "--config", "analysis={method: REMLX}")
    assert_one_line(out, "config: analysis.method: 'REMLX' is not one of [")


@pytest.mark.parametrize(("change", "expected"), [
    ({"hi": "soon"}, "config: analysis.windows[1].hi:"),
    ({"lo": 10, "hi": 5}, "config: analysis.windows[1]"),
], ids=["window-not-a-number", "window-upside-down"])
def test_config_bad_window(project, change, expected):
    """One window of config.yaml's plan edited (the others kept, so nothing else is affected)."""
    config = yaml.safe_load((project / "config.yaml").read_text(encoding="utf-8"))
    windows = config["analysis"]["windows"]
    windows[1].update(change)
    (project / "my_settings.yaml").write_text(yaml.safe_dump({"analysis": {"windows": windows}}))
    out = pipeline(project, "--configfile", "my_settings.yaml")
    assert_one_line(out, expected)
    assert not (project / "data" / "processed").exists()


def test_config_not_yaml(project):
    with open(project / "config.yaml", "a", encoding="utf-8") as fh:
        fh.write("analysis: [unclosed\n")
    out = pipeline(project)
    hit = assert_one_line(out, "config.yaml", "line ", "column ")
    assert "not valid YAML" in hit


def test_config_file_missing(project):
    out = run(project, "run", "--configfile", "my_settings.yaml")
    assert_one_line(out, "my_settings.yaml", "no such file")


def test_make_report_shows_the_config_error(project):
    """The README's own command: `make report` (set-up skipped: .venv is shared, not rebuilt)."""
    stamp = ROOT / ".venv" / ".evsynth-installed"
    (project / "config.yaml").write_text((project / "config.yaml").read_text().replace("method: REML",
                                                                                       "method: REMLX", 1))
    make = ["make", "-s", "report", f"VENV={ROOT / '.venv'}", "-o", str(stamp), f"CORES={CORES}"]
    out = subprocess.run(make, env=os.environ | _own_code(project),
                         cwd=project, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode != 0
    assert "Traceback" not in out.stdout + out.stderr
    ours = [ln for ln in out.stderr.splitlines() if not ln.startswith("make")]  # make adds "Error 1"
    assert len(ours) == 1, out.stderr
    assert ours[0].startswith("config: analysis.method: 'REMLX' is not one of [")
    assert out.stdout == ""


def test_missing_extraction_table_before_first_run(project):
    (project / EXTRACTION / "arms.csv").unlink()
    out = pipeline(project)
    assert_one_line(out, "data/raw/extraction/arms.csv", MISSING)


def test_missing_extra_records_file(project):
    out = pipeline(project, "--config", "extra_records=[exports/embase.ris]")
    assert_one_line(out, "exports/embase.ris", MISSING)


def test_missing_screening_decisions(project):
    (project / "data/raw/screening/decisions.csv").unlink()
    out = pipeline(project)
    assert_one_line(out, "data/raw/screening/decisions.csv", MISSING)


# =============================================================================================
# Pipeline steps through `evsynth run` (from a copy of the clean build)
# =============================================================================================
@pytest.mark.slow
def test_run_bad_number(built):
    path = built / EXTRACTION / "outcomes.csv"
    set_cell(path, "mean", "abc", lambda r: r["mean"] != "")
    out = pipeline(built)
    hit = assert_one_line(out, "extract:", "outcomes.csv", "mean", "logs/extract.log", lines=3)
    assert has_row(hit)
    assert not (built / "data/processed/studies.csv").exists()  # no stale studies table left to reuse
    assert "FAILED extract:" in (built / "logs/extract.log").read_text()


@pytest.mark.slow
def test_run_unknown_study_id(built):
    set_cell(built / EXTRACTION / "arms.csv", "study_id", "Nobody2099")
    out = pipeline(built)
    assert_one_line(out, "extract:", "arms.csv", "Nobody2099", "logs/extract.log", lines=None)
    assert not (built / "data/processed/studies.csv").exists()


@pytest.mark.slow
def test_run_extra_records_with_garbage_line(built):
    (built / "extra.ris").write_text("TY  - JOUR\nAU  - Smith, J\nARG garbage\nTI  - A trial\nER  - \n")
    out = pipeline(built, "--config", "extra_records=[extra.ris]")
    assert_one_line(out, "parse_records:", "extra.ris", "line 3", "logs/parse_records.log")
    assert not (built / "data/processed/records.csv").exists()


@pytest.mark.slow
def test_run_truncated_pubmed_batch(built):
    batch = min((built / "data/raw/pubmed").glob("*.xml"))
    batch.write_bytes(batch.read_bytes()[: len(batch.read_bytes()) // 2])
    out = pipeline(built)
    assert_one_line(out, "parse_records:", batch.name, "logs/parse_records.log")
    assert not (built / "data/processed/records.csv").exists()


@pytest.mark.slow
def test_run_deleted_extraction_table_is_not_ignored(built):
    (built / EXTRACTION / "arms.csv").unlink()
    out = pipeline(built)
    assert_one_line(out, "arms.csv")


@pytest.mark.slow
@pytest.mark.parametrize(("table", "data"), [("screening.csv", b""),
                                             ("exports/effects_metafor.csv", b"\x00" * 4096)],
                         ids=["screening-emptied", "export-nul-bytes"])
def test_run_corrupt_processed_table(built, clean, table, data):
    """A processed table corrupted in place, its mtime kept, is never reused: rebuilt, or named."""
    corrupt_keeping_mtime(built / "data/processed" / table, data)
    out = pipeline(built)
    assert "Traceback" not in out.stdout + out.stderr
    if out.returncode == 0:  # rebuilt, with everything made from it: the clean run's bytes again
        assert_same_outputs(built, clean)
    else:
        assert_one_line(out, f"data/processed/{table}", lines=3)


@pytest.mark.slow
def test_run_read_only_processed_folder(built):
    touch_note(built / EXTRACTION / "outcomes.csv")
    folder = built / "data/processed"
    os.chmod(folder, 0o555)
    try:
        out = pipeline(built, as_user=True)
    finally:
        os.chmod(folder, 0o755)
    assert_one_line(out, "data/processed/", "permission denied", lines=3)


@pytest.mark.slow
def test_run_read_only_results_folder(built):
    (built / "results/report.html").unlink()  # only the report step has to run
    folder = built / "results"
    os.chmod(folder, 0o555)
    try:
        out = pipeline(built, as_user=True)
    finally:
        os.chmod(folder, 0o755)
    assert_one_line(out, "results/", "permission denied", lines=3)
    assert not (built / "results/report.html").exists()


def test_run_read_only_logs_folder(built):
    (built / "logs/snakemake.log").unlink()
    os.chmod(built / "logs", 0o555)
    try:
        out = pipeline(built, as_user=True)
    finally:
        os.chmod(built / "logs", 0o755)
    assert_one_line(out, "logs/snakemake.log", "permission denied")


def test_outputs_have_ordinary_file_permissions(clean):
    """Tables, figures and the report are ordinary files under the user's umask (0644 with 022), not 0600."""
    expected = oct(0o666 & ~current_umask())  # 0o644 under the usual umask 022
    modes = {n: oct(p.stat().st_mode & 0o777) for n, p in derived_files(clean).items()}
    assert modes and set(modes.values()) == {expected}, modes


def test_run_twice_in_parallel_is_refused(built):
    with RunLock(built):
        out = pipeline(built)
    assert_one_line(out, "another run", str(os.getpid()))


def test_stale_lock_after_a_killed_run_is_cleared(built):
    locks = built / ".snakemake" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "0.input.lock").write_text(f"{built}/data/processed/effects.csv\n")
    (locks / "0.output.lock").write_text(f"{built}/data/processed/pooled.csv\n")
    out = pipeline(built)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "evsynth run: outputs are up to date (nothing to do)\n"
    assert not locks.exists() or not any(locks.iterdir())


@pytest.mark.slow
def test_killed_run_rerun_gives_the_clean_bytes(project, clean):
    """SIGKILL `evsynth run` (and its Snakemake and jobs) mid-run; the same command again finishes it."""
    command = [str(EVSYNTH), "run", "--cores", CORES, "--configfile", NO_NOTEBOOKS]
    first = subprocess.Popen(command, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, env=os.environ | {"CORES": CORES} | _own_code(project))
    incomplete = project / ".snakemake" / "incomplete"
    try:
        deadline = time.monotonic() + 600
        # mid-run: records parsed and a later step running
        while not ((project / "data/processed/records.csv").exists() and incomplete.is_dir()
                   and any(incomplete.iterdir())):
            assert first.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # a second `make report` meanwhile is refused with one line
        second = pipeline(project)
        assert_one_line(second, "another run", str(first.pid))
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert any((project / ".snakemake" / "locks").iterdir())  # Snakemake's stale lock is there
    again = pipeline(project)
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""
    assert_same_outputs(project, clean)
    leftovers = [p for p in project.rglob("*.tmp") if ".snakemake" not in p.parts]
    assert leftovers == []
