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

The bootstrap (:func:`bootstrap_window`) and the multilevel model (:func:`multilevel_fit`) take
any list of windows with their selected rows and pick the earliest or the latest distinguishable
window, so the duration analysis (:mod:`evsynth.analyses.duration`) uses the same code.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from evsynth.analyses.fitting import natural
from evsynth.analyses.options import AnalysisOptions, AnalysisSpec, Window
from evsynth.analyses.selection import select_window
from evsynth.pooling.batch import rma_batch
from evsynth.pooling.multilevel import time_course as multilevel_model

SEED = 20261121
B = 1000
PICKS = ("earliest", "latest")


def favourable(measure: str, ci_lb, ci_ub) -> np.ndarray:
    """Whether a CI excludes the null on the side favouring the experimental drug."""
    if measure in ("RR", "OR"):
        return np.asarray(ci_lb) > 1
    return np.asarray(ci_ub) < 0


def time_course(effects: pd.DataFrame, attrs: pd.DataFrame, opts: AnalysisOptions, pooled: pd.DataFrame) -> dict:
    """Time course and earliest distinguishable window for every onset analysis."""
    out = {}
    for spec in opts.analyses:
        if spec.question != "onset":
            continue
        prim = pooled[(pooled.analysis_id == spec.id) & (pooled.variant == "primary")]
        windows = [
            {"window": r.window, "label": r.window_label, "hours": r.hours_nominal, "k": r.k,
             "n_studies": r.n_studies, "estimate": r.estimate, "ci_lb": r.ci_lb, "ci_ub": r.ci_ub,
             "pi_lb": r.pi_lb, "pi_ub": r.pi_ub, "pooled": bool(r.pooled)}
            for r in prim.sort_values("hours_nominal").itertuples()
        ]
        ok = [w for w in windows if w["pooled"] and favourable(spec.measure, w["ci_lb"], w["ci_ub"])]
        earliest = None
        if ok:
            first = ok[0]
            share = bootstrap_earliest(effects, attrs, spec, opts)
            earliest = {"window": first["window"], "label": first["label"], "hours": first["hours"],
                        "bootstrap_share": share, "B": B, "seed": SEED}
        out[spec.id] = {"measure": spec.measure, "null_value": spec.null_value, "level": opts.level,
                           "windows": windows, "earliest": earliest,
                           "multilevel": multilevel_time_course(effects, attrs, spec, opts)}
    return out


def multilevel_time_course(effects: pd.DataFrame, attrs: pd.DataFrame, spec: AnalysisSpec,
                           opts: AnalysisOptions) -> dict:
    """All windows in one model: one mean per window, estimates nested in studies.

    :func:`multilevel_fit` on every window of the plan, picking the earliest distinguishable one.
    """
    windows = sorted(opts.windows, key=lambda w: w.nominal)
    parts = [(w, select_window(effects, attrs, spec, w, opts)) for w in windows]
    return multilevel_fit(parts, spec, opts, pick="earliest")


def multilevel_fit(parts: Sequence[tuple[Window, pd.DataFrame]], spec: AnalysisSpec, opts: AnalysisOptions,
                   pick: str = "earliest") -> dict:
    """One multilevel model over the given windows and their selected rows.

    :func:`evsynth.pooling.multilevel.time_course` with the plan's estimator and test — metafor's
    ``rma.mv(yi, vi, mods = ~ window - 1, random = ~ 1 | study/estimate)`` — so the repeated time
    points of a trial share its study-level random effect instead of counting as independent
    studies (Konstantopoulos 2011, Res Synth Methods 2:61). Returns the per-window estimates and
    the ``pick`` (``earliest`` or ``latest``) window with at least ``min_k`` trials whose CI
    excludes the null on the favourable side (key ``pick``; None when there is none), or the
    reason the model could not be fitted.
    """
    if pick not in PICKS:
        raise ValueError(f"pick: {pick!r} is not one of {list(PICKS)}")
    windows = sorted((w for w, _ in parts), key=lambda w: w.nominal)
    frames = [sel.assign(window=w.id) for w, sel in parts if not sel.empty]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if rows.empty:
        return {"fitted": False, "reason": "no data"}
    present = [w for w in windows if w.id in set(rows.window)]
    n_studies = rows.study_id.nunique()
    if n_studies < opts.min_k:
        return {"fitted": False, "reason": f"{n_studies} study (< {opts.min_k})"}
    effect = (rows.comparison + "|" + rows.stratum.fillna("") + "@" + rows.window).to_numpy()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = multilevel_model(rows.yi.to_numpy(float), rows.vi.to_numpy(float), rows.study_id.to_numpy(), effect,
                                   rows.window.to_numpy(), windows=[w.id for w in present], method=spec.method,
                                   test=spec.test, level=opts.level)
    except ValueError as err:
        return {"fitted": False, "reason": str(err)}
    beta, lb, ub = (np.atleast_1d(a) for a in (res.beta, res.ci_lb, res.ci_ub))
    measure = spec.measure
    est = [{"window": w.id, "label": w.title, "hours": w.nominal,
            "k": int((rows.window == w.id).sum()),
            "n_studies": int(rows[rows.window == w.id].study_id.nunique()),
            "estimate": float(natural(b, measure)), "ci_lb": float(natural(lo, measure)),
            "ci_ub": float(natural(hi, measure))} for w, b, lo, hi in zip(present, beta, lb, ub)]
    min_k = opts.min_k  # as for the per-window results: a window needs min_k trials
    hits = [e for e in est if e["n_studies"] >= min_k and favourable(measure, e["ci_lb"], e["ci_ub"])]
    chosen = (hits[0] if pick == "earliest" else hits[-1])["window"] if hits else None
    return {"fitted": True, "model": "rma_mv(yi, vi, mods = window indicators, intercept = False, "
                                     f"random = ~ 1 | study/estimate), {spec.method}, test {spec.test}",
            "method": spec.method, "test": spec.test,
            "k": res.k, "n_studies": res.n_studies, "sigma2": [float(x) for x in res.sigma2],
            "converged": bool(res.converged), "warnings": [str(w.message) for w in caught],
            "windows": est, pick: chosen}


def bootstrap_earliest(effects: pd.DataFrame, attrs: pd.DataFrame, spec: AnalysisSpec, opts: AnalysisOptions,
                       n_boot: int = B, seed: int = SEED) -> dict:
    """Share of study-bootstrap resamples in which each window is the earliest distinguishable one."""
    windows = sorted(opts.windows, key=lambda w: w.nominal)
    parts = [(w, select_window(effects, attrs, spec, w, opts)) for w in windows]
    return bootstrap_window(parts, spec, opts, pick="earliest", n_boot=n_boot, seed=seed)


def bootstrap_window(parts: Sequence[tuple[Window, pd.DataFrame]], spec: AnalysisSpec, opts: AnalysisOptions,
                     pick: str = "earliest", n_boot: int = B, seed: int = SEED) -> dict:
    """Share of study-bootstrap resamples in which each window is the earliest (or latest) distinguishable one.

    A cluster bootstrap over studies (Efron & Tibshirani 1993, ch. 6): the studies found in any of
    the windows' selections are resampled with replacement (one draw of ``len(studies)`` per
    resample, shared by all windows, so a resample keeps each study's time course together), every
    window is re-pooled with the plan's estimator and test
    (:func:`evsynth.pooling.batch.rma_batch`), and a window counts in a resample when its CI
    excludes the null on the favourable side with at least ``min_k`` distinct studies.

    Parameters
    ----------
    parts : sequence of (Window, DataFrame)
        The windows and their selected effect rows (``study_id``, ``yi``, ``vi``).
    spec, opts : AnalysisSpec, AnalysisOptions
        Measure, estimator and test; confidence level and ``min_k``.
    pick : {"earliest", "latest"}
        Which distinguishable window a resample votes for.
    n_boot, seed : int
        Number of resamples and the seed of :func:`numpy.random.default_rng` (fixed: reproducible).

    Returns
    -------
    dict
        ``{window id: share}`` in time order plus ``"none"`` (resamples with no distinguishable
        window); ``{}`` when no window has any row.
    """
    if pick not in PICKS:
        raise ValueError(f"pick: {pick!r} is not one of {list(PICKS)}")
    ordered = sorted(parts, key=lambda p: p[0].nominal)
    windows = [w for w, _ in ordered]
    selections = [sel for _, sel in ordered]
    study_ids = sorted(set().union(*[set(s.study_id) for s in selections]))
    if not study_ids:
        return {}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(study_ids), size=(n_boot, len(study_ids)))
    min_k, method, test, level = opts.min_k, spec.method, spec.test, opts.level
    chosen = np.full(n_boot, -1)
    for wi, sel in enumerate(selections):
        by_study = {sid: g for sid, g in sel.groupby("study_id")}
        y, v, nstud = _resampled(draws, study_ids, by_study)
        if y.shape[1] == 0:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = rma_batch(y, v, method=method, test=test, level=level)
        lb, ub = res.ci_lb, res.ci_ub
        hit = favourable(spec.measure, natural(lb, spec.measure), natural(ub, spec.measure)) \
            & (nstud >= min_k)
        if pick == "earliest":
            chosen = np.where((chosen < 0) & hit, wi, chosen)
        else:  # windows run in time order: the last hit is the latest
            chosen = np.where(hit, wi, chosen)
    share = {w.id: float(np.mean(chosen == i)) for i, w in enumerate(windows)}
    share["none"] = float(np.mean(chosen < 0))
    return share


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
