"""Pool one selection of effect rows: a random-effects model, or the reason it was not pooled.

All pooled rows share the columns of ``data/processed/pooled.csv`` (see :data:`POOLED_COLUMNS`):
``beta`` and ``se`` on the model scale (log for ratio measures), ``estimate``, CI and prediction
interval on the natural scale.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.pooling.rma import rma

RATIO = {"RR", "OR", "HR"}
POOLED_COLUMNS = [
    "analysis_id", "question", "outcome", "measure", "window", "window_label", "hours_nominal", "variant",
    "subgroup_var", "subgroup_level", "k", "n_studies", "participants", "beta", "se", "estimate", "ci_lb",
    "ci_ub", "pi_lb", "pi_ub", "pval", "tau2", "I2", "QE", "QEp", "subgroup_Q", "subgroup_df", "subgroup_p",
    "method", "test", "converged", "pooled", "reason", "studies", "null_value",
]
STUDY_COLUMNS = ["analysis_id", "window", "study_id", "comparison", "label", "hours", "yi", "vi", "estimate",
                 "ci_lb", "ci_ub", "weight", "n_exp", "n_ctrl", "events", "drug", "design", "regimen", "stratum"]


def natural(x, measure: str):
    """Back-transform from the model scale: exp() for ratio measures."""
    x = np.asarray(x, float)
    return np.exp(x) if measure in RATIO else x


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


def truncate_knha(res):
    """Knapp–Hartung with the scaling factor truncated at 1 (the "ad hoc" variant).

    Under ``test="knha"`` metafor scales the variance of the estimate by
    ``q = sum(w_i (y_i - b)^2) / (k - 1)``; when q < 1 the Knapp–Hartung interval can be narrower
    than the normal-theory one, which happens with few, close estimates (Knapp & Hartung 2003,
    Stat Med 22:2693; Röver, Knapp & Friede 2015, BMC Med Res Methodol 15:99; metafor's
    ``test="adhoc"``). The truncated version uses ``max(q, 1)``: the standard error is never
    smaller than ``sqrt(1 / sum(w_i))``, with ``w_i = 1 / (v_i + tau^2)``; t with k - 1 df.
    Results of other tests, and with q >= 1, are returned unchanged.
    """
    if res.test != "knha" or res.p != 1 or res.k < 2:
        return res
    w = 1.0 / (np.asarray(res.vi, float) + res.tau2)
    se_z = float(np.sqrt(1.0 / w.sum()))
    if res.se >= se_z:
        return res
    df = res.k - 1
    crit = stats.t.isf((100 - res.level) / 200, df)
    beta, se = float(res.beta), se_z
    half_pi = crit * np.sqrt(se**2 + res.tau2)
    return replace(res, se=se, tval=beta / se, pval=float(2 * stats.t.sf(abs(beta / se), df)),
                   ci_lb=beta - crit * se, ci_ub=beta + crit * se, pi_lb=beta - half_pi, pi_ub=beta + half_pi,
                   extra=res.extra | {"knha_truncated": True})


def fit(rows: pd.DataFrame, measure: str, method: str, test: str, level: float, min_k: int,
        subgroup: str | None = None, knha_truncate: bool = True):
    """Fit ``rma`` to the rows; return (result or None, reason).

    With ``knha_truncate`` (the default) a Knapp–Hartung result is truncated as in
    :func:`truncate_knha`.
    """
    k = len(rows)
    n_studies = rows.study_id.nunique()
    if k == 0:
        return None, "no study reports this outcome in this window"
    if n_studies < min_k:
        return None, f"{n_studies} stud{'y' if n_studies == 1 else 'ies'} (< {min_k}): listed, not pooled"
    fit_test = test if k > 1 else "z"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = rma(rows.yi.to_numpy(float), rows.vi.to_numpy(float), method=method if k > 1 else "FE",
                  test=fit_test, level=level, slab=labels(rows),
                  subgroup=rows[subgroup].astype(str).tolist() if subgroup else None)
    reason = "; ".join(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))
    return (truncate_knha(res) if knha_truncate else res), reason


def pooled_row(base: dict, rows: pd.DataFrame, res, reason: str, measure: str) -> dict:
    """One pooled.csv row from a fitted model (or a not-pooled row when ``res`` is None)."""
    row = dict.fromkeys(POOLED_COLUMNS, np.nan) | base
    row.update(k=len(rows), n_studies=rows.study_id.nunique(), participants=participants(rows),
               studies="|".join(sorted(rows.study_id.unique())), null_value=1 if measure in RATIO else 0,
               measure=measure, reason=reason, pooled=res is not None)
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
        "ci_lb": natural(yi - z * se, measure), "ci_ub": natural(yi + z * se, measure), "weight": weight,
        "n_exp": rows.n_exp.to_numpy(), "n_ctrl": rows.n_ctrl_used.to_numpy(),
        "events": (rows.events_exp + rows.events_ctrl_used).to_numpy(float), "drug": rows.drug.to_numpy(),
        "design": rows.design.to_numpy(), "regimen": rows.regimen.to_numpy(), "stratum": rows.stratum.to_numpy(),
    }, columns=STUDY_COLUMNS)
