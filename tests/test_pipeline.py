"""End to end: the pipeline runs on the shipped snapshot, twice from clean to the same bytes;
a no-op rerun does nothing; editing one extraction row reruns only what depends on it; the report
renders in headless Chromium with every figure and no console errors.

The pipeline runs in a copy of the project under tmp_path, so the working tree is never touched.
"""

from __future__ import annotations

import csv
import filecmp
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
COPY = ["Snakefile", "config.yaml", "workflow", "data/raw", "notebooks"]
pytestmark = pytest.mark.slow


def _copy_project(dest: Path) -> Path:
    for item in COPY:
        src, dst = ROOT / item, dest / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    return dest


def _snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SNAKEMAKE), "--cores", "2", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    project = _copy_project(tmp_path_factory.mktemp("run_a"))
    out = _snakemake(project, "all")
    assert out.returncode == 0, out.stderr[-4000:]
    return project


@pytest.fixture(scope="module")
def run_b(tmp_path_factory):
    project = _copy_project(tmp_path_factory.mktemp("run_b"))
    (project / "no_notebooks.yaml").write_text("report:\n  notebooks: false\n")  # tables, SVGs, report only
    out = _snakemake(project, "all", "--configfile", "config.yaml", "no_notebooks.yaml")
    assert out.returncode == 0, out.stderr[-4000:]
    return project


def test_outputs_exist(run_a):
    for rel in ["results/report.html", "data/processed/pooled.csv", "data/processed/effects.csv",
                "data/processed/prisma.json", "data/processed/exports/included.ris",
                "data/processed/exports/included.bib", "data/processed/exports/effects_metafor.csv",
                "results/notebooks/02_meta_analysis.html", "results/figures/onset.svg",
                "results/figures/prisma.png"]:
        assert (run_a / rel).is_file(), rel


def test_two_clean_runs_give_identical_bytes(run_a, run_b):
    tables = sorted(p.relative_to(run_a) for p in (run_a / "data" / "processed").rglob("*") if p.is_file())
    svgs = sorted(p.relative_to(run_a) for p in (run_a / "results" / "figures").rglob("*.svg"))
    assert tables and svgs
    different = [str(p) for p in tables + svgs + [Path("results/report.html")]
                 if not filecmp.cmp(run_a / p, run_b / p, shallow=False)]
    assert different == []


def test_noop_rerun_and_one_row_edit(run_a):
    dry = _snakemake(run_a, "all", "-n", "--quiet", "rules")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    outcomes = run_a / "data/raw/extraction/outcomes.csv"
    with open(outcomes, newline="") as fh:
        rows = list(csv.reader(fh))
    notes = rows[0].index("notes")
    rows[1][notes] = "edited " + rows[1][notes]  # one cell of one row (a dry run follows)
    with open(outcomes, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    dry = _snakemake(run_a, "all", "-n")
    text = dry.stdout + dry.stderr
    rerun = set(re.findall(r"^rule (\w+):", text, flags=re.M)) | set(re.findall(r"^localrule (\w+):", text,
                                                                                   flags=re.M))
    assert {"effects", "pool", "figures", "report"} <= rerun
    assert not {"parse_records", "screen"} & rerun


def test_report_renders_in_chromium(run_a, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed: run `make test` (it installs Debian's chromium)"
    report = run_a / "results" / "report.html"
    out = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    console_errors = [line for line in out.stderr.splitlines() if "CONSOLE" in line and "ERROR" in line.upper()]
    assert console_errors == []
    figures = set(re.findall(r'data-figure="([^"]+)"', dom))
    assert {"onset", "duration", "side_effects", "prisma", "risk_of_bias"} <= figures
    assert dom.count("<svg") >= len(figures)
    assert "was not produced" not in dom


def test_live_mode_against_local_stub(tmp_path):
    """mode: live fetches through E-utilities (a stub on 127.0.0.1) into the snapshot's layout."""
    import os

    sys.path.insert(0, str(Path(__file__).parent))
    from eutils_stub import EutilsStub, make_records

    project = _copy_project(tmp_path / "live")
    (project / "live.yaml").write_text("pubmed:\n  mode: live\n  live_dir: data/raw/pubmed-live\n  batch_size: 2\n")
    pmids = ["31000001", "31000002", "31000003", "31000004", "31000005"]
    env = os.environ | {"EVSYNTH_THROTTLE_DIR": str(tmp_path / "throttle"), "CI": "1",
                        "NCBI_API_KEY": "SECRET-KEY-0123456789", "EVSYNTH_RETRIEVAL_DATE": "2026-11-21"}
    with EutilsStub(make_records(pmids)) as stub:
        env["EVSYNTH_EUTILS_URL"] = stub.url
        out = subprocess.run([str(SNAKEMAKE), "--cores", "1", "data/processed/records.csv",
                              "data/processed/search.json", "--configfile", "config.yaml", "live.yaml"],
                             cwd=project, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    live = project / "data/raw/pubmed-live"
    assert sorted(p.name for p in live.glob("*.xml")) == ["batch_00000.xml", "batch_00001.xml", "batch_00002.xml"]
    records = (project / "data/processed/records.csv").read_text()
    assert all(p in records for p in pmids)
    search = (project / "data/processed/search.json").read_text()
    assert '"mode": "live"' in search and '"count": 5' in search
    leaked = [p for p in list(live.rglob("*")) + list((project / "data/processed").rglob("*"))
              if p.is_file() and b"SECRET-KEY" in p.read_bytes()]
    assert leaked == [] and "SECRET-KEY" not in out.stdout + out.stderr


@pytest.fixture(scope="module")
def run_excluded(tmp_path_factory):
    """Daly2018 (pooled in every onset analysis) excluded by a manual screening decision."""
    project = _copy_project(tmp_path_factory.mktemp("run_excluded"))
    decisions = project / "data/raw/screening/decisions.csv"
    text = decisions.read_text()
    assert "29282469,include,primary_report,Daly2018," in text
    decisions.write_text(text.replace("29282469,include,primary_report,Daly2018,",
                                      "29282469,exclude,wrong_population,Daly2018,"))
    (project / "no_notebooks.yaml").write_text("report:\n  notebooks: false\n")
    out = _snakemake(project, "all", "--configfile", "config.yaml", "no_notebooks.yaml")
    assert out.returncode == 0, out.stderr[-4000:]
    return project


def test_excluded_study_appears_nowhere_downstream(run_a, run_excluded):
    """Screening gates everything: before, effects and pooling read the curated tables directly."""
    assert b"Daly2018" in (run_a / "data/processed/pooled_studies.csv").read_bytes()  # pooled when included
    downstream = [p for p in (run_excluded / "data/processed").rglob("*") if p.is_file()]
    downstream += [p for p in (run_excluded / "results/figures").rglob("*.svg")]
    allowed = {"screening.csv", "study_status.csv", "records.csv", "prisma.json"}
    leaked = [str(p.relative_to(run_excluded)) for p in downstream
              if p.name not in allowed and b"Daly2018" in p.read_bytes()]
    assert leaked == []
    status = (run_excluded / "data/processed/study_status.csv").read_text()
    assert 'Daly2018,excluded,"wrong_population (PMID 29282469, eligibility)",29282469' in status
    report = (run_excluded / "results/report.html").read_text()
    excluded = report.split("Extracted studies excluded at screening or awaiting a decision (1)")[1]
    assert "Daly2018" in excluded.split("</table>")[0] and "wrong_population" in excluded.split("</table>")[0]
    assert report.count("Daly2018") == excluded.split("</table>")[0].count("Daly2018") + report.split(
        "Extracted studies excluded")[0].count("Daly2018")


def test_missing_or_renamed_extraction_input_stops_the_run(run_excluded):
    """After a run, a deleted contrasts.csv or a typo in extraction.dir used to give "Nothing to be done"."""
    contrasts = run_excluded / "data/raw/extraction/contrasts.csv"
    moved = contrasts.with_name("contrasts.bak")
    contrasts.rename(moved)
    try:
        out = _snakemake(run_excluded, "all", "-n", "--configfile", "config.yaml", "no_notebooks.yaml")
        assert out.returncode != 0
        assert "config: extraction.dir: table file data/raw/extraction/contrasts.csv not found" in out.stdout + out.stderr
    finally:
        moved.rename(contrasts)
    (run_excluded / "typo.yaml").write_text("extraction:\n  dir: data/raw/extractoin\n")
    out = _snakemake(run_excluded, "all", "-n", "--configfile", "config.yaml", "no_notebooks.yaml", "typo.yaml")
    assert out.returncode != 0
    assert "config: extraction.dir: folder 'data/raw/extractoin' not found" in out.stdout + out.stderr


@pytest.mark.parametrize("damage", ["empty", "nul"])
def test_corrupt_processed_table_is_rebuilt(run_excluded, damage):
    """A processed table emptied or filled with NUL bytes (mtime kept) used to be read back as valid."""
    import os

    path = run_excluded / "data/processed/effects.csv"
    good = path.read_bytes()
    stat = path.stat()
    path.write_bytes(b"" if damage == "empty" else b"\x00" * len(good))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    out = _snakemake(run_excluded, "all", "--configfile", "config.yaml", "no_notebooks.yaml")
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert "data/processed/effects.csv" in text and "rebuilt in this run" in text
    assert path.read_bytes() == good


def test_changed_setting_reruns_the_analysis(run_excluded):
    """The plan reaches the rules as an object, which Snakemake does not compare: its digest (plain
    text) does, so a changed setting reruns every step that receives the plan."""
    (run_excluded / "level90.yaml").write_text("analysis:\n  level: 90\n")
    dry = _snakemake(run_excluded, "all", "-n", "--configfile", "config.yaml", "no_notebooks.yaml", "level90.yaml")
    text = dry.stdout + dry.stderr
    rerun = set(re.findall(r"^(?:local)?rule (\w+):", text, flags=re.M))
    assert {"effects", "pool", "multiverse", "benchmarks", "report"} <= rerun, text[-2000:]
