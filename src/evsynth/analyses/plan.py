"""Run the analysis plan declared in ``config.yaml`` (``analysis.analyses``).

For each analysis, each time window and each variant (primary, subgroups, sensitivity analyses)
the selected effect rows are pooled with the configured estimator and test. The result is the
``pooled.csv`` table (one row per pooled result, or per result that could not be pooled with the
reason), the study rows behind every primary result (forest plots), the onset time course, the
side-effect table, small-study tests and the summary of findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2

from evsynth.analyses import adverse_events, grade, onset
from evsynth.analyses.pool import POOLED_COLUMNS, STUDY_COLUMNS, fit, pooled_row, study_rows
from evsynth.analyses.selection import select_window, study_attributes


@dataclass
class PlanResults:
    """Everything the plan produces, as tables."""

    pooled: pd.DataFrame
    studies: pd.DataFrame
    onset: dict
    side_effects: pd.DataFrame
    small_study: pd.DataFrame
    sof: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _windows(spec: dict, opts: dict) -> list[dict | None]:
    if spec["measure"] == "HR" or spec["question"] == "side_effects":
        return [None]
    windows = opts["windows"]
    if spec["question"] == "duration":
        windows = [w for w in windows if w["nominal"] >= 24]
    return windows


def _variants(spec: dict, opts: dict) -> list[str]:
    out = []
    for s in spec.get("sensitivity", []):
        if s == "crossover_r":
            out += [f"crossover_r={r:g}" for r in opts.get("crossover_r_sensitivity", [])]
        elif s != "fixed_effect":
            out.append(s)
    return out


def run_analysis(spec: dict, effects: pd.DataFrame, attrs: pd.DataFrame, opts: dict):
    """Pool one analysis across its windows; return (pooled rows, study rows)."""
    method = spec.get("method", opts["method"])
    test = spec.get("test", opts["test"])
    level = opts.get("level", 95)
    min_k = opts.get("min_k", 2)
    truncate = opts.get("knha_truncate", True)
    measure = spec["measure"]
    rows, study_tables = [], []
    for window in _windows(spec, opts):
        base = {"analysis_id": spec["id"], "question": spec["question"], "outcome": spec["outcome"],
                "window": window["id"] if window else "", "window_label": window.get("label", window["id"]) if window
                else "", "hours_nominal": window["nominal"] if window else np.nan}
        sel = select_window(effects, attrs, spec, window, opts)
        res, reason = fit(sel, measure, method, test, level, min_k, knha_truncate=truncate)
        rows.append(pooled_row(base | {"variant": "primary", "subgroup_var": "", "subgroup_level": ""},
                               sel, res, reason, measure))
        if not sel.empty:
            study_tables.append(study_rows(spec["id"], base["window"], sel, res, measure, level))
        if res is None:
            continue
        if "fixed_effect" in spec.get("sensitivity", []):
            fe, why = fit(sel, measure, "FE", "z", level, min_k)
            rows.append(pooled_row(base | {"variant": "fixed_effect", "subgroup_var": "", "subgroup_level": ""},
                                   sel, fe, why, measure))
        for variant in _variants(spec, opts):
            vsel = select_window(effects, attrs, spec, window, opts, variant=variant)
            vres, why = fit(vsel, measure, method, test, level, min_k, knha_truncate=truncate)
            rows.append(pooled_row(base | {"variant": variant, "subgroup_var": "", "subgroup_level": ""},
                                   vsel, vres, why, measure))
        for var in spec.get("subgroups", []):
            rows.extend(_subgroup_rows(base, sel, var, measure, method, test, level, min_k, truncate))
    return rows, study_tables


def _subgroup_rows(base, sel, var, measure, method, test, level, min_k, truncate) -> list[dict]:
    """One row per subgroup level; the test for subgroup differences on the pooled levels.

    The test is the Q statistic between the subgroup estimates, each with its own model and
    standard error (separate tau^2 per subgroup; Borenstein et al. 2009, Introduction to
    Meta-Analysis, ch. 19; metafor: ``rma(estimate, sei = se, mods = ~ subgroup, method = "FE")``),
    chi-square with G - 1 df over the G levels that could be pooled; it is not reported when
    fewer than two levels were pooled.
    """
    levels = sel[var].fillna("unknown").astype(str)
    if levels.nunique() < 2:
        return []
    out, fits = [], []
    for lev in sorted(levels.unique()):
        part = sel[levels == lev]
        fitted, why = fit(part, measure, method, test, level, min_k, knha_truncate=truncate)
        out.append(pooled_row(base | {"variant": "subgroup", "subgroup_var": var, "subgroup_level": lev},
                              part, fitted, why, measure))
        if fitted is not None:
            fits.append(fitted)
    if len(fits) >= 2:
        b = np.array([float(f.beta) for f in fits])
        w = 1 / np.array([float(f.se) for f in fits]) ** 2
        q = float(np.sum(w * (b - np.sum(w * b) / w.sum()) ** 2))
        for row in out:
            row.update(subgroup_Q=q, subgroup_df=len(fits) - 1, subgroup_p=float(chi2.sf(q, len(fits) - 1)))
    return out


def run_plan(effects: pd.DataFrame, frames: dict[str, pd.DataFrame], opts: dict) -> PlanResults:
    """Run every analysis in ``opts['analyses']`` on the effects table and the extraction tables."""
    studies, arms = frames["studies"], frames["arms"]
    attrs = study_attributes(studies, arms)
    pooled_rows, study_tables = [], []
    side = pd.DataFrame(columns=adverse_events.SIDE_EFFECT_COLUMNS)
    for spec in opts["analyses"]:
        if spec["question"] == "side_effects":
            side = adverse_events.side_effect_table(effects, frames["adverse_events"], arms, attrs, spec, opts)
            continue
        rows, tables = run_analysis(spec, effects, attrs, opts)
        pooled_rows += rows
        study_tables += tables
    pooled = pd.DataFrame(pooled_rows, columns=POOLED_COLUMNS)
    forest = (pd.concat(study_tables, ignore_index=True) if study_tables
              else pd.DataFrame(columns=STUDY_COLUMNS))
    onset_result = onset.time_course(effects, attrs, opts, pooled)
    small = grade.small_study_tests(forest, pooled, opts)
    sof = grade.summary_of_findings(pooled, forest, side, small, attrs, opts)
    return PlanResults(pooled=pooled, studies=forest, onset=onset_result, side_effects=side,
                       small_study=small, sof=sof)
