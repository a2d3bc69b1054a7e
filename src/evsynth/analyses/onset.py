"""Onset: the pooled effect by time since dose, and the earliest time it is distinguishable from control.

For each onset analysis the per-window pooled results (``pooled.csv``, primary, overall) form the
time course. The *earliest distinguishable window* is the first window, in time order, whose
confidence interval excludes the null on the side that favours ketamine (SMD: upper bound < 0;
response RR: lower bound > 1).

Its uncertainty comes from a cluster bootstrap over studies (Efron & Tibshirani 1993, ch. 6):
studies are resampled with replacement, every window is re-pooled with the same estimator and
test (vectorised with :func:`evsynth.pooling.batch.rma_batch`), and the share of resamples in
which each window is the earliest is reported (``bootstrap_share``; "none" when no window is
distinguishable in a resample). The seed is fixed, so the result is reproducible.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from evsynth.analyses.selection import select_window
from evsynth.pooling.batch import rma_batch

SEED = 20261121
B = 1000


def favourable(measure: str, ci_lb, ci_ub) -> np.ndarray:
    """Whether a CI excludes the null on the side favouring the experimental drug."""
    if measure in ("RR", "OR"):
        return np.asarray(ci_lb) > 1
    return np.asarray(ci_ub) < 0


def time_course(effects: pd.DataFrame, attrs: pd.DataFrame, opts: dict, pooled: pd.DataFrame) -> dict:
    """Time course and earliest distinguishable window for every onset analysis."""
    out = {}
    for spec in opts["analyses"]:
        if spec["question"] != "onset":
            continue
        prim = pooled[(pooled.analysis_id == spec["id"]) & (pooled.variant == "primary")]
        windows = [
            {"window": r.window, "label": r.window_label, "hours": r.hours_nominal, "k": r.k,
             "n_studies": r.n_studies, "estimate": r.estimate, "ci_lb": r.ci_lb, "ci_ub": r.ci_ub,
             "pi_lb": r.pi_lb, "pi_ub": r.pi_ub, "pooled": bool(r.pooled)}
            for r in prim.sort_values("hours_nominal").itertuples()
        ]
        ok = [w for w in windows if w["pooled"] and favourable(spec["measure"], w["ci_lb"], w["ci_ub"])]
        earliest = None
        if ok:
            first = ok[0]
            share = bootstrap_earliest(effects, attrs, spec, opts)
            earliest = {"window": first["window"], "label": first["label"], "hours": first["hours"],
                        "bootstrap_share": share, "B": B, "seed": SEED}
        out[spec["id"]] = {"measure": spec["measure"], "null_value": 1 if spec["measure"] in ("RR", "OR") else 0,
                           "windows": windows, "earliest": earliest}
    return out


def bootstrap_earliest(effects: pd.DataFrame, attrs: pd.DataFrame, spec: dict, opts: dict,
                       n_boot: int = B, seed: int = SEED) -> dict:
    """Share of study-bootstrap resamples in which each window is the earliest distinguishable one."""
    windows = sorted(opts["windows"], key=lambda w: w["nominal"])
    selections = [select_window(effects, attrs, spec, w, opts) for w in windows]
    study_ids = sorted(set().union(*[set(s.study_id) for s in selections]))
    if not study_ids:
        return {}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(study_ids), size=(n_boot, len(study_ids)))
    min_k = opts.get("min_k", 2)
    earliest = np.full(n_boot, -1)
    for wi, sel in enumerate(selections):
        by_study = {sid: g for sid, g in sel.groupby("study_id")}
        y, v, nstud = _resampled(draws, study_ids, by_study)
        if y.shape[1] == 0:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = rma_batch(y, v, method=opts["method"], test=opts["test"], level=opts.get("level", 95))
        hit = favourable(spec["measure"], natural(res.ci_lb, spec["measure"]),
                         natural(res.ci_ub, spec["measure"])) & (nstud >= min_k)
        earliest = np.where((earliest < 0) & hit, wi, earliest)
    share = {w["id"]: float(np.mean(earliest == i)) for i, w in enumerate(windows)}
    share["none"] = float(np.mean(earliest < 0))
    return share


def natural(x, measure):
    x = np.asarray(x, float)
    return np.exp(x) if measure in ("RR", "OR", "HR") else x


def _resampled(draws: np.ndarray, study_ids: list[str], by_study: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack the effect rows of each resample into NaN-padded (n_boot, k_max) arrays."""
    rows_y = [by_study[s].yi.to_numpy(float) if s in by_study else np.empty(0) for s in study_ids]
    rows_v = [by_study[s].vi.to_numpy(float) if s in by_study else np.empty(0) for s in study_ids]
    n_boot = draws.shape[0]
    ys, vs, ns = [], [], np.zeros(n_boot, int)
    for b in range(n_boot):
        picked = [i for i in draws[b] if len(rows_y[i])]
        ns[b] = len(set(picked))  # distinct studies: a study drawn twice is still one study
        ys.append(np.concatenate([rows_y[i] for i in picked]) if picked else np.empty(0))
        vs.append(np.concatenate([rows_v[i] for i in picked]) if picked else np.empty(0))
    k_max = max((len(y) for y in ys), default=0)
    Y = np.full((n_boot, k_max), np.nan)
    V = np.full((n_boot, k_max), np.nan)
    for b, (y, v) in enumerate(zip(ys, vs)):
        Y[b, : len(y)] = y
        V[b, : len(v)] = v
    return Y, V, ns
