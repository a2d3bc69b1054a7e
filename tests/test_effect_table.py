"""The effects table: design-aware effect sizes from arm-level results (synthetic test tables)."""

import math

import numpy as np
import pandas as pd
import pytest

from evsynth.analyses.effect_table import build_effects, to_hours
from evsynth.analyses.options import AnalysisOptions
from evsynth.effects.paired import paired_variance

OPTS = AnalysisOptions(depression_outcomes=("madrs", "hdrs"), crossover_r=0.5)
SRC = {"source": "PMID 1 Table 2", "source_url": "https://example.org/t2"}


def frames(design="parallel", arms=None, outcomes=None, contrasts=None, ae=None):
    studies = pd.DataFrame([{"study_id": "Test2020", "design": design, "drug": "ketamine", "comparator": "saline",
                             "route": "IV", "population": "TRD", "rob_overall": "low"}])
    arms = pd.DataFrame(arms or [
        {"study_id": "Test2020", "arm_id": "ket", "role": "experimental", "schedule": "single infusion",
         "n_randomized": 20, "n_analyzed": 20} | SRC,
        {"study_id": "Test2020", "arm_id": "sal", "role": "control", "schedule": "single infusion",
         "n_randomized": 20, "n_analyzed": 20} | SRC,
    ])
    cols = ["study_id", "arm_id", "outcome", "timepoint", "timepoint_unit", "timepoint_ref", "period", "stratum",
            "stat", "mean", "sd", "se", "ci_lb", "ci_ub", "n", "events", "source", "source_url"]
    out = pd.DataFrame([dict.fromkeys(cols, np.nan) | SRC | o for o in outcomes or []], columns=cols)
    ccols = ["study_id", "arm_id", "control_arm_id", "outcome", "timepoint", "timepoint_unit", "timepoint_ref",
             "period", "stratum", "measure", "reference_arm", "estimate", "ci_lb", "ci_ub", "se", "p", "source",
             "source_url"]
    con = pd.DataFrame([dict.fromkeys(ccols, np.nan) | SRC | c for c in contrasts or []], columns=ccols)
    acols = ["study_id", "arm_id", "event", "reported_term", "events", "n", "period", "use", "source", "source_url"]
    aes = pd.DataFrame([dict.fromkeys(acols, np.nan) | SRC | a for a in ae or []], columns=acols)
    return {"studies": studies, "arms": arms, "outcomes": out, "contrasts": con, "adverse_events": aes}


def mean_row(arm, mean, sd=None, se=None, n=20, t=24, unit="h", period=np.nan):
    return {"study_id": "Test2020", "arm_id": arm, "outcome": "madrs", "timepoint": t, "timepoint_unit": unit,
            "timepoint_ref": "first_dose", "period": period, "stat": "mean_endpoint", "mean": mean, "sd": sd,
            "se": se, "n": n}


def hedges_g(m1, m2, s1, s2, n1, n2):
    """Hedges' g with the exact correction (Hedges 1981), written out independently of escalc."""
    sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
    m = n1 + n2 - 2
    c = math.exp(math.lgamma(m / 2) - math.log(math.sqrt(m / 2)) - math.lgamma((m - 1) / 2))
    return c * (m1 - m2) / sp


def test_to_hours():
    assert to_hours(40, "min") == pytest.approx(2 / 3)
    assert to_hours(1, "wk") == 168 and to_hours(3, "d") == 72
    assert math.isnan(to_hours(np.nan, ""))


def test_parallel_smd_and_md():
    eff, skipped = build_effects(frames(outcomes=[mean_row("ket", 15.0, sd=8.0), mean_row("sal", 25.0, sd=10.0)]),
                                 OPTS)
    smd = eff[eff.measure == "SMD"].iloc[0]
    md = eff[eff.measure == "MD"].iloc[0]
    g = hedges_g(15, 25, 8, 10, 20, 20)
    assert smd.yi == pytest.approx(g, rel=1e-10)
    assert smd.vi == pytest.approx(1 / 20 + 1 / 20 + g**2 / (2 * 40), rel=1e-10)  # escalc vtype="LS"
    assert md.yi == -10 and md.vi == pytest.approx(64 / 20 + 100 / 20)
    assert smd.hours == 24 and smd.family == "depression" and skipped.empty


def test_sd_from_se_is_recorded():
    eff, _ = build_effects(frames(outcomes=[mean_row("ket", 15.0, se=2.0), mean_row("sal", 25.0, sd=10.0)]), OPTS)
    md = eff[eff.measure == "MD"].iloc[0]
    assert md.sd_exp == pytest.approx(2 * math.sqrt(20))
    assert "SE" in md.sd_method_exp and md.sd_method_ctrl == "reported"


def test_crossover_uses_paired_variance():
    f = frames("crossover", outcomes=[mean_row("ket", 15.0, sd=8.0, period="all"),
                                      mean_row("sal", 25.0, sd=10.0, period="all")])
    eff, _ = build_effects(f, OPTS)
    md = eff[eff.measure == "MD"].iloc[0]
    smd = eff[eff.measure == "SMD"].iloc[0]
    assert md.vi == pytest.approx((64 + 100 - 2 * 0.5 * 8 * 10) / 20)  # Cochrane 23.2.7.1
    assert smd.vi == pytest.approx((1 / 20 + smd.yi**2 / 40) * 2 * (1 - 0.5))  # Cochrane 23.2.7.2
    assert md.r == 0.5 and "crossover" in md.derivation


def test_paired_variance_shrinks_with_correlation():
    v = [paired_variance("MD", 0, 10, 10, 20, r) for r in (0.2, 0.5, 0.8)]
    assert v[0] > v[1] > v[2] > 0


def test_shared_control_is_split():
    arms = [{"study_id": "Test2020", "arm_id": a, "role": r, "schedule": "single", "n_randomized": 20,
             "n_analyzed": 20} | SRC for a, r in (("lo", "experimental"), ("hi", "experimental"), ("pbo", "control"))]
    outs = [mean_row("lo", 18.0, sd=9.0), mean_row("hi", 15.0, sd=9.0), mean_row("pbo", 25.0, sd=9.0)]
    eff, _ = build_effects(frames(arms=arms, outcomes=outs), OPTS)
    md = eff[eff.measure == "MD"].set_index("arm_id")
    assert list(md.n_ctrl_used) == [10, 10]
    assert md.loc["hi", "vi"] == pytest.approx(81 / 20 + 81 / 10)
    assert "split 2 ways" in md.loc["hi", "derivation"]


def test_events_give_log_rr_and_missing_sd_is_reported():
    outs = [
        {"study_id": "Test2020", "arm_id": "ket", "outcome": "response", "timepoint": 1, "timepoint_unit": "d",
         "timepoint_ref": "first_dose", "stat": "events", "n": 20, "events": 10},
        {"study_id": "Test2020", "arm_id": "sal", "outcome": "response", "timepoint": 1, "timepoint_unit": "d",
         "timepoint_ref": "first_dose", "stat": "events", "n": 20, "events": 2},
        mean_row("ket", 15.0), mean_row("sal", 25.0),
    ]
    eff, skipped = build_effects(frames(outcomes=outs), OPTS)
    rr = eff[eff.measure == "RR"].iloc[0]
    assert rr.yi == pytest.approx(math.log(5)) and rr.vi == pytest.approx(1 / 10 - 1 / 20 + 1 / 2 - 1 / 20)
    assert skipped.reason.tolist() == ["no SD, SE or CI reported for both arms"]


def test_contrast_hr_from_ci():
    con = [{"study_id": "Test2020", "arm_id": "ket", "control_arm_id": "sal", "outcome": "relapse",
            "timepoint_ref": "randomization", "stratum": "remitters", "measure": "HR", "estimate": 0.5,
            "ci_lb": 0.25, "ci_ub": 1.0}]
    eff, _ = build_effects(frames(contrasts=con), OPTS)
    hr = eff.iloc[0]
    assert hr.yi == pytest.approx(math.log(0.5))
    assert math.sqrt(hr.vi) == pytest.approx((math.log(1.0) - math.log(0.25)) / (2 * 1.959963984540054))
    assert hr.stratum == "remitters" and np.isnan(hr.n_exp)  # the arm's n is not the stratum's n
    unstratified = build_effects(frames(contrasts=[con[0] | {"stratum": np.nan}]), OPTS)[0].iloc[0]
    assert unstratified.n_exp == 20 and unstratified.n_ctrl == 20


def test_hr_reported_with_the_drug_as_reference_is_inverted():
    """Hu 2016 prints HR 0.04 for a shorter time to response on ketamine: placebo / ketamine.
    Stored as printed with reference_arm = the drug arm, evsynth turns it into drug / control."""
    con = [{"study_id": "Test2020", "arm_id": "ket", "control_arm_id": "sal", "outcome": "time_to_response",
            "timepoint": 4, "timepoint_unit": "wk", "timepoint_ref": "first_dose", "measure": "HR",
            "reference_arm": "ket", "estimate": 0.04, "ci_lb": 0.01, "ci_ub": 0.22}]
    hr = build_effects(frames(contrasts=con), OPTS)[0].iloc[0]
    assert hr.yi == pytest.approx(-math.log(0.04)) and "inverted" in hr.derivation
    as_convention = build_effects(frames(contrasts=[con[0] | {"reference_arm": "sal"}]), OPTS)[0].iloc[0]
    assert as_convention.yi == pytest.approx(math.log(0.04))
    assert hr.vi == pytest.approx(as_convention.vi)


def test_adverse_events_use_the_marked_row_and_skip_other():
    ae = [{"study_id": "Test2020", "arm_id": a, "event": "dizziness", "reported_term": t, "events": e, "n": 20,
           "period": "db", "use": u}
          for a, t, e, u in (("ket", "Dizziness", 6, "yes"), ("sal", "Dizziness", 2, "yes"),
                             ("ket", "Dizziness postural", 3, "no"), ("sal", "Dizziness postural", 1, "no"))]
    ae += [{"study_id": "Test2020", "arm_id": a, "event": "other", "reported_term": t, "events": 5, "n": 20,
            "period": "db"} for a, t in (("ket", "Diplopia"), ("sal", "Throat irritation"))]
    eff, _ = build_effects(frames(ae=ae), OPTS)
    rr = eff[eff.measure == "RR"]
    assert list(rr.family) == ["ae:dizziness"] and list(rr.events_exp) == [6] and list(rr.events_ctrl) == [2]


def test_adverse_events_rr_and_rd():
    ae = [{"study_id": "Test2020", "arm_id": "ket", "event": "dizziness", "reported_term": "Dizziness",
           "events": 6, "n": 20, "period": "double-blind"},
          {"study_id": "Test2020", "arm_id": "sal", "event": "dizziness", "reported_term": "Dizziness",
           "events": 2, "n": 20, "period": "double-blind"}]
    eff, _ = build_effects(frames(ae=ae), OPTS)
    assert set(eff.measure) == {"RR", "RD"} and set(eff.family) == {"ae:dizziness"}
    assert eff[eff.measure == "RD"].yi.iloc[0] == pytest.approx(0.2)
