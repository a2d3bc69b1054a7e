"""Fit one selection of effect rows: a random-effects model, or the reason it was not pooled.

The model itself is :func:`evsynth.pooling.rma`; this module only turns selections into its
inputs and its results into ``pooled.csv`` / ``pooled_studies.csv`` rows.

All pooled rows share the columns of ``data/processed/pooled.csv`` (see :data:`POOLED_COLUMNS`):
``beta`` and ``se`` on the model scale (log for ratio measures), ``estimate``, CI and prediction
interval on the natural scale.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from evsynth.effects.generic import RATIO_MEASURES
from evsynth.pooling import rma
from evsynth.processed import layout

POOLED_COLUMNS = layout("pooled").column_names
STUDY_COLUMNS = layout("pooled_studies").column_names


def natural(x, measure: str):
    """Back-transform from the model scale: exp() for ratio measures."""
    x = np.asarray(x, float)
    return np.exp(x) if measure in RATIO_MEASURES else x


def participants(rows: pd.DataFrame) -> int:
    """Participants contributing: both arms in parallel designs, once per crossover trial."""
    n = 0.0
    for _, r in rows.iterrows():
        if r.design == "crossover" and r.period in ("all", ""):
            n += max(r.n_exp, r.n_ctrl_used) if pd.notna(r.n_exp) else 0
        else:
            n += (r.n_exp if pd.notna(r.n_exp) else 0) + (r.n_ctrl_used if pd.notna(r.n_ctrl_used) else 0)
    return int(round(n))


def labels(rows: pd.DataFrame) -> list[str]:
    """Forest-plot labels: study id, plus the comparison and stratum where a study has several rows."""
    many = rows.study_id.duplicated(keep=False)
    out = []
    for multi, (_, r) in zip(many, rows.iterrows()):
        lab = r.study_id
        if multi:
            lab += f" ({r.comparison}{', ' + r.stratum if isinstance(r.stratum, str) and r.stratum else ''})"
        out.append(lab)
    return out


def fit(rows: pd.DataFrame, measure: str, method: str, test: str, level: float, min_k: int):
    """Fit ``rma`` to the rows; return (result or None, reason).

    ``test`` is passed to :func:`evsynth.pooling.rma` as is (``z``, ``knha`` or ``adhoc``); a
    single row is an equal-effects estimate with a z test. Warnings from the model (for example
    non-convergence) are returned in ``reason`` rather than hidden.
    """
    k = len(rows)
    n_studies = rows.study_id.nunique()
    if k == 0:
        return None, "no study reports this outcome in this window"
    if n_studies < min_k:
        return None, f"{n_studies} stud{'y' if n_studies == 1 else 'ies'} (< {min_k}): listed, not pooled"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = rma(rows.yi.to_numpy(float), rows.vi.to_numpy(float), method=method if k > 1 else "FE",
                  test=test if k > 1 else "z", level=level, slab=labels(rows))
    reason = "; ".join(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))
    if not res.converged:
        reason = "; ".join(filter(None, [reason, f"{method} did not converge"]))
    return res, reason


def pooled_row(base: dict, rows: pd.DataFrame, res, reason: str, measure: str, level: float) -> dict:
    """One pooled.csv row from a fitted model (or a not-pooled row when ``res`` is None)."""
    row = dict.fromkeys(POOLED_COLUMNS, np.nan) | {"omitted_study": ""} | base
    row.update(k=len(rows), n_studies=rows.study_id.nunique() if len(rows) else 0,
               participants=participants(rows) if len(rows) else 0,
               studies="|".join(sorted(rows.study_id.unique())) if len(rows) else "",
               null_value=1 if measure in RATIO_MEASURES else 0, measure=measure, reason=reason, pooled=res is not None,
               level=level)
    if res is None:
        return row
    row.update(
        beta=res.beta, se=res.se, estimate=float(natural(res.beta, measure)),
        ci_lb=float(natural(res.ci_lb, measure)), ci_ub=float(natural(res.ci_ub, measure)),
        pi_lb=float(natural(res.pi_lb, measure)) if res.pi_lb is not None else np.nan,
        pi_ub=float(natural(res.pi_ub, measure)) if res.pi_ub is not None else np.nan,
        pval=res.pval, tau2=res.tau2, I2=res.I2, QE=res.QE, QEp=res.QEp, method=res.method, test=res.test,
        converged=res.converged,
    )
    return row


def study_rows(analysis_id: str, window: str, rows: pd.DataFrame, res, measure: str, level: float) -> pd.DataFrame:
    """Forest-plot rows: each study's estimate and CI (natural scale) and its weight in the model."""
    from scipy.stats import norm

    z = norm.ppf(0.5 + level / 200)
    se = np.sqrt(rows.vi.to_numpy(float))
    yi = rows.yi.to_numpy(float)
    weight = res.weights if res is not None else np.full(len(rows), np.nan)
    return pd.DataFrame({
        "analysis_id": analysis_id, "window": window, "study_id": rows.study_id.to_numpy(),
        "comparison": rows.comparison.to_numpy(), "label": labels(rows), "hours": rows.hours.to_numpy(),
        "yi": yi, "vi": rows.vi.to_numpy(float), "estimate": natural(yi, measure),
        "ci_lb": natural(yi - z * se, measure), "ci_ub": natural(yi + z * se, measure), "level": level,
        "weight": weight,
        "n_exp": rows.n_exp.to_numpy(), "n_ctrl": rows.n_ctrl_used.to_numpy(),
        "events": (rows.events_exp + rows.events_ctrl_used).to_numpy(float), "drug": rows.drug.to_numpy(),
        "design": rows.design.to_numpy(), "regimen": rows.regimen.to_numpy(), "stratum": rows.stratum.to_numpy(),
    }, columns=STUDY_COLUMNS)
