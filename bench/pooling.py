"""Benchmark: 10,000 meta-analyses of k = 10 studies, REML and DL (prints; not a test).

Compares
  * evsynth's batch API ``rma_batch`` (vectorised numpy),
  * a Python loop of evsynth's ``rma`` (for reference),
  * a loop of R metafor's ``rma()`` (when Rscript is present): the estimation loop is timed inside
    R with the data already loaded, and the whole Rscript process is timed from outside,
  * statsmodels' ``combine_effects`` (DL only: method_re="chi2"; it has no REML and does not
    truncate tau2 at 0 -- measured, not built on).

Prints per-analysis estimation times, whole-process times, the speed ratios and the largest
disagreement with metafor: with metafor's default control (where its stopping rule leaves
tau2, up to ~1e-5 from the optimum; rows where its Fisher scoring fails are NA) and with tight
control (threshold 1e-12, maxiter 10000) on the first --tight-n rows, where evsynth, which
solves to the optimum, must agree to 1e-8. Goal: REML batch >= 400x faster than the metafor loop.

Usage: python bench/pooling.py [--n 10000] [--k 10] [--seed 20261121]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
yi <- as.matrix(read.csv(args[1], header = FALSE)); vi <- as.matrix(read.csv(args[2], header = FALSE))
method <- args[3]; n <- min(nrow(yi), as.integer(args[5]))
ctrl <- if (args[6] == "tight") list(threshold = 1e-12, maxiter = 10000, tol = 1e-12) else list()
out <- matrix(NA_real_, n, 3)
el <- system.time(for (i in seq_len(n)) {
  f <- tryCatch(rma(yi[i, ], vi[i, ], method = method, control = ctrl), error = function(e) NULL)
  if (is.null(f) && args[6] == "tight")
    f <- rma(yi[i, ], vi[i, ], method = method, control = c(ctrl, stepadj = 0.5))
  if (!is.null(f)) out[i, ] <- c(f$beta, f$se, f$tau2)
})[["elapsed"]]
write.table(out, args[4], sep = ",", row.names = FALSE, col.names = FALSE)
cat(sprintf("%.17g\n", el))
"""

PY_WHOLE = r"""
import sys, numpy as np
from evsynth.pooling.batch import rma_batch
yi = np.loadtxt(sys.argv[1], delimiter=","); vi = np.loadtxt(sys.argv[2], delimiter=",")
b = rma_batch(yi, vi, method=sys.argv[3])
np.savetxt(sys.argv[4], np.column_stack([b.beta, b.se, b.tau2]), delimiter=",", fmt="%.17g")
"""


def simulate(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Log risk ratios-like data: per-study n ~ U{20..200} per arm, vi = 4/n, tau2 in {0, .02, .1}."""
    rng = np.random.default_rng(seed)
    npa = rng.integers(20, 201, (n, k))
    vi = 4.0 / npa
    tau2 = rng.choice([0.0, 0.02, 0.1], (n, 1))
    theta = rng.normal(-0.2, np.sqrt(tau2), (n, k))
    yi = rng.normal(theta, np.sqrt(vi))
    return yi, vi


def best_of(fn, repeat=3):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def run_r(tmp: Path, method: str, yfile: Path, vfile: Path, n: int, control: str = "default"):
    script = tmp / "loop.R"
    script.write_text(R_SCRIPT)
    out = tmp / f"r_{method}_{control}.csv"
    t0 = time.perf_counter()
    proc = subprocess.run(["Rscript", str(script), str(yfile), str(vfile), method, str(out), str(n), control],
                          capture_output=True, text=True, check=True)
    whole = time.perf_counter() - t0
    inner = float(proc.stdout.strip().splitlines()[-1])
    return inner, whole, np.loadtxt(out, delimiter=",")


def run_py_whole(tmp: Path, method: str, yfile: Path, vfile: Path) -> float:
    script = tmp / "whole.py"
    script.write_text(PY_WHOLE)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(script), str(yfile), str(vfile), method,
                    str(tmp / f"py_{method}.csv")], check=True)
    return time.perf_counter() - t0


def fmt_t(sec: float) -> str:
    return f"{sec * 1e6:10.2f} us" if sec < 1e-3 else f"{sec * 1e3:10.3f} ms"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--loop-n", type=int, default=2_000, help="rows for the Python rma loop")
    ap.add_argument("--tight-n", type=int, default=1_000, help="rows for the tight-control metafor check")
    args = ap.parse_args(argv)

    from statsmodels.stats.meta_analysis import combine_effects

    from evsynth.pooling.batch import rma_batch
    from evsynth.pooling.rma import rma

    n, k = args.n, args.k
    yi, vi = simulate(n, k, args.seed)
    have_r = shutil.which("Rscript") is not None
    print(f"evsynth pooling benchmark: {n} meta-analyses x k = {k} (seed {args.seed}); "
          f"Rscript {'found' if have_r else 'NOT found'}")

    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        yfile, vfile = tmp / "yi.csv", tmp / "vi.csv"
        np.savetxt(yfile, yi, delimiter=",", fmt="%.17g")
        np.savetxt(vfile, vi, delimiter=",", fmt="%.17g")
        for method in ("REML", "DL"):
            print(f"\n== {method} ==")
            t_batch, b = best_of(lambda m=method: rma_batch(yi, vi, method=m))
            ln = min(args.loop_n, n)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                for i in range(ln):
                    rma(yi[i], vi[i], method=method)
                t_loop = (time.perf_counter() - t0) / ln * n
            whole_py = run_py_whole(tmp, method, yfile, vfile)
            rows = [("evsynth rma_batch", t_batch, whole_py),
                    (f"evsynth rma loop (timed on {ln} rows, scaled)", t_loop, None)]
            r_est = None
            if have_r:
                t_r, whole_r, r_est = run_r(tmp, method, yfile, vfile, n)
                rows.append(("metafor rma() loop in R", t_r, whole_r))
            sm_est = None
            if method == "DL":
                def sm_loop():
                    est = np.empty((n, 3))
                    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
                        warnings.simplefilter("ignore")
                        for i in range(n):
                            res = combine_effects(yi[i], vi[i], method_re="chi2")
                            est[i] = (res.mean_effect_re, res.sd_eff_w_re, res.tau2)
                    return est
                t_sm, sm_est = best_of(sm_loop, repeat=1)
                rows.append(("statsmodels combine_effects loop", t_sm, None))
            print(f"{'':48s} {'total':>13s} {'per analysis':>13s} {'whole process':>14s}")
            for name, t, whole in rows:
                w = f"{whole:12.2f} s" if whole is not None else f"{'-':>14s}"
                print(f"{name:48s} {t:11.4f} s {fmt_t(t / n)} {w}")
            print(f"converged: {int(b.converged.sum())}/{n}; iterations median "
                  f"{np.median(b.iterations):.0f}, max {b.iterations.max()}")
            if r_est is not None:
                goal = " (goal >= 400x)" if method == "REML" else ""
                print(f"speed-up of rma_batch over the metafor loop (estimation): {t_r / t_batch:8.1f}x"
                      f"{goal}; whole process: {whole_r / whole_py:6.1f}x")
                mine = np.column_stack([b.beta, b.se, b.tau2])
                failed = np.isnan(r_est).any(axis=1)
                print(f"  metafor default control: {int(failed.sum())} row(s) stopped with an error "
                      "(Fisher scoring did not converge)")
                diff = np.abs(mine - r_est)[~failed]
                for j, name in enumerate(("beta", "se", "tau2")):
                    print(f"  largest |evsynth - metafor default control| {name:5s}: {diff[:, j].max():.3e}")
                tn = min(args.tight_n, n)
                _, _, r_tight = run_r(tmp, method, yfile, vfile, tn, "tight")
                dt = np.abs(mine[:tn] - r_tight)
                print(f"  largest |evsynth - metafor tight control| on {tn} rows: beta {dt[:, 0].max():.3e}, "
                      f"se {dt[:, 1].max():.3e}, tau2 {dt[:, 2].max():.3e} (goal <= 1e-8)")
            print(f"speed-up of rma_batch over the evsynth rma loop: {t_loop / t_batch:8.1f}x")
            if sm_est is not None:
                ref = r_est if r_est is not None else np.column_stack([b.beta, b.se, b.tau2])
                label = "metafor" if r_est is not None else "evsynth"
                neg = sm_est[:, 2] < 0
                d = np.abs(sm_est - ref)
                ok = ~neg
                print(f"  statsmodels vs {label}: {int(neg.sum())} rows with negative (untruncated) "
                      f"tau2, of which {int(np.isnan(sm_est[:, 1]).sum())} with NaN se; "
                      f"largest |diff| over all rows: beta {np.nanmax(d[:, 0]):.3e}, "
                      f"tau2 {np.nanmax(d[:, 2]):.3e}")
                print(f"  statsmodels vs {label} on the {int(ok.sum())} rows with tau2 >= 0: largest "
                      f"|diff| beta {d[ok, 0].max():.3e}, se {d[ok, 1].max():.3e}, "
                      f"tau2 {d[ok, 2].max():.3e}")
                print(f"  rma_batch over statsmodels loop: {t_sm / t_batch:8.1f}x")


if __name__ == "__main__":
    main()
