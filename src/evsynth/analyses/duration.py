"""Duration: how long the effect lasts after the last dose, by regimen, and where the data stop.

A single dose's follow-up is also its time since the last dose, so single-dose trials' later time
points (day 2, 3, 7, 14 ...) are durability data; courses (twice- or thrice-weekly infusions,
esketamine inductions) contribute only results timed from their last dose. Both are selected by
:func:`evsynth.analyses.selection.select_window` (``timepoint_ref: last_dose``) and analysed
**apart, by regimen** (``single`` or ``repeated``, from ``arms.schedule``): the decay after one
dose and the decay after the end of a course are different questions and never share a curve.

For each duration analysis, regimen and window from 24 h on (:func:`evsynth.analyses.run.windows_for`)
the regimen's rows are pooled with the plan's estimator and test. The *latest distinguishable
window* is the last window, in time order, whose confidence interval excludes the null on the side
that favours the drug (SMD upper bound < 0; RR lower bound > 1), the mirror of onset's earliest
window (:mod:`evsynth.analyses.onset`). Its uncertainty is reported two ways, with onset's code:

- a cluster bootstrap over the regimen's studies (:func:`evsynth.analyses.onset.bootstrap_window`
  with ``pick="latest"``; fixed seed): the share of resamples in which each window is the latest
  distinguishable one;
- the multilevel time-course model (:func:`evsynth.analyses.onset.multilevel_fit`; metafor
  ``rma.mv(yi, vi, mods = ~ window - 1, random = ~ 1 | study/estimate)``), whose latest window
  with ``min_k`` trials and a CI excluding the null is reported beside the per-window one.

Where the data stop is stated: the last window with any controlled result, the last with at least
``min_k`` trials, and the latest controlled time point in the selection (also outside the windows).

Uncontrolled follow-ups (an arm's result at a time when no control arm of the trial has a result
and no between-arm contrast was reported, e.g. relapse among responders in open-label follow-up)
are listed by :func:`uncontrolled_followups`, descriptively, and never pooled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evsynth.analyses.fitting import fit, pooled_row, study_rows
from evsynth.analyses.onset import SEED, B, bootstrap_window, favourable, multilevel_fit
from evsynth.analyses.options import AnalysisOptions, AnalysisSpec, Window
from evsynth.analyses.selection import select_window

#: regimens in report order, with how the report names the time origin
REGIMENS = {"single": "after a single dose", "repeated": "after the end of a course"}
OUTCOME_KEY = ["study_id", "outcome", "timepoint", "timepoint_unit", "timepoint_ref", "period", "stratum"]
UNCONTROLLED_COLUMNS = ["study_id", "arm_id", "drug", "regimen", "outcome", "timepoint", "timepoint_unit",
                        "timepoint_ref", "period", "stratum", "stat", "n", "events", "share", "mean", "sd",
                        "source"]


def time_course(effects: pd.DataFrame, attrs: pd.DataFrame, opts: AnalysisOptions,
                frames: dict[str, pd.DataFrame] | None = None) -> dict:
    """The ``duration_timecourse`` document: every duration analysis by regimen, and uncontrolled follow-ups.

    Parameters
    ----------
    effects : DataFrame
        The effects table (included studies only).
    attrs : DataFrame
        :func:`evsynth.analyses.selection.study_attributes` (gives each study's ``regimen``).
    opts : AnalysisOptions
        The plan. Duration analyses with a time window (not hazard ratios) are analysed.
    frames : dict of DataFrame, optional
        The included studies' extraction tables (``outcomes``, ``arms``, ``contrasts``) for
        :func:`uncontrolled_followups`; without them the list is empty and says why.

    Returns
    -------
    dict
        ``{"analyses": {analysis_id: entry}, "uncontrolled": {"rows": [...], "note": str}}`` with one
        entry per duration analysis (:func:`analysis_course`).
    """
    analyses = {spec.id: analysis_course(effects, attrs, spec, opts) for spec in opts.analyses
                if spec.question == "duration" and spec.measure != "HR"}
    if frames is not None and {"outcomes", "arms"} <= set(frames):
        rows = uncontrolled_followups(frames["outcomes"], frames["arms"], frames.get("contrasts"), attrs)
        note = ("" if len(rows) else "the extraction holds no uncontrolled follow-up: every arm-level result "
                "has a control-arm result or a between-arm contrast at the same time")
    else:
        rows, note = pd.DataFrame(columns=UNCONTROLLED_COLUMNS), "the extraction tables were not given"
    return {"analyses": analyses,
            "uncontrolled": {"rows": rows.to_dict(orient="records"), "note": note}}


def duration_windows(spec: AnalysisSpec, opts: AnalysisOptions) -> list[Window]:
    """The windows a duration analysis is pooled in (:func:`evsynth.analyses.run.windows_for`), in time order."""
    from evsynth.analyses.run import windows_for  # run imports this module

    return sorted((w for w in windows_for(spec, opts) if w is not None), key=lambda w: w.nominal)


def analysis_course(effects: pd.DataFrame, attrs: pd.DataFrame, spec: AnalysisSpec, opts: AnalysisOptions,
                    n_boot: int = B, seed: int = SEED) -> dict:
    """One duration analysis: its settings and, per regimen, :func:`regimen_course`."""
    windows = duration_windows(spec, opts)
    parts = [(w, select_window(effects, attrs, spec, w, opts)) for w in windows]
    everything = select_window(effects, attrs, spec, None, opts)
    regimens = {}
    for regimen in REGIMENS:
        own = [(w, sel[sel.regimen == regimen].reset_index(drop=True)) for w, sel in parts]
        regimens[regimen] = regimen_course(own, everything[everything.regimen == regimen], spec, opts, regimen,
                                           n_boot=n_boot, seed=seed)
    return {"question": spec.question, "outcome": spec.outcome, "measure": spec.measure,
            "null_value": spec.null_value, "level": opts.level, "method": spec.method, "test": spec.test,
            "min_k": opts.min_k, "timepoint_ref": spec.timepoint_ref or "", "regimens": regimens}


def regimen_course(parts: list[tuple[Window, pd.DataFrame]], everything: pd.DataFrame, spec: AnalysisSpec,
                   opts: AnalysisOptions, regimen: str, n_boot: int = B, seed: int = SEED) -> dict:
    """The time course of one regimen: per-window pooled results, latest distinguishable window, data end.

    Parameters
    ----------
    parts : list of (Window, DataFrame)
        The duration windows in time order and the regimen's selected rows in each.
    everything : DataFrame
        The regimen's rows before windowing (for the latest controlled time point).
    spec, opts : AnalysisSpec, AnalysisOptions
        Measure, estimator, test, level and ``min_k``.
    regimen : str
        ``single`` or ``repeated``.
    n_boot, seed : int
        Study-bootstrap resamples and seed.

    Returns
    -------
    dict
        ``windows`` (one per window: k, trials, pooled estimate and CI or the reason it was not
        pooled, whether the CI is favourable), ``points`` (each study's estimate with its weight),
        ``latest`` (the latest distinguishable window or None), ``bootstrap`` (share per window,
        B, seed; None when nothing was pooled), ``multilevel``, ``data_end`` and ``status``/``why``
        (``distinguishable``, ``not_distinguishable``, ``not_pooled`` or ``no_data``).
    """
    measure, level, min_k = spec.measure, opts.level, opts.min_k
    windows, points = [], []
    for w, sel in parts:
        res, reason = fit(sel, measure, spec.method, spec.test, level, min_k)
        row = pooled_row({"window": w.id}, sel, res, reason, measure, level)
        pooled = res is not None
        windows.append({
            "window": w.id, "label": w.title, "hours": w.nominal, "k": int(row["k"]),
            "n_studies": int(row["n_studies"]), "participants": int(row["participants"]),
            "studies": row["studies"], "pooled": pooled, "reason": reason,
            **{key: float(row[key]) for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "I2")},
            "favourable": bool(pooled and favourable(measure, row["ci_lb"], row["ci_ub"])),
        })
        if not sel.empty:
            pts = study_rows(spec.id, w.id, sel, res, measure, level)
            points += [{"window": w.id, "study_id": p.study_id, "label": p.label, "drug": p.drug,
                        "hours": float(p.hours), "estimate": float(p.estimate), "ci_lb": float(p.ci_lb),
                        "ci_ub": float(p.ci_ub), "weight": float(p.weight)} for p in pts.itertuples()]
    hits = [x for x in windows if x["favourable"]]
    any_pooled = any(x["pooled"] for x in windows)
    bootstrap = None
    if any_pooled:
        share = bootstrap_window(parts, spec, opts, pick="latest", n_boot=n_boot, seed=seed)
        bootstrap = {"share": share, "B": n_boot, "seed": seed, "pick": "latest"}
    latest = None
    if hits:
        last = hits[-1]
        latest = {key: last[key] for key in ("window", "label", "hours", "k", "n_studies", "estimate", "ci_lb",
                                             "ci_ub", "studies")}
        latest |= {"bootstrap_share": bootstrap["share"], "B": n_boot, "seed": seed}
    status, why = _status(windows, hits, any_pooled, min_k, regimen)
    return {"regimen": regimen, "label": REGIMENS.get(regimen, regimen), "windows": windows, "points": points,
            "latest": latest, "bootstrap": bootstrap,
            "multilevel": multilevel_fit(parts, spec, opts, pick="latest"),
            "data_end": data_end(windows, everything, min_k), "status": status, "why": why}


def data_end(windows: list[dict], everything: pd.DataFrame, min_k: int) -> dict:
    """Where the controlled data stop: last window with any trial, last with ``min_k`` trials, last time point."""
    def _last(rows):
        if not rows:
            return None
        r = rows[-1]
        return {"window": r["window"], "label": r["label"], "hours": r["hours"], "n_studies": r["n_studies"],
                "studies": r["studies"]}

    with_data = [w for w in windows if w["n_studies"] > 0]
    enough = [w for w in with_data if w["n_studies"] >= min_k]
    last_hours, last_studies = None, []
    if len(everything) and everything.hours.notna().any():
        last_hours = float(everything.hours.max())
        last_studies = sorted(everything.loc[everything.hours == last_hours, "study_id"].unique())
    return {"last_window_any": _last(with_data), "last_window_min_k": _last(enough), "last_hours": last_hours,
            "last_hours_studies": last_studies}


def _status(windows: list[dict], hits: list[dict], any_pooled: bool, min_k: int, regimen: str) -> tuple[str, str]:
    """Which answer a regimen has, and why there is none when there is none (one sentence, no markup)."""
    if hits:
        return "distinguishable", ""
    with_data = [w for w in windows if w["n_studies"] > 0]
    if not with_data:
        origin = "a single dose" if regimen == "single" else "the last dose of a course"
        return "no_data", (f"no controlled result timed from {origin} falls in a window from "
                           f"{windows[0]['label'] if windows else '24 h'} on")
    if not any_pooled:
        counts = "; ".join(f"{w['label']}: {w['n_studies']} trial{'s' if w['n_studies'] != 1 else ''} "
                           f"({w['studies'].replace('|', ', ')})" for w in with_data)
        return "not_pooled", f"no window has the {min_k} trials needed to pool ({counts})"
    pooled = [w for w in windows if w["pooled"]]
    cis = "; ".join(f"{w['label']}: {w['estimate']:.2f} ({w['ci_lb']:.2f} to {w['ci_ub']:.2f}), "
                    f"{w['n_studies']} trials" for w in pooled)
    return "not_distinguishable", f"no pooled window's CI excludes the null on the favourable side ({cis})"


def uncontrolled_followups(outcomes: pd.DataFrame, arms: pd.DataFrame, contrasts: pd.DataFrame | None = None,
                           attrs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Arm-level results with no control at the same time: described, never pooled.

    A row of ``outcomes.csv`` is uncontrolled when no control arm of its trial has a result for the
    same outcome, time (value, unit and reference), period and stratum, and no between-arm
    contrast (``contrasts.csv``) was reported for them — for example the share relapsing by day 14
    among responders in open-label follow-up after a randomized phase.

    Returns
    -------
    DataFrame
        :data:`UNCONTROLLED_COLUMNS`: the result as reported (events, n and their share, or mean and
        SD), the arm's drug, the trial's regimen and the source.
    """
    if outcomes is None or outcomes.empty:
        return pd.DataFrame(columns=UNCONTROLLED_COLUMNS)
    o = outcomes.copy()
    key = _key(o)
    role = arms.assign(_k=arms.study_id.astype(str) + "|" + arms.arm_id.astype(str)).set_index("_k").role
    o_role = (o.study_id.astype(str) + "|" + o.arm_id.astype(str)).map(role)
    controlled = set(key[o_role == "control"])
    if contrasts is not None and len(contrasts):
        controlled |= set(_key(contrasts))
    out = o[~key.isin(controlled)].copy()
    if out.empty:
        return pd.DataFrame(columns=UNCONTROLLED_COLUMNS)
    drug = arms.assign(_k=arms.study_id.astype(str) + "|" + arms.arm_id.astype(str)).set_index("_k").drug
    out["drug"] = (out.study_id.astype(str) + "|" + out.arm_id.astype(str)).map(drug)
    out["regimen"] = out.study_id.map(attrs.regimen) if attrs is not None and "regimen" in attrs else ""
    n = pd.to_numeric(out.get("n"), errors="coerce")
    ev = pd.to_numeric(out.get("events"), errors="coerce")
    out["share"] = np.where(n > 0, ev / n, np.nan)
    for col in UNCONTROLLED_COLUMNS:
        if col not in out:
            out[col] = np.nan
    return out[UNCONTROLLED_COLUMNS].sort_values(["study_id", "arm_id", "outcome"], kind="mergesort") \
        .reset_index(drop=True)


def _key(df: pd.DataFrame) -> pd.Series:
    """Study, outcome, time, reference, period and stratum as one string (blank cells compare equal)."""
    parts = []
    for col in OUTCOME_KEY:
        s = df[col] if col in df else pd.Series("", index=df.index)
        if col == "timepoint":
            s = pd.to_numeric(s, errors="coerce").map(lambda v: "" if pd.isna(v) else f"{float(v):g}")
        parts.append(s.astype(object).where(s.notna(), "").astype(str))
    out = parts[0]
    for p in parts[1:]:
        out = out + "|" + p
    return out
