"""Which effect rows enter an analysis: outcome family, comparator, time window, one time per study.

Per study and window the timepoint closest to the window's nominal time is used; per study one
depression scale (the first of ``depression_outcomes`` reported there) and one kind of mean
(end-of-period scores before changes from baseline, as Cochrane Handbook 10.5.2 advises against
mixing them in an SMD). All comparisons of a multi-arm trial at that time are kept (their shared
control was already split in the effects table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evsynth.analyses.options import AnalysisOptions, AnalysisSpec, Window
from evsynth.effects.paired import paired_variance

ARM_LEVEL = ("mean_endpoint", "mean_change", "events")
STAT_PREFERENCE = {"mean_endpoint": 0, "mean_change": 1, "events": 0}


def regimen_of(arms: pd.DataFrame) -> pd.Series:
    """Per study: ``single`` when every experimental arm's schedule says single, else ``repeated``."""
    exp = arms[arms.role == "experimental"]
    single = exp.schedule.fillna("").str.contains("single", case=False)
    return single.groupby(exp.study_id).all().map({True: "single", False: "repeated"})


def study_attributes(studies: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """Study-level attributes used for filters and subgroups (drug, route, comparator, ..., regimen)."""
    attrs = studies.set_index("study_id")[["drug", "route", "comparator", "population", "design", "rob_overall"]]
    return attrs.assign(regimen=regimen_of(arms)).fillna({"regimen": "repeated"})


def select_window(effects: pd.DataFrame, attrs: pd.DataFrame, spec: AnalysisSpec, window: Window | None,
                  opts: AnalysisOptions, variant: str = "primary") -> pd.DataFrame:
    """The effect rows of one analysis in one time window, for one variant of the analysis.

    Parameters
    ----------
    effects : DataFrame
        The effects table (included studies only).
    attrs : DataFrame
        :func:`study_attributes`.
    spec : AnalysisSpec
        The analysis.
    window : Window or None
        The time window; ``None`` for analyses without time (relapse hazard ratios).
    opts : AnalysisOptions
        The plan (depression outcomes, crossover r, comparators, study sets).
    variant : str
        ``primary`` or a sensitivity analysis: ``first_period_only``, ``endpoint_only``,
        ``exclude_high_rob``, ``exclude_reported_smd``, ``crossover_r=<value>``. (``fixed_effect``
        and ``leave_one_out`` change the model, not the selection.)
    """
    e = _filter(effects, attrs, spec, opts)
    if variant == "exclude_high_rob":
        e = e[e.study_id.map(attrs.rob_overall) != "high"]
    if variant == "endpoint_only":
        e = e[e.stat != "mean_change"]
    if variant == "exclude_reported_smd":
        e = e[~e.reported_smd.fillna(False).astype(bool)]
    first_period = variant == "first_period_only" or opts.first_period_only
    e = _crossover_periods(e, first_period)
    if window is not None:
        e = e[(e.hours >= window.lo) & (e.hours <= window.hi)]
        e = _closest_time(e, window.nominal, list(opts.depression_outcomes))
    if variant.startswith("crossover_r="):
        r = float(variant.split("=", 1)[1])
        paired = e.r.notna()
        if paired.any():
            n = np.minimum(e.n_exp, e.n_ctrl_used)
            measure = spec.measure
            e = e.assign(vi=np.where(paired, paired_variance(measure, e.yi, e.sd_exp, e.sd_ctrl, n, r), e.vi))
            e.loc[paired, "r"] = r
    return e.assign(**{c: e.study_id.map(attrs[c]) for c in ("drug", "route", "comparator", "population",
                                                              "regimen")})


def _filter(effects: pd.DataFrame, attrs: pd.DataFrame, spec: AnalysisSpec, opts: AnalysisOptions) -> pd.DataFrame:
    family = spec.outcome
    if family in opts.depression_outcomes:  # one scale, e.g. MADRS mean differences
        e = effects[(effects.family == "depression") & (effects.outcome == family)]
    else:
        e = effects[effects.family == family]
    e = e[e.measure == spec.measure]
    if spec.measure == "RR" and family != "relapse":
        e = e[e.stat.isin(ARM_LEVEL)]
    if spec.measure == "SMD":  # arm-level SMDs, plus reported standardized effects (flagged reported_smd)
        e = e[e.stat.isin(ARM_LEVEL) | e.reported_smd.fillna(False).astype(bool)]
    e = e[e.study_id.map(attrs.comparator).isin(opts.comparators)]
    ref = spec.timepoint_ref
    if ref == "last_dose":
        # a single dose's first dose is its last dose
        single = e.study_id.map(attrs.regimen) == "single"
        e = e[(e.timepoint_ref == "last_dose") | (single & (e.timepoint_ref == "first_dose"))]
    elif ref:
        e = e[e.timepoint_ref == ref]
    members = opts.studies_in_set(spec.study_set)
    if members is not None:
        e = e[e.study_id.isin(members)]
    return e


def _crossover_periods(e: pd.DataFrame, first_period: bool) -> pd.DataFrame:
    """Crossover trials: paired all-period results, or (first-period option) period-1 results only.

    Without the option a crossover trial's period-1 rows are used only where it reports nothing
    pooled over periods for that outcome and time.
    """
    cross = e.design == "crossover"
    if first_period:
        return e[~cross | (e.period == "1")]
    at = e.study_id + "|" + e.outcome + "|" + e.hours.astype(str)  # per study, outcome and time
    has_all = set(at[cross & e.period.isin(["all", ""])])
    keep = ~cross | e.period.isin(["all", ""]) | ~at.isin(has_all)
    return e[keep]


def _closest_time(e: pd.DataFrame, nominal: float, depression: list[str]) -> pd.DataFrame:
    """Per study: one scale, one kind of mean, the time closest to nominal; all comparisons kept.

    Preference order within a study: the scale listed first in ``depression_outcomes``, then
    end-of-period scores before changes from baseline, then the overall result before results for
    strata (subgroups of the same participants must not enter next to the overall result), then
    the time closest to nominal on the log scale. Strata are used only when the study reports no
    overall result at that time, and then all of them (disjoint strata, e.g. SUSTAIN-1's stable
    remitters and stable responders).
    """
    if e.empty:
        return e
    rank = {o: i for i, o in enumerate(depression)}
    e = e.assign(
        _dist=(np.log(e.hours) - np.log(nominal)).abs(),
        _scale=e.outcome.map(rank).fillna(len(rank)),
        _stat=e.stat.map(STAT_PREFERENCE).fillna(2),
        _strat=(e.stratum.fillna("") != "").astype(int),
    )
    e = e.sort_values(["study_id", "_scale", "_stat", "_strat", "_dist", "hours", "stratum", "comparison"],
                      kind="mergesort")
    key = ["study_id", "outcome", "stat", "hours", "period", "_strat"]
    first = e.groupby("study_id", sort=False).head(1)[key]
    chosen = e.merge(first, on=key)
    return chosen.drop(columns=["_dist", "_scale", "_stat", "_strat"]).reset_index(drop=True)
