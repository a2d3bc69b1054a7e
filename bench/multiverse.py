"""Benchmark: a multiverse of >= 100,000 specifications on the batch engine (prints; not a test).

A synthetic review of ``--studies`` trials (log-scale effects, per-arm n 20-200, tau2 0.05) is
turned into data selections the way the real multiverse makes them: crossover correlation (3
levels, changing the variances of four paired trials), risk of bias (all / without three trials),
number source (with / without two trials' secondary numbers) and window edges (3 levels, adding
or swapping two trials' results), each with every leave-up-to-``--max-subset``-out study subset,
crossed with 7 estimators x 3 tests. The specifications are fitted by
:func:`evsynth.analyses.multiverse.fit_chunks` and consumed chunk by chunk (nothing but a running
summary and the sampled rows is kept, so memory stays bounded whatever the count).

Prints: the specification count and its factor product, the wall time, specifications per second,
peak RSS, the largest difference from looping evsynth's ``rma`` over a random sample of 200
specifications (must be <= 1e-8), and -- when ``Rscript`` with metafor is available -- the time of
looping metafor's ``rma()`` over the same sample, its largest difference (tight control), and the
ratio (metafor time per fit x specifications) / our wall time.

Usage: python bench/multiverse.py [--studies 20] [--max-subset 2] [--chunk 20000] [--seed 20261130]
"""

from __future__ import annotations

import argparse
import itertools
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from evsynth.analyses import multiverse as M
from evsynth.pooling import rma

METHODS = ("DL", "REML", "PM", "SJ", "ML", "EB", "FE")
TESTS = ("z", "knha", "adhoc")

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
yi <- as.matrix(read.csv(args[1], header = FALSE)); vi <- as.matrix(read.csv(args[2], header = FALSE))
mt <- read.csv(args[3], header = FALSE, stringsAsFactors = FALSE)
tight <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)
n <- nrow(yi); out <- matrix(NA_real_, n, 3)
el <- system.time(for (i in seq_len(n)) {
  keep <- !is.na(yi[i, ])
  f <- tryCatch(suppressWarnings(rma(yi[i, keep], vi[i, keep], method = mt[i, 1], test = mt[i, 2])),
                error = function(e) NULL)
})[["elapsed"]]
for (i in seq_len(n)) {
  keep <- !is.na(yi[i, ])
  f <- tryCatch(suppressWarnings(rma(yi[i, keep], vi[i, keep], method = mt[i, 1], test = mt[i, 2],
                                     control = tight)), error = function(e) NULL)
  if (!is.null(f)) out[i, ] <- c(f$beta, f$se, f$tau2)
}
write.table(out, args[4], sep = ",", row.names = FALSE, col.names = FALSE)
cat(sprintf("%.17g\n", el))
"""


def synthetic_multiverse(n_studies: int, max_subset: int, seed: int) -> M.Multiverse:
    """Selections of a simulated review, built from its data choices (see the module docstring)."""
    rng = np.random.default_rng(seed)
    names = np.array([f"S{i:02d}" for i in range(n_studies + 2)])
    n = rng.integers(20, 201, size=n_studies + 2)
    vi = 4.0 / n
    yi = rng.normal(-0.3, np.sqrt(vi + 0.05))
    paired, high_rob, secondary, late = names[:4], names[4:7], names[7:9], names[n_studies:]
    selections = []
    for r, rob, source, edges in itertools.product((0.2, 0.5, 0.8), ("all", "exclude_high"),
                                                  ("with_secondary", "primary_only"),
                                                  ("plan", "extend_lo", "extend_hi")):
        keep = ~np.isin(names, late)
        if edges == "extend_hi":
            keep |= np.isin(names, late)
        if rob == "exclude_high":
            keep &= ~np.isin(names, high_rob)
        if source == "primary_only":
            keep &= ~np.isin(names, secondary)
        y = yi.copy()
        v = np.where(np.isin(names, paired), vi * 2 * (1 - r) / 0.5, vi)
        if edges == "extend_lo":  # an earlier measurement of two trials
            y[9:11] = y[9:11] * 0.8
        choice = M.DataChoice(crossover_r=r, risk_of_bias=rob, number_source=source, window_edges=edges,
                              comparators=("placebo",))
        sel = M.Selection(choice, y[keep], v[keep], names[keep])
        sel.subsets = M.study_subsets(sel.study, 2, max_subset, 0)
        selections.append(sel)
    return M.Multiverse("synthetic", "24h", "all", "SMD", METHODS, TESTS, selections, level=95.0, min_k=2,
                        factor_levels={"crossover_r": 3, "risk_of_bias": 2, "number_source": 2, "window_edges": 3})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=20)
    ap.add_argument("--max-subset", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=20000)
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261130)
    args = ap.parse_args()

    mv = synthetic_multiverse(args.studies, args.max_subset, args.seed)
    print(f"multiverse: {mv.product()}")
    rng = np.random.default_rng(args.seed + 1)
    wanted = set(rng.choice(mv.n_specs, size=min(args.sample, mv.n_specs), replace=False).tolist())
    rss0 = peak_rss_mb()
    t0 = time.perf_counter()
    n_done = n_pooled = n_unconverged = chunks = 0
    total = 0.0
    sample_rows = []
    for chunk in M.fit_chunks(mv, args.chunk):
        chunks += 1
        n_done += len(chunk)
        ok = chunk.beta.notna()
        n_pooled += int(ok.sum())
        n_unconverged += int((~chunk.converged.astype(bool) & ok).sum())
        total += float(chunk.beta[ok].sum())
        hit = chunk.spec.isin(wanted)
        if hit.any():
            sample_rows.append(chunk[hit])
    wall = time.perf_counter() - t0
    print(f"fitted {n_done:,} specifications ({n_pooled:,} pooled, {n_unconverged} not converged) in "
          f"{chunks} chunks: {wall:.2f} s wall = {n_done / wall:,.0f} specifications/s "
          f"(goal: >= 100,000 in < 60 s)")
    print(f"peak RSS {peak_rss_mb():.0f} MB (before fitting {rss0:.0f} MB)")

    import pandas as pd

    sample = pd.concat(sample_rows).sort_values("spec")
    by_key = {M._choice_key(s.choice): s for s in mv.selections}
    ys, vs, diffs = [], [], []
    k_max = max(len(s.study) for s in mv.selections)
    t1 = time.perf_counter()
    for _, r in sample.iterrows():
        sel = by_key[M._row_key(r)]
        keep = ~np.isin(sel.study, [s for s in r.omitted.split("|") if s])
        y, v = sel.yi[keep], sel.vi[keep]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = rma(y, v, method=r.estimator, test=r.test, level=95)
        diffs.append(max(abs(float(res.beta) - r.beta), abs(float(res.se) - r.se), abs(float(res.tau2) - r.tau2),
                         abs(float(res.ci_lb) - r.ci_lb), abs(float(res.ci_ub) - r.ci_ub),
                         abs(float(res.pval) - r.pval)))
        ys.append(np.pad(y, (0, k_max - len(y)), constant_values=np.nan))
        vs.append(np.pad(v, (0, k_max - len(v)), constant_values=np.nan))
    loop = time.perf_counter() - t1
    worst = max(diffs)
    print(f"evsynth rma loop over the {len(sample)} sampled specifications: {loop:.2f} s; largest difference "
          f"(beta, se, tau2, CI, p) = {worst:.2e} ({'OK' if worst <= 1e-8 else 'FAIL'}: goal <= 1e-8)")
    print(f"ratio against looping evsynth's rma: {loop / len(sample) * n_done / wall:,.0f}x")

    if shutil.which("Rscript") is None:
        print("Rscript not found: metafor ratio skipped")
        return 0 if worst <= 1e-8 else 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savetxt(tmp / "yi.csv", np.array(ys), delimiter=",", fmt="%.17g")
        np.savetxt(tmp / "vi.csv", np.array(vs), delimiter=",", fmt="%.17g")
        (tmp / "mt.csv").write_text("".join(f"{m},{t}\n" for m, t in zip(sample.estimator, sample.test)))
        (tmp / "run.R").write_text(R_SCRIPT)
        proc = subprocess.run(["Rscript", str(tmp / "run.R"), str(tmp / "yi.csv"), str(tmp / "vi.csv"),
                               str(tmp / "mt.csv"), str(tmp / "out.csv")], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            print(f"metafor call failed ({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'no output'})"
                  ": ratio skipped")
            return 0 if worst <= 1e-8 else 1
        el = float(proc.stdout.strip().splitlines()[-1])
        out = np.loadtxt(tmp / "out.csv", delimiter=",", ndmin=2)
    ok = ~np.isnan(out).any(axis=1)
    mdiff = np.nanmax(np.abs(out[ok] - sample[["beta", "se", "tau2"]].to_numpy()[ok]))
    per_fit = el / len(sample)
    print(f"metafor rma() loop over the same {len(sample)}: {el:.2f} s ({per_fit * 1000:.2f} ms per fit); "
          f"largest difference from metafor with tight control (beta, se, tau2) = {mdiff:.2e} "
          f"over {int(ok.sum())} rows")
    print(f"looping metafor over all {n_done:,} specifications would take ~{per_fit * n_done:,.0f} s: "
          f"ratio {per_fit * n_done / wall:,.0f}x")
    return 0 if worst <= 1e-8 else 1


if __name__ == "__main__":
    sys.exit(main())
