"""The effects table: one row per study x comparison x outcome x timepoint (x measure).

Built from the validated extraction tables (arm-level ``outcomes``, between-arm ``contrasts``,
``adverse_events``). Design-aware:

* **Crossover** results pooled over periods are paired: the SMD is Hedges' g computed as for two
  groups, with variance ``(1/n + g^2/(2n)) * 2(1 - r)`` for the within-subject correlation ``r``
  (Cochrane Handbook v6.4, section 23.2.7.2; Elbourne et al. 2002, Int J Epidemiol 31:140).
  Binary crossover results are analysed as if parallel (conservative; Handbook 23.2.6).
  First-period results (``period = 1``) are kept as parallel comparisons for the
  first-period-only option.
* **Delayed-start** (doubly randomized) trials contribute their first randomized period only.
* **Multi-arm** trials: a control arm shared by m comparisons at the same outcome and time has
  its n (and events) divided by m (Handbook 23.3.4), so it is not double-counted.
* SDs missing but derivable are computed by :mod:`evsynth.extraction.conversions` (from the SE or
  the CI) and the method is recorded in ``sd_method_*``.

Rows that cannot be computed (a mean without any dispersion, a single arm) go to a second table
with the reason, so that the report can say what the data could not answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evsynth.analyses.adverse_events import term_rows
from evsynth.analyses.options import AnalysisOptions
from evsynth.effects import escalc, from_ci, from_se
from evsynth.effects.generic import RATIO_MEASURES
from evsynth.effects.paired import paired_variance
from evsynth.extraction.conversions import sd_from_ci, sd_from_se
from evsynth.processed import layout, read_table

HOURS = {"min": 1 / 60, "h": 1.0, "d": 24.0, "wk": 168.0}
BINARY_OUTCOMES = {"response", "remission", "relapse"}
TIME_KEY = ["outcome", "timepoint", "timepoint_unit", "timepoint_ref", "period", "stratum"]

EFFECT_COLUMNS = layout("effects").column_names
NOT_COMPUTED_COLUMNS = layout("effects_not_computed").column_names


def to_hours(value, unit) -> float:
    """A timepoint in hours (DESIGN.md: min, h, d, wk); NaN when no time was reported."""
    if not isinstance(unit, str) or unit == "" or pd.isna(value):
        return np.nan
    return float(value) * HOURS[unit]


def family_of(outcome: str, depression_outcomes: list[str]) -> str:
    if outcome in depression_outcomes:
        return "depression"
    return outcome


def _key(row) -> tuple:
    return tuple("" if pd.isna(row[c]) else row[c] for c in TIME_KEY)


def arm_sd(row) -> tuple[float, str]:
    """The SD of an arm-level mean: as reported, else from its SE, else from its CI."""
    if pd.notna(row["sd"]):
        return float(row["sd"]), "reported"
    if pd.notna(row["se"]) and pd.notna(row["n"]):
        derived = sd_from_se(row["se"], row["n"])
        return float(derived.value), derived.method
    if pd.notna(row["ci_lb"]) and pd.notna(row["ci_ub"]) and pd.notna(row["n"]):
        derived = sd_from_ci(row["ci_lb"], row["ci_ub"], row["n"])
        return float(derived.value), derived.method
    return np.nan, ""


def _comparisons(arms: pd.DataFrame, study_id: str) -> list[tuple[str, str]]:
    """The randomized (experimental, control) pairs of a study.

    An experimental arm is compared with the control arm named in ``compare_to`` (trials made of
    several randomized cohorts, each with its own control), else with every control arm.
    """
    a = arms[arms.study_id == study_id]
    ctrl = a[a.role == "control"].arm_id.tolist()
    pairs = []
    for _, e in a[a.role == "experimental"].iterrows():
        target = e.get("compare_to")
        targets = [target] if isinstance(target, str) and target else ctrl
        pairs += [(e.arm_id, c) for c in targets]
    return pairs


def _usable(study: pd.Series, period) -> bool:
    """Whether an arm-level result of this period enters the effects table for this design."""
    period = "" if pd.isna(period) else str(period)
    if study["design"] == "delayed_start":
        return period == "1"
    return True


def build_effects(frames: dict[str, pd.DataFrame], plan: AnalysisOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compute the effects table and the table of results that could not be used.

    Parameters
    ----------
    frames : dict of DataFrame
        The validated extraction tables of the included studies
        (:func:`evsynth.extraction.validate.load_frames`).
    plan : AnalysisOptions
        The analysis plan (``depression_outcomes``, ``crossover_r``).
    """
    studies = frames["studies"].set_index("study_id")
    arms = frames["arms"]
    outcomes = _arm_n_where_missing(frames["outcomes"], arms)
    depression = list(plan.depression_outcomes)
    r = float(plan.crossover_r)
    rows: list[dict] = []
    skipped: list[dict] = []

    for study_id, sub in outcomes.groupby("study_id", sort=True):
        study = studies.loc[study_id]
        pairs = _comparisons(arms, study_id)
        sub = sub[sub.timepoint.isna() | (sub.timepoint > 0)]  # baseline (0) is not an effect
        by_arm_key = {(row.arm_id, _key(row), row.stat): row for _, row in sub.iterrows()}
        for (arm_id, key, stat), row in sorted(by_arm_key.items(), key=lambda kv: str(kv[0])):
            if not _usable(study, row["period"]):
                continue
            for e, c in pairs:
                if arm_id != e:
                    continue
                ctrl = by_arm_key.get((c, key, stat))
                if ctrl is None:
                    skipped.append(_skip(row, f"no matching result for control arm {c}"))
                    continue
                made = _pair_effect(study, row, ctrl, family_of(row.outcome, depression), r)
                if isinstance(made, str):
                    skipped.append(_skip(row, made))
                else:
                    rows.extend(made)
    rows.extend(_contrast_effects(frames["contrasts"], studies, arms, depression, skipped))
    rows.extend(_adverse_event_effects(frames["adverse_events"], arms, studies))
    effects = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    effects["reported_smd"] = effects["reported_smd"].eq(True)
    effects["secondary"] = effects["secondary"].eq(True)
    effects = _split_shared_controls(effects)
    effects = effects.sort_values(["study_id", "family", "measure", "hours", "comparison", "stat", "period",
                                   "stratum", "outcome"], na_position="first", kind="mergesort")
    not_computed = pd.DataFrame(skipped, columns=NOT_COMPUTED_COLUMNS).drop_duplicates()
    return effects.reset_index(drop=True), not_computed.reset_index(drop=True)


def _arm_n_where_missing(outcomes: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """Fill a continuous result's missing n with its arm's reported size (analysed, else randomized).

    The arm size is a reported number (``arms.csv``); the row records where it came from in
    ``n_source`` so the derivation column can say so. Event counts are never completed this way.
    """
    arm_n = arms.set_index(["study_id", "arm_id"]).pipe(lambda a: a.n_analyzed.fillna(a.n_randomized))
    out = outcomes.copy()
    fill = out.n.isna() & (out.stat != "events")
    from_arms = pd.Series([arm_n.get((s, a), np.nan) for s, a in zip(out.study_id, out.arm_id)], index=out.index)
    out["n_source"] = np.where(fill & from_arms.notna(), "arms.csv", "")
    out.loc[fill, "n"] = from_arms[fill]
    # a number read from a secondary source: the row's notes say so, or its n came from such an arm row
    arm_secondary = arms.set_index(["study_id", "arm_id"]).source.fillna("").str.contains("secondary:")
    from_secondary = pd.Series([bool(arm_secondary.get((s, a), False)) for s, a in zip(out.study_id, out.arm_id)],
                               index=out.index, dtype=bool)
    out["secondary"] = _notes_secondary(out) | ((out.n_source == "arms.csv") & from_secondary)
    return out


def _notes_secondary(rows: pd.DataFrame) -> pd.Series:
    """Rows whose extraction notes start with ``secondary:`` (a number read from a secondary source)."""
    notes = rows["notes"] if "notes" in rows else pd.Series("", index=rows.index)
    return notes.fillna("").astype(str).str.lstrip().str.startswith("secondary:")


def _skip(row, reason: str, stat: str | None = None) -> dict:
    return {"study_id": row.study_id, "arm_id": row.arm_id, "outcome": row.outcome, "timepoint": row.timepoint,
            "timepoint_unit": row.timepoint_unit, "timepoint_ref": row.timepoint_ref,
            "stat": stat or row.stat, "reason": reason, "source": row.source}


def _base(study, exp, ctrl, family: str) -> dict:
    period = "" if pd.isna(exp.period) else str(exp.period)
    return {
        "study_id": exp.study_id, "comparison": f"{exp.arm_id} vs {ctrl.arm_id}", "arm_id": exp.arm_id,
        "control_arm_id": ctrl.arm_id, "family": family, "outcome": exp.outcome, "stat": exp.stat,
        "timepoint": exp.timepoint, "timepoint_unit": exp.timepoint_unit,
        "hours": to_hours(exp.timepoint, exp.timepoint_unit), "timepoint_ref": exp.timepoint_ref,
        "period": period, "stratum": "" if pd.isna(exp.stratum) else exp.stratum, "design": study["design"],
        "source_exp": exp.source, "source_ctrl": ctrl.source,
        "secondary": bool(exp.get("secondary", False)) or bool(ctrl.get("secondary", False)),
    }


def _paired(study, exp) -> bool:
    period = "" if pd.isna(exp.period) else str(exp.period)
    return study["design"] == "crossover" and period in ("", "all")


def _pair_effect(study, exp, ctrl, family: str, r: float):
    """One comparison's effects (list of dicts: RR, or SMD and MD), or why they cannot be computed (str)."""
    base = _base(study, exp, ctrl, family)
    if exp.stat == "events":
        res = escalc("RR", ai=[exp.events], n1i=[exp.n], ci=[ctrl.events], n2i=[ctrl.n])
        derivation = "log RR (escalc RR, add=0.5 to='only0')"
        if _paired(study, exp):
            derivation += "; crossover binary analysed as parallel (Cochrane 23.2.6)"
        return [base | {"measure": "RR", "yi": res.yi.iloc[0], "vi": res.vi.iloc[0], "n_exp": exp.n,
                        "n_ctrl": ctrl.n, "events_exp": exp.events, "events_ctrl": ctrl.events,
                        "derivation": derivation}]
    if pd.isna(exp["mean"]) or pd.isna(ctrl["mean"]):
        return "mean not reported for both arms"
    if pd.isna(exp.n) or pd.isna(ctrl.n):
        return "n not reported for both arms"
    sd_e, how_e = arm_sd(exp)
    sd_c, how_c = arm_sd(ctrl)
    if not (np.isfinite(sd_e) and np.isfinite(sd_c)):
        return "no SD, SE or CI reported for both arms"
    n = min(exp.n, ctrl.n)
    common = base | {"n_exp": exp.n, "n_ctrl": ctrl.n, "mean_exp": exp["mean"], "mean_ctrl": ctrl["mean"],
                     "sd_exp": sd_e, "sd_ctrl": sd_c, "sd_method_exp": how_e, "sd_method_ctrl": how_c}
    out = []
    for measure in ("SMD", "MD"):
        res = escalc(measure, m1i=[exp["mean"]], m2i=[ctrl["mean"]], sd1i=[sd_e], sd2i=[sd_c],
                     n1i=[exp.n], n2i=[ctrl.n])
        yi, vi = float(res.yi.iloc[0]), float(res.vi.iloc[0])
        derivation = "SMD (Hedges' g, escalc SMD)" if measure == "SMD" else "MD (escalc MD)"
        if "arms.csv" in (exp.n_source, ctrl.n_source):
            derivation += "; n from arms.csv (not reported with the result)"
        extra = {}
        if _paired(study, exp):
            vi = float(paired_variance(measure, yi, sd_e, sd_c, n, r))
            derivation += f"; crossover paired variance, r={r:g} (Cochrane 23.2.7)"
            extra["r"] = r
        out.append(common | extra | {"measure": measure, "yi": yi, "vi": vi, "derivation": derivation})
    return out


def _contrast_unusable(c: pd.Series, study: pd.Series, measure: str) -> str:
    """Why a reported between-arm result cannot become an effect size ('' when it can)."""
    if pd.isna(c.estimate):
        return "no estimate reported"
    if measure == "RD":
        return "risk difference: no analysis pools reported RDs"
    if not ((pd.notna(c.ci_lb) and pd.notna(c.ci_ub)) or pd.notna(c.se)):
        return "no CI or SE reported"
    if not _usable(study, c.period):
        return "delayed-start trial: only the first randomized period is used"
    return ""


def _contrast_effects(contrasts: pd.DataFrame, studies: pd.DataFrame, arms: pd.DataFrame,
                      depression: list[str], skipped: list[dict]) -> list[dict]:
    """Effects from between-arm results as reported (HR, RR, OR, MD/LSMD, SMD) with a CI or SE.

    The arms' sizes (analysed, else randomized, from ``arms.csv``) are attached for participant counts,
    except to results for one stratum of the arms (the stratum's size is not the arm's).
    """
    arm_n = arms.set_index(["study_id", "arm_id"]).pipe(lambda a: a.n_analyzed.fillna(a.n_randomized))
    rows = []
    for _, c in contrasts.iterrows():
        measure = "MD" if c.measure == "LSMD" else c.measure
        reason = _contrast_unusable(c, studies.loc[c.study_id], measure)
        if reason:
            skipped.append(_skip(c, reason, stat=f"contrast_{c.measure}"))
            continue
        if pd.notna(c.ci_lb) and pd.notna(c.ci_ub):
            res, how = from_ci([c.estimate], [c.ci_lb], [c.ci_ub], measure=measure), "from reported 95% CI"
        else:
            res, how = from_se([c.estimate], [c.se], measure=measure), "from reported SE"
        yi = float(res.yi.iloc[0])
        if measure in RATIO_MEASURES and isinstance(c.reference_arm, str) and c.reference_arm == c.arm_id:
            # the source's ratio is control / drug: the project's direction is drug / control
            yi = -yi
            how += f"; inverted (the source's reference arm is {c.arm_id}, the drug arm)"
        if measure == "SMD":
            how += "; standardized effect as reported (generic inverse variance, flagged reported_smd)"
        has_time = pd.notna(c.timepoint)
        rows.append({
            "study_id": c.study_id, "comparison": f"{c.arm_id} vs {c.control_arm_id}", "arm_id": c.arm_id,
            "control_arm_id": c.control_arm_id, "family": family_of(c.outcome, depression), "outcome": c.outcome,
            "measure": measure, "stat": f"contrast_{c.measure}",
            "timepoint": c.timepoint, "timepoint_unit": c.timepoint_unit if has_time else "",
            "hours": to_hours(c.timepoint, c.timepoint_unit),
            "timepoint_ref": c.timepoint_ref if pd.notna(c.timepoint_ref) else "",
            "period": "" if pd.isna(c.period) else str(c.period), "stratum": "" if pd.isna(c.stratum) else c.stratum,
            "design": studies.loc[c.study_id, "design"],
            "yi": yi, "vi": float(res.vi.iloc[0]), "reported_smd": measure == "SMD",
            # an arm's size covers all its strata: attached only to unstratified results
            "n_exp": arm_n.get((c.study_id, c.arm_id)) if pd.isna(c.stratum) else np.nan,
            "n_ctrl": arm_n.get((c.study_id, c.control_arm_id)) if pd.isna(c.stratum) else np.nan,
            "derivation": f"reported {c.measure} {how}; n from arms.csv" + ("; log scale" if measure in ("HR", "RR", "OR") else ""),
            "source_exp": c.source, "source_ctrl": c.source,
            "secondary": str(c.get("notes", "") if pd.notna(c.get("notes", "")) else "").startswith("secondary:"),
        })
    return rows


def _adverse_event_effects(ae: pd.DataFrame, arms: pd.DataFrame, studies: pd.DataFrame) -> list[dict]:
    """Log RR and RD per adverse-event term for each experimental-vs-control comparison."""
    rows = []
    ae = term_rows(ae)
    for (study_id, event, period), sub in ae.groupby(["study_id", "event", ae.period.fillna("")], sort=True):
        by_arm = {r.arm_id: r for r in sub.itertuples(index=False)}
        for e, c in _comparisons(arms, study_id):
            if e not in by_arm or c not in by_arm:
                continue
            xe, xc = by_arm[e], by_arm[c]
            for measure in ("RR", "RD"):
                res = escalc(measure, ai=[xe.events], n1i=[xe.n], ci=[xc.events], n2i=[xc.n])
                rows.append({
                    "study_id": study_id, "comparison": f"{e} vs {c}", "arm_id": e, "control_arm_id": c,
                    "family": f"ae:{event}", "outcome": event, "measure": measure, "stat": "events",
                    "timepoint": np.nan, "timepoint_unit": "", "hours": np.nan, "timepoint_ref": "",
                    "period": period, "stratum": "", "design": studies.loc[study_id, "design"],
                    "yi": float(res.yi.iloc[0]), "vi": float(res.vi.iloc[0]),
                    "n_exp": xe.n, "n_ctrl": xc.n, "events_exp": xe.events, "events_ctrl": xc.events,
                    "derivation": f"escalc {measure}, add=0.5 to='only0'",
                    "source_exp": xe.source, "source_ctrl": xc.source,
                })
    return rows


def _split_shared_controls(effects: pd.DataFrame) -> pd.DataFrame:
    """Divide a shared control arm among the comparisons that use it (Cochrane Handbook 23.3.4).

    For every group of comparisons sharing a control arm at the same outcome, measure and time,
    the control's n (and events) are divided by the number of comparisons m: ``n_ctrl_used`` and
    ``events_ctrl_used`` hold the shares, and yi/vi are recomputed from them for arm-level rows.
    Results reported only as between-arm contrasts cannot be recomputed; their variance is
    inflated as if the control's half of it were split m ways, ``vi * (1 + m) / 2`` — exact when
    both arms contribute equally to the variance (equal sizes and SDs), recorded as approximate.
    """
    effects = effects.copy()
    effects["n_ctrl_used"] = effects["n_ctrl"]
    effects["events_ctrl_used"] = effects["events_ctrl"]
    group_cols = ["study_id", "control_arm_id", "family", "outcome", "measure", "stat", "timepoint",
                  "timepoint_unit", "timepoint_ref", "period", "stratum"]
    keyed = effects.fillna({"timepoint": -1})
    counts = keyed.groupby(group_cols, dropna=False)["arm_id"].transform("nunique")
    for i in counts[counts > 1].index:
        row = effects.loc[i]
        m = int(counts.loc[i])
        n_used = row.n_ctrl / m
        effects.loc[i, "n_ctrl_used"] = n_used
        effects.loc[i, "events_ctrl_used"] = row.events_ctrl / m
        note = f"shared control split {m} ways (Cochrane 23.3.4)"
        if row.stat.startswith("contrast_"):
            yi, vi = row.yi, row.vi * (1 + m) / 2
            note += "; reported contrast: variance inflated by (1+m)/2 (approximate, equal arm variances)"
        elif row.measure in ("SMD", "MD"):
            res = escalc(row.measure, m1i=[row.mean_exp], m2i=[row.mean_ctrl], sd1i=[row.sd_exp],
                         sd2i=[row.sd_ctrl], n1i=[row.n_exp], n2i=[n_used])
            yi, vi = float(res.yi.iloc[0]), float(res.vi.iloc[0])
            if pd.notna(row.r):
                vi = float(paired_variance(row.measure, yi, row.sd_exp, row.sd_ctrl, min(row.n_exp, n_used), row.r))
        else:
            res = escalc(row.measure, ai=[row.events_exp], n1i=[row.n_exp], ci=[row.events_ctrl / m], n2i=[n_used])
            yi, vi = float(res.yi.iloc[0]), float(res.vi.iloc[0])
        effects.loc[i, ["yi", "vi"]] = [yi, vi]
        effects.loc[i, "derivation"] = f"{row.derivation}; {note}"
    return effects


def read_effects(path) -> pd.DataFrame:
    """Read ``effects.csv`` back, checked against its registered layout (text stays text)."""
    df = read_table("effects", path)
    df["reported_smd"] = df["reported_smd"].fillna(False).astype(bool)
    df["secondary"] = df["secondary"].fillna(False).astype(bool)
    return df
