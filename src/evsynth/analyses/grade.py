"""Small-study tests and a GRADE-style summary of findings with explicit, tested downgrading rules.

Certainty starts at *high* (randomized trials; GRADE Handbook 5.1) and is downgraded one level per
serious concern, two per very serious concern, never below *very low*:

risk of bias
    share of the pooled weight from studies judged at *high* overall RoB 2 risk:
    >= 50 % -> -2; >= 25 % -> -1; studies without a judgement count as high.
inconsistency
    I² >= 75 % and a prediction interval that crosses the null -> -2; I² >= 50 % -> -1
    (GRADE Handbook 5.2.3; Cochrane Handbook 10.10.2 thresholds).
imprecision
    -1 when the CI crosses the null; -1 more when fewer participants than the optimal information
    size (400 for continuous outcomes, 300 events for binary ones; GRADE guideline 6,
    Guyatt et al. 2011 J Clin Epidemiol 64:1283) — for a binary outcome whose events are not
    reported (e.g. a hazard ratio) the information size cannot be shown to be met, which counts as
    below it. Capped at -2.
publication bias
    -1 when Egger's test (k >= ``min_k_funnel``) gives p < 0.10; not assessed (no downgrade, said
    so) with fewer studies.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from evsynth.analyses.options import AnalysisOptions
from evsynth.processed import layout

LEVELS = ["very low", "low", "moderate", "high"]
SOF_COLUMNS = layout("summary_of_findings").column_names
SMALL_STUDY_COLUMNS = layout("small_study_tests").column_names


def rob_downgrade(high_share: float) -> int:
    """Risk-of-bias downgrade from the weight share (0-1) of high-risk studies."""
    if high_share >= 0.5:
        return 2
    if high_share >= 0.25:
        return 1
    return 0


def inconsistency_downgrade(I2: float, pi_crosses_null: bool) -> int:
    if np.isnan(I2):
        return 0
    if I2 >= 75 and pi_crosses_null:
        return 2
    return 1 if I2 >= 50 else 0


def below_information_size(participants: float, events: float | None, binary: bool) -> bool:
    """Fewer than 400 participants (continuous) or 300 events (binary; unknown events count as fewer)."""
    if binary:
        return events is None or np.isnan(events) or events < 300
    return participants < 400


def imprecision_downgrade(ci_crosses_null: bool, participants: float, events: float | None, binary: bool) -> int:
    return min(2, int(ci_crosses_null) + int(below_information_size(participants, events, binary)))


def publication_bias_downgrade(egger_p: float | None) -> int:
    return int(egger_p is not None and not np.isnan(egger_p) and egger_p < 0.10)


def certainty(total_downgrade: int) -> str:
    return LEVELS[max(0, 3 - total_downgrade)]


def _crosses(lb, ub, null) -> bool:
    return bool(lb <= null <= ub) if not (np.isnan(lb) or np.isnan(ub)) else True


def small_study_tests(forest: pd.DataFrame, pooled: pd.DataFrame, opts: AnalysisOptions) -> pd.DataFrame:
    """Egger's regression test and trim-and-fill for primary results with k >= ``min_k_funnel``."""
    from evsynth.pooling.diagnostics import regtest, trimfill
    from evsynth.pooling.rma import rma

    rows = []
    prim = pooled[(pooled.variant == "primary") & pooled.pooled.astype(bool)]
    for r in prim.itertuples():
        if r.n_studies < opts.min_k_funnel:
            continue
        f = forest[(forest.analysis_id == r.analysis_id) & (forest.window == r.window)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = rma(f.yi.to_numpy(float), f.vi.to_numpy(float), method=r.method, test=r.test)
            eg = regtest(res)
            tf = trimfill(res)
        stat = eg.zval if eg.zval is not None else eg.tval
        rows.append({"analysis_id": r.analysis_id, "window": r.window, "k": r.k, "egger_z": stat,
                     "egger_p": eg.pval, "trimfill_k0": tf.k0, "trimfill_estimate": float(np.ravel(tf.fit.beta)[0])})
    return pd.DataFrame(rows, columns=SMALL_STUDY_COLUMNS)


def summary_of_findings(pooled: pd.DataFrame, forest: pd.DataFrame, side: pd.DataFrame,
                        small: pd.DataFrame, attrs: pd.DataFrame, opts: AnalysisOptions) -> pd.DataFrame:
    """GRADE-style certainty for every primary pooled result and every pooled side-effect RR."""
    rows = []
    prim = pooled[(pooled.variant == "primary") & pooled.pooled.astype(bool)]
    for r in prim.itertuples():
        f = forest[(forest.analysis_id == r.analysis_id) & (forest.window == r.window)]
        w = f.weight.fillna(0).to_numpy(float)
        high = (f.study_id.map(attrs.rob_overall).fillna("high") == "high").to_numpy()
        share = float(w[high].sum() / w.sum()) if w.sum() > 0 else float(high.mean())
        binary = r.measure in ("RR", "OR", "HR")
        events = float(np.nansum(f.events)) if binary and f.events.notna().any() else None
        egger = small[(small.analysis_id == r.analysis_id) & (small.window == r.window)].egger_p
        rows.append(_grade_row(r._asdict(), share, events, binary,
                               float(egger.iloc[0]) if len(egger) else None, opts))
    for s in side[side.rr.notna()].itertuples():
        row = {"analysis_id": "side_effects", "outcome": s.event, "window": "", "window_label": s.drug,
               "measure": "RR", "k": s.k, "participants": s.participants, "estimate": s.rr, "ci_lb": s.rr_ci_lb,
               "ci_ub": s.rr_ci_ub, "I2": s.rr_I2, "pi_lb": np.nan, "pi_ub": np.nan, "null_value": 1}
        rows.append(_grade_row(row, s.rr_high_rob_weight, s.rr_events, True, None, opts))
    return pd.DataFrame(rows, columns=SOF_COLUMNS)


def _grade_row(r: dict, high_share: float, events, binary: bool, egger_p, opts: AnalysisOptions) -> dict:
    null = r["null_value"]
    d_rob = rob_downgrade(high_share)
    d_inc = inconsistency_downgrade(float(r["I2"]), _crosses(r["pi_lb"], r["pi_ub"], null))
    d_imp = imprecision_downgrade(_crosses(r["ci_lb"], r["ci_ub"], null), r["participants"], events, binary)
    d_pub = publication_bias_downgrade(egger_p)
    reasons = []
    if d_rob:
        reasons.append(f"risk of bias: {high_share:.0%} of weight from high-risk studies")
    if d_inc:
        reasons.append(f"inconsistency: I² = {r['I2']:.0f}%")
    if _crosses(r["ci_lb"], r["ci_ub"], null):
        reasons.append("imprecision: CI includes no effect")
    if below_information_size(r["participants"], events, binary):
        reasons.append("imprecision: below optimal information size"
                       + (" (events not reported)" if binary and (events is None or np.isnan(events)) else ""))
    if d_pub:
        reasons.append(f"publication bias: Egger p = {egger_p:.3f}")
    if egger_p is None:
        reasons.append(f"publication bias not assessed (k < {opts.min_k_funnel})")
    return {
        "analysis_id": r["analysis_id"], "outcome": r["outcome"], "window": r["window"],
        "window_label": r["window_label"], "measure": r["measure"], "k": r["k"], "participants": r["participants"],
        "estimate": r["estimate"], "ci_lb": r["ci_lb"], "ci_ub": r["ci_ub"], "I2": r["I2"],
        "high_rob_weight": high_share, "rob_downgrade": d_rob, "inconsistency_downgrade": d_inc,
        "imprecision_downgrade": d_imp, "publication_bias_downgrade": d_pub,
        "certainty": certainty(d_rob + d_inc + d_imp + d_pub), "reasons": "; ".join(reasons),
    }
