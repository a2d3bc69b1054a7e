"""Side-effect rates: pooled incidence in ketamine and esketamine arms, and RR / RD against control.

For each controlled adverse-event term and drug:

* **incidence** — logit-transformed proportions (escalc ``PLO``) of the experimental arms, pooled
  with the configured random-effects estimator (z test) and back-transformed with the inverse
  logit (metafor: ``rma(measure="PLO", xi, ni)`` then ``predict(transf=transf.ilogit)``);
* **risk ratio** and **risk difference** against control, from the effects table (escalc ``RR`` /
  ``RD``, shared controls split), pooled the same way.

Terms reported by fewer than ``min_k_side_effects`` studies are listed with their raw counts
and the reason, not pooled.

Incidence and RR/RD read the same rows, chosen once by :func:`term_rows`: where one arm and
period has several rows mapped to one controlled term (Daly 2019's "Dizziness" and "Dizziness
postural"), the row marked ``use = yes`` in the extraction; rows mapped to ``other`` gather
unlike terms and are listed per trial (:func:`other_terms`), never pooled.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from evsynth.analyses.options import AnalysisOptions, AnalysisSpec
from evsynth.effects import escalc, transf_ilogit
from evsynth.pooling import rma
from evsynth.processed import layout

SIDE_EFFECT_COLUMNS = layout("side_effects").column_names
OTHER_COLUMNS = layout("side_effects_other").column_names


def term_rows(adverse: pd.DataFrame) -> pd.DataFrame:
    """The adverse-event rows that stand for their controlled term: one per arm, period and term.

    Rows mapped to ``other`` are dropped (see :func:`other_terms`); where several rows of one arm
    and period map to the same term, the one marked ``use = yes`` is kept (the validator makes
    sure exactly one is).
    """
    marked_no = adverse["use"].eq("no") if "use" in adverse else pd.Series(False, index=adverse.index)
    return adverse[(adverse.event != "other") & ~marked_no]


def other_terms(adverse: pd.DataFrame, arms: pd.DataFrame, attrs: pd.DataFrame,
                vocabulary: pd.DataFrame) -> pd.DataFrame:
    """Reported terms mapped to ``other``, with counts per trial (experimental arms summed).

    ``also_mapped_elsewhere`` names the controlled term when the same reported term (case
    ignored) is mapped to a controlled term by another trial's rows or by the vocabulary, so that
    inconsistent mappings are visible.
    """
    other = adverse[adverse.event == "other"]
    exp = set(zip(arms.loc[arms.role == "experimental", "study_id"], arms.loc[arms.role == "experimental", "arm_id"]))
    elsewhere = {t.casefold(): e for t, e in zip(adverse.reported_term, adverse.event) if e != "other"}
    elsewhere |= {t.casefold(): e for t, e in zip(vocabulary.reported_term, vocabulary.event) if e != "other"}
    rows = []
    for (study, term), g in other.groupby(["study_id", "reported_term"], sort=True):
        g = g[[(study, a) in exp for a in g.arm_id]]
        if g.empty:
            continue
        rows.append({"study_id": study, "reported_term": term, "drug": attrs.drug.get(study, ""),
                     "arms": "|".join(g.arm_id), "events": float(g.events.sum()), "n": float(g.n.sum()),
                     "also_mapped_elsewhere": elsewhere.get(term.casefold(), "")})
    return pd.DataFrame(rows, columns=OTHER_COLUMNS)


def _fit(yi, vi, method: str, level: float):
    """Random-effects model with a z test (side effects: few, sparse trials); warnings are returned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = rma(np.asarray(yi, float), np.asarray(vi, float), method=method if len(yi) > 1 else "FE",
                  test="z", level=level)
    return res, "; ".join(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))


def side_effect_table(effects: pd.DataFrame, adverse: pd.DataFrame, arms: pd.DataFrame, attrs: pd.DataFrame,
                      spec: AnalysisSpec, opts: AnalysisOptions) -> pd.DataFrame:
    """One row per adverse-event term x drug (see module docstring).

    Parameters
    ----------
    effects : DataFrame
        The effects table (its ``ae:<term>`` rows give RR and RD against control).
    adverse : DataFrame
        The extraction's ``adverse_events`` table (arm-level counts, for the incidence).
    arms, attrs : DataFrame
        The ``arms`` table and :func:`evsynth.analyses.selection.study_attributes`.
    """
    method, level, min_k, comparators = spec.method, opts.level, opts.min_k_side_effects, opts.comparators
    ae_rows = first_period(effects[effects.family.str.startswith("ae:")], "outcome")
    arm_counts = _arm_counts(adverse, arms, attrs)
    members = opts.studies_in_set(spec.study_set)
    if members is not None:
        ae_rows = ae_rows[ae_rows.study_id.isin(members)]
        arm_counts = arm_counts[arm_counts.study_id.isin(members)]
    rows = []
    for (event, drug), inc in arm_counts.groupby(["event", "drug"], sort=True):
        studies = sorted(inc.study_id.unique())
        row = dict.fromkeys(SIDE_EFFECT_COLUMNS, np.nan) | {
            "event": event, "drug": drug, "k_arms": len(inc), "participants_exp": int(inc.n.sum()),
            "events_exp": int(inc.events.sum()), "studies": "|".join(studies), "pooled": False, "level": level}
        comp = ae_rows[(ae_rows.outcome == event) & (ae_rows.study_id.map(attrs.drug) == drug)
                       & ae_rows.study_id.map(attrs.comparator).isin(comparators)]
        rr, rd = comp[comp.measure == "RR"], comp[comp.measure == "RD"]
        row["k"] = rr.study_id.nunique()
        row["participants"] = int(rr.n_exp.sum() + rr.n_ctrl_used.sum()) if len(rr) else 0
        if len(studies) < min_k:
            row["reason"] = f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} (< {min_k}): listed, not pooled"
            rows.append(row)
            continue
        plo = escalc("PLO", xi=inc.events.to_numpy(float), ni=inc.n.to_numpy(float))
        res, warn = _fit(plo.yi, plo.vi, method, level)
        inc_est, inc_lb, inc_ub = np.ravel(transf_ilogit([res.beta, res.ci_lb, res.ci_ub]))
        row.update(incidence=float(inc_est), incidence_ci_lb=float(inc_lb), incidence_ci_ub=float(inc_ub),
                   pooled=True, reason=warn)
        if rr.study_id.nunique() >= min_k:
            r, _ = _fit(rr.yi, rr.vi, method, level)
            high = (rr.study_id.map(attrs.rob_overall).fillna("high") == "high").to_numpy()
            row.update(rr=float(np.exp(r.beta)), rr_ci_lb=float(np.exp(r.ci_lb)), rr_ci_ub=float(np.exp(r.ci_ub)),
                       rr_events=float(np.nansum(rr.events_exp + rr.events_ctrl_used)), rr_I2=float(r.I2),
                       rr_high_rob_weight=float(r.weights[high].sum() / 100),
                       rr_studies="|".join(sorted(rr.study_id.unique())))
            d, _ = _fit(rd.yi, rd.vi, method, level)
            row.update(rd=float(d.beta), rd_ci_lb=float(d.ci_lb), rd_ci_ub=float(d.ci_ub))
        else:
            row["reason"] = f"RR/RD: {rr.study_id.nunique()} controlled studies (< {min_k}), not pooled"
        rows.append(row)
    table = pd.DataFrame(rows, columns=SIDE_EFFECT_COLUMNS)
    return table.sort_values(["drug", "incidence", "event"], ascending=[True, False, True],
                             na_position="last", kind="mergesort").reset_index(drop=True)


def first_period(rows: pd.DataFrame, term: str = "event") -> pd.DataFrame:
    """One reporting period per study and term: the first in alphabetical order (blank first).

    Incidence and RR/RD both go through here, so that they describe the same period of a trial
    that reports a term for several (e.g. induction and maintenance).
    """
    period = rows.period.fillna("").astype(str)
    first = period.groupby([rows.study_id, rows[term]]).transform("min")
    return rows[period == first]


def _arm_counts(adverse: pd.DataFrame, arms: pd.DataFrame, attrs: pd.DataFrame) -> pd.DataFrame:
    """Events / n per experimental arm and term, in the study's reporting period (:func:`first_period`)."""
    exp = arms[arms.role == "experimental"][["study_id", "arm_id"]]
    rows = first_period(term_rows(adverse).merge(exp, on=["study_id", "arm_id"])).drop_duplicates(
        ["study_id", "arm_id", "event"])
    return pd.DataFrame({
        "study_id": rows.study_id, "arm_id": rows.arm_id, "event": rows.event,
        "drug": rows.study_id.map(attrs.drug), "events": rows.events.astype(float), "n": rows.n.astype(float),
    })
