"""Run the analysis plan (:class:`~evsynth.analyses.options.AnalysisOptions`) on the effects table.

For each analysis, each time window and each variant (primary, subgroups, sensitivity analyses)
the selected effect rows are pooled with the plan's estimator and test. The result is the
``pooled.csv`` table (one row per pooled result, or per result that could not be pooled with the
reason), the study rows behind every primary result (forest plots), the onset and duration time
courses, the side-effect tables, small-study tests and the summary of findings.

Every sensitivity variant either changes what it says or is reported with the reason it cannot
apply (``pooled = False``); it never repeats the primary result under another name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from evsynth.analyses import adverse_events, duration, grade, onset
from evsynth.analyses.fitting import POOLED_COLUMNS, STUDY_COLUMNS, fit, pooled_row, study_rows
from evsynth.analyses.options import AnalysisOptions, AnalysisSpec, Window
from evsynth.analyses.selection import select_window, study_attributes
from evsynth.pooling import subgroup_test


@dataclass
class PlanResults:
    """Everything the plan produces, as tables."""

    pooled: pd.DataFrame
    studies: pd.DataFrame
    onset: dict
    side_effects: pd.DataFrame
    side_effects_other: pd.DataFrame
    small_study: pd.DataFrame
    sof: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    duration: dict = field(default_factory=dict)


def windows_for(spec: AnalysisSpec, opts: AnalysisOptions) -> list[Window | None]:
    """The windows an analysis is pooled in: none for hazard ratios; from 24 h on for duration."""
    if spec.measure == "HR" or spec.question == "side_effects":
        return [None]
    if spec.question == "duration":
        return [w for w in opts.windows if w.nominal >= 24]
    return list(opts.windows)


def _selection_variants(spec: AnalysisSpec, opts: AnalysisOptions) -> list[str]:
    """The sensitivity variants that re-select rows (the model-changing ones are handled apart)."""
    out = []
    for s in spec.sensitivity:
        if s == "crossover_r":
            out += [f"crossover_r={r:g}" for r in opts.crossover_r_sensitivity]
        elif s not in ("fixed_effect", "leave_one_out"):
            out.append(s)
    return out


def _not_applicable(variant: str, spec: AnalysisSpec, opts: AnalysisOptions, primary: pd.DataFrame,
                    varied: pd.DataFrame) -> str:
    """Why a selection variant cannot apply here ('' when it can): it must never copy the primary."""
    if variant.startswith("crossover_r="):
        if spec.measure not in ("SMD", "MD"):
            return f"crossover correlation does not enter {spec.measure} variances"
        if not primary.r.notna().any():
            return "no paired crossover result in this selection"
        if float(variant.split("=", 1)[1]) == opts.crossover_r:
            return f"r = {opts.crossover_r:g} is the primary analysis's correlation"
        return ""
    if variant == "first_period_only":
        if opts.first_period_only:
            return "the primary analysis already uses first periods only"
        if not (primary.design == "crossover").any():
            return "no crossover trial in this selection"
    if variant == "exclude_high_rob" and len(varied) == len(primary):
        return "no study at high risk of bias in this selection"
    if variant == "endpoint_only" and len(varied) == len(primary) and not (primary.stat == "mean_change").any():
        return "no change-from-baseline result in this selection"
    if variant == "exclude_reported_smd" and not primary.reported_smd.fillna(False).astype(bool).any():
        return "no reported standardized effect in this selection"
    return ""


def run_analysis(spec: AnalysisSpec, effects: pd.DataFrame, attrs: pd.DataFrame, opts: AnalysisOptions):
    """Pool one analysis across its windows; return (pooled rows, study rows)."""
    level, min_k, measure = opts.level, opts.min_k, spec.measure
    rows, study_tables = [], []
    for window in windows_for(spec, opts):
        base = {"analysis_id": spec.id, "question": spec.question, "outcome": spec.outcome,
                "window": window.id if window else "", "window_label": window.title if window else "",
                "hours_nominal": window.nominal if window else float("nan"), "subgroup_var": "",
                "subgroup_level": ""}
        sel = select_window(effects, attrs, spec, window, opts)
        res, reason = fit(sel, measure, spec.method, spec.test, level, min_k)
        rows.append(pooled_row(base | {"variant": "primary"}, sel, res, reason, measure, level))
        if not sel.empty:
            study_tables.append(study_rows(spec.id, base["window"], sel, res, measure, level))
        for variant in spec.sensitivity:
            if variant == "fixed_effect":
                rows.append(_fixed_effect_row(base, sel, res, spec, opts))
            elif variant == "leave_one_out":
                rows.extend(_leave_one_out_rows(base, sel, res, spec, opts))
        for variant in _selection_variants(spec, opts):
            vsel = select_window(effects, attrs, spec, window, opts, variant=variant)
            why = "primary not pooled" if res is None else _not_applicable(variant, spec, opts, sel, vsel)
            if why:
                rows.append(pooled_row(base | {"variant": variant}, vsel.iloc[0:0], None, why, measure, level))
                continue
            vres, vwhy = fit(vsel, measure, spec.method, spec.test, level, min_k)
            rows.append(pooled_row(base | {"variant": variant}, vsel, vres, vwhy, measure, level))
        if res is not None:
            for var in spec.subgroups:
                rows.extend(_subgroup_rows(base, sel, var, spec, opts))
    return rows, study_tables


def _fixed_effect_row(base: dict, sel: pd.DataFrame, res, spec: AnalysisSpec, opts: AnalysisOptions) -> dict:
    """The equal-effects (inverse-variance, z test) model on the primary selection."""
    row = base | {"variant": "fixed_effect"}
    if res is None:
        return pooled_row(row, sel.iloc[0:0], None, "primary not pooled", spec.measure, opts.level)
    if spec.method in ("FE", "EE"):
        return pooled_row(row, sel.iloc[0:0], None, f"the primary model is already {spec.method}", spec.measure,
                          opts.level)
    fe, why = fit(sel, spec.measure, "FE", "z", opts.level, opts.min_k)
    return pooled_row(row, sel, fe, why, spec.measure, opts.level)


def _leave_one_out_rows(base: dict, sel: pd.DataFrame, res, spec: AnalysisSpec,
                        opts: AnalysisOptions) -> list[dict]:
    """One model per omitted study (metafor's ``leave1out``, with all rows of a study omitted together).

    metafor's ``leave1out()`` omits one estimate at a time; a multi-arm trial contributes several
    estimates here, and they are omitted together so that each row answers "without this study".
    """
    row = base | {"variant": "leave_one_out"}
    if res is None:
        return [pooled_row(row, sel.iloc[0:0], None, "primary not pooled", spec.measure, opts.level)]
    studies = sorted(sel.study_id.unique())
    if len(studies) < 2:
        return [pooled_row(row, sel.iloc[0:0], None, "one study: nothing to leave out", spec.measure, opts.level)]
    out = []
    for sid in studies:
        rest = sel[sel.study_id != sid]
        fitted, why = fit(rest, spec.measure, spec.method, spec.test, opts.level, opts.min_k)
        out.append(pooled_row(row | {"omitted_study": sid}, rest, fitted, why, spec.measure, opts.level))
    return out


def _subgroup_rows(base: dict, sel: pd.DataFrame, var: str, spec: AnalysisSpec,
                   opts: AnalysisOptions) -> list[dict]:
    """One row per subgroup level, with the test for subgroup differences over the pooled levels.

    The test is :func:`evsynth.pooling.subgroup_test` (separate tau^2 per subgroup); it is not
    reported when fewer than two levels could be pooled. A variable with one level in this
    selection gives one row saying so.
    """
    levels = sel[var].fillna("unknown").astype(str)
    row = base | {"variant": "subgroup", "subgroup_var": var}
    if levels.nunique() < 2:
        only = levels.iloc[0] if len(levels) else ""
        return [pooled_row(row | {"subgroup_level": only}, sel.iloc[0:0], None,
                           f"every study has {var} = {only!r}: no subgroups to compare", spec.measure, opts.level)]
    out, fits = [], []
    for lev in sorted(levels.unique()):
        part = sel[levels == lev]
        fitted, why = fit(part, spec.measure, spec.method, spec.test, opts.level, opts.min_k)
        out.append(pooled_row(row | {"subgroup_level": lev}, part, fitted, why, spec.measure, opts.level))
        if fitted is not None:
            fits.append(fitted)
    if len(fits) >= 2:
        test = subgroup_test([float(f.beta) for f in fits], [float(f.se) for f in fits])
        for r in out:
            r.update(subgroup_Q=test.Q, subgroup_df=test.df, subgroup_p=test.p)
    return out


def run_plan(effects: pd.DataFrame, frames: dict[str, pd.DataFrame], opts: AnalysisOptions) -> PlanResults:
    """Run every analysis of the plan on the effects table and the included studies' extraction tables."""
    studies, arms = frames["studies"], frames["arms"]
    attrs = study_attributes(studies, arms)
    pooled_rows, study_tables = [], []
    side = pd.DataFrame(columns=adverse_events.SIDE_EFFECT_COLUMNS)
    for spec in opts.analyses:
        if spec.question == "side_effects":
            side = adverse_events.side_effect_table(effects, frames["adverse_events"], arms, attrs, spec, opts)
            continue
        rows, tables = run_analysis(spec, effects, attrs, opts)
        pooled_rows += rows
        study_tables += tables
    other = adverse_events.other_terms(frames["adverse_events"], arms, attrs, frames["ae_vocabulary"])
    pooled = pd.DataFrame(pooled_rows, columns=POOLED_COLUMNS)
    forest = (pd.concat(study_tables, ignore_index=True) if study_tables
              else pd.DataFrame(columns=STUDY_COLUMNS))
    time_courses = onset.time_course(effects, attrs, opts, pooled)
    duration_course = duration.time_course(effects, attrs, opts, frames)
    small = grade.small_study_tests(forest, pooled, opts)
    sof = grade.summary_of_findings(pooled, forest, side, small, attrs, opts)
    return PlanResults(pooled=pooled, studies=forest, onset=time_courses, side_effects=side,
                       side_effects_other=other, small_study=small, sof=sof,
                       duration=duration_course)
