"""Pipeline speed and reproducibility figures (prints; asserts nothing).

Runs the whole pipeline in two fresh copies of the project (as after `make setup`), then:
  * time of a full run from clean (goal: < 60 s on 2 cores),
  * time of a no-op rerun (goal: < 3 s) and that Snakemake had nothing to do,
  * which rules rerun after editing one extraction row (goal: only what depends on it),
  * whether two clean runs give byte-identical tables, SVGs and report.

Usage: .venv/bin/python bench/pipeline.py [--cores 2] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
COPY = ["Snakefile", "config.yaml", "workflow", "data/raw", "notebooks"]


def copy_project(dest: Path) -> Path:
    for item in COPY:
        src, dst = ROOT / item, dest / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    return dest


def snakemake(cwd: Path, cores: int, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    out = subprocess.run([str(SNAKEMAKE), "--cores", str(cores), *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"snakemake failed in {cwd}:\n{out.stderr[-3000:]}")
    return elapsed, out


def rules_in(text: str) -> list[str]:
    return sorted(set(re.findall(r"^(?:local)?rule (\w+):", text, flags=re.M)) - {"all"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="evsynth-bench-"))
    a, b = copy_project(tmp / "a"), copy_project(tmp / "b")

    full, _ = snakemake(a, args.cores, "all")
    noop, out = snakemake(a, args.cores, "all")
    nothing = "Nothing to be done" in out.stdout + out.stderr
    full_b, _ = snakemake(b, args.cores, "all")

    outcomes = a / "data/raw/extraction/outcomes.csv"
    with open(outcomes, newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][rows[0].index("notes")] += " (edited)"
    with open(outcomes, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    _, dry = snakemake(a, args.cores, "all", "-n")
    rerun = rules_in(dry.stdout + dry.stderr)
    edit, _ = snakemake(a, args.cores, "all")

    compare = [p.relative_to(b) for p in sorted((b / "data/processed").rglob("*")) if p.is_file()]
    compare += [p.relative_to(b) for p in sorted((b / "results/figures").rglob("*.svg"))]
    compare.append(Path("results/report.html"))
    outcomes.write_text((b / "data/raw/extraction/outcomes.csv").read_text())  # undo the edit, rerun
    snakemake(a, args.cores, "all")
    differ = [str(p) for p in compare if not filecmp.cmp(a / p, b / p, shallow=False)]

    print(f"full run from clean      : {full:6.1f} s  (second copy {full_b:.1f} s; goal < 60 s on {args.cores} cores)")
    print(f"no-op rerun              : {noop:6.1f} s  (nothing to be done: {nothing}; goal < 3 s)")
    print(f"one extraction row edited: {edit:6.1f} s  reran: {', '.join(rerun)}")
    print(f"identical bytes, 2 clean runs: {len(compare) - len(differ)}/{len(compare)} files"
          + (f"; differ: {', '.join(differ)}" if differ else ""))
    if args.keep:
        print(f"copies kept in {tmp}")
    else:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
