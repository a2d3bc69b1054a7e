"""The analysis plan on a small synthetic evidence base: windows, subgroups, study sets, side effects,
every sensitivity variant and exports. Pooled numbers are checked against rma() on the same rows, whose
own agreement with metafor is tested in test_pooling_rma.py.

Each variant has a test showing that it changes what it says (or says why it cannot apply): before the
typed plan, ``leave_one_out`` was accepted by the schema and reported with the primary's numbers, and
``exclude_high_rob`` without a high-risk study repeated the primary under its own name.
"""

import numpy as np
import pandas as pd
import pytest

from evsynth.analyses.adverse_events import side_effect_table, term_rows
from evsynth.analyses.effect_table import build_effects
from evsynth.analyses.options import load_plan
from evsynth.analyses.run import run_plan
from evsynth.analyses.selection import study_attributes
from evsynth.exports import metafor_csv, to_bibtex, to_ris
from evsynth.pooling import rma

SRC = {"source": "PMID 1 Table 2", "source_url": "https://example.org"}
DESIGNS = {"Aaa2018": ("ketamine", "saline", "parallel"), "Bbb2019": ("ketamine", "midazolam", "parallel"),
           "Ccc2020": ("esketamine", "placebo_spray", "parallel"), "Ddd2021": ("esketamine", "placebo_spray", "parallel"),
           "Eee2022": ("ketamine", "ect", "parallel"), "Fff2017": ("ketamine", "saline", "crossover")}
MEANS = {"Aaa2018": (12, 20), "Bbb2019": (14, 19), "Ccc2020": (15, 18), "Ddd2021": (13, 22), "Eee2022": (15, 15),
         "Fff2017": (16, 22)}
CONTRAST_COLUMNS = ["study_id", "arm_id", "control_arm_id", "outcome", "timepoint", "timepoint_unit", "timepoint_ref",
                    "period", "stratum", "measure", "reference_arm", "estimate", "ci_lb", "ci_ub", "se", "p",
                    "source", "source_url"]


def frames(with_crossover: bool = False, with_change: bool = False):
    studies, arms, outcomes, aes = [], [], [], []
    for i, (sid, (drug, comp, design)) in enumerate(DESIGNS.items()):
        if sid == "Fff2017" and not with_crossover:
            continue
        studies.append({"study_id": sid, "pmid": 1000 + i, "design": design, "drug": drug, "comparator": comp,
                        "route": "IV" if drug == "ketamine" else "intranasal", "population": "TRD",
                        "rob_overall": "high" if sid == "Aaa2018" else "low", "year": 2018 + i, "doi": f"10.1/x{i}"})
        for arm, role in (("exp", "experimental"), ("ctl", "control")):
            arms.append({"study_id": sid, "arm_id": arm, "role": role, "schedule": "single infusion",
                         "n_randomized": 30, "n_analyzed": 30} | SRC)
            mean = MEANS[sid][0 if role == "experimental" else 1]
            stat = "mean_change" if with_change and sid == "Ddd2021" else "mean_endpoint"
            outcomes.append({"study_id": sid, "arm_id": arm, "outcome": "madrs", "timepoint": 24,
                             "timepoint_unit": "h", "timepoint_ref": "first_dose",
                             "period": "all" if design == "crossover" else np.nan,
                             "stratum": np.nan, "stat": stat, "mean": mean, "sd": 8.0, "se": np.nan,
                             "ci_lb": np.nan, "ci_ub": np.nan, "n": 30, "events": np.nan} | SRC)
            aes.append({"study_id": sid, "arm_id": arm, "event": "dissociation", "reported_term": "Dissociation",
                        "events": 9 - i if role == "experimental" else 1 + (i % 2), "n": 30, "period": "db",
                        "use": None} | SRC)
    return {"studies": pd.DataFrame(studies), "arms": pd.DataFrame(arms), "outcomes": pd.DataFrame(outcomes),
            "contrasts": pd.DataFrame(columns=CONTRAST_COLUMNS), "adverse_events": pd.DataFrame(aes),
            "ae_vocabulary": pd.DataFrame({"reported_term": ["Dissociation"], "event": ["dissociation"]})}


CONFIG = {
    "level": 95, "method": "REML", "test": "knha", "min_k": 2, "min_k_side_effects": 3, "min_k_funnel": 10,
    "crossover_r": 0.5, "crossover_r_sensitivity": [0.2, 0.8], "depression_outcomes": ["madrs", "hdrs"],
    "comparators": ["saline", "midazolam", "placebo_spray"],
    "windows": [{"id": "24h", "label": "24 h", "lo": 18, "hi": 36, "nominal": 24},
                {"id": "d7", "label": "day 7", "lo": 144, "hi": 216, "nominal": 168}],
    "analyses": [
        {"id": "onset_depression", "question": "onset", "outcome": "depression", "measure": "SMD",
         "timepoint_ref": "first_dose", "subgroups": ["drug"],
         "sensitivity": ["exclude_high_rob", "fixed_effect", "leave_one_out", "crossover_r", "first_period_only",
                         "endpoint_only", "exclude_reported_smd"]},
        {"id": "side_effects", "question": "side_effects", "outcome": "adverse_events", "measure": "RR"},
    ],
    "study_sets": {"ketamine_only": ["Aaa2018", "Bbb2019"]}, "study_set": None,
}
OUTCOMES = {"madrs": "scale", "hdrs": "scale", "response": "binary"}


def plan(**changes):
    return load_plan(CONFIG | changes, outcomes=OUTCOMES, study_ids=list(DESIGNS))


def run(f, p):
    effects, _ = build_effects(f, p)
    return effects, run_plan(effects, f, p)


def rows(res, variant, window="24h"):
    return res.pooled[(res.pooled.variant == variant) & (res.pooled.window == window)]


@pytest.fixture(scope="module")
def result():
    return run(frames(), plan())


def test_window_pooling_matches_rma_adhoc_and_excludes_active_comparators(result):
    effects, res = result
    row = rows(res, "primary").iloc[0]
    assert row.studies == "Aaa2018|Bbb2019|Ccc2020|Ddd2021"  # Eee2022 (vs ECT) is not pooled against placebo
    sel = effects[(effects.measure == "SMD") & (effects.study_id != "Eee2022")].sort_values("study_id")
    ref = rma(sel.yi.to_numpy(), sel.vi.to_numpy(), method="REML", test="adhoc")
    assert row.test == "adhoc" and row.level == 95
    assert row.estimate == pytest.approx(ref.beta, rel=1e-12) and row.ci_ub == pytest.approx(ref.ci_ub, rel=1e-12)
    assert row.participants == 240 and row.k == 4
    empty = rows(res, "primary", "d7").iloc[0]
    assert not empty.pooled and "no study" in empty.reason


def test_subgroups_use_the_pooling_subgroup_test(result):
    from evsynth.pooling import subgroup_test

    _, res = result
    sub = rows(res, "subgroup")
    assert sorted(sub.subgroup_level) == ["esketamine", "ketamine"]
    expected = subgroup_test(sub.beta.to_numpy(), sub.se.to_numpy())
    assert sub.subgroup_Q.iloc[0] == pytest.approx(expected.Q, rel=1e-12)
    assert sub.subgroup_p.iloc[0] == pytest.approx(expected.p, rel=1e-12)


def test_exclude_high_rob_drops_the_high_risk_study(result):
    _, res = result
    robust = rows(res, "exclude_high_rob").iloc[0]
    assert robust.pooled and "Aaa2018" not in robust.studies and robust.k == 3
    assert robust.estimate != rows(res, "primary").iloc[0].estimate


def test_exclude_high_rob_without_high_risk_says_why():
    f = frames()
    f["studies"]["rob_overall"] = "low"
    _, res = run(f, plan())
    row = rows(res, "exclude_high_rob").iloc[0]
    assert not row.pooled and np.isnan(row.estimate) and "no study at high risk" in row.reason


def test_fixed_effect_variant_is_the_fe_model(result):
    effects, res = result
    fe = rows(res, "fixed_effect").iloc[0]
    sel = effects[(effects.measure == "SMD") & (effects.study_id != "Eee2022")]
    ref = rma(sel.yi.to_numpy(), sel.vi.to_numpy(), method="FE")
    assert fe.method == "FE" and fe.estimate == pytest.approx(ref.beta, rel=1e-12)


def test_leave_one_out_one_row_per_omitted_study(result):
    """metafor: leave1out(rma(yi, vi)); here every study's rows are omitted together."""
    effects, res = result
    loo = rows(res, "leave_one_out").set_index("omitted_study")
    assert sorted(loo.index) == ["Aaa2018", "Bbb2019", "Ccc2020", "Ddd2021"]
    sel = effects[(effects.measure == "SMD") & ~effects.study_id.isin(["Eee2022", "Bbb2019"])]
    ref = rma(sel.yi.to_numpy(), sel.vi.to_numpy(), method="REML", test="adhoc")
    assert loo.loc["Bbb2019"].estimate == pytest.approx(ref.beta, rel=1e-12) and loo.loc["Bbb2019"].k == 3
    assert "Bbb2019" not in loo.loc["Bbb2019"].studies
    assert loo.estimate.nunique() == 4


def test_crossover_r_changes_the_paired_variance():
    f = frames(with_crossover=True)
    _, res = run(f, plan())
    prim = rows(res, "primary").iloc[0]
    low, high = rows(res, "crossover_r=0.2").iloc[0], rows(res, "crossover_r=0.8").iloc[0]
    assert "Fff2017" in prim.studies and low.pooled and high.pooled
    w = res.studies[(res.studies.study_id == "Fff2017")]
    assert len(w) == 1
    # a larger r gives the paired SMD a smaller variance: the estimates differ in the right order of weight
    assert low.estimate != prim.estimate != high.estimate


def test_crossover_variants_without_crossover_say_why(result):
    _, res = result
    for variant in ("crossover_r=0.2", "first_period_only"):
        row = rows(res, variant).iloc[0]
        assert not row.pooled and "crossover" in row.reason


def test_first_period_only_uses_period_one():
    f = frames(with_crossover=True)
    extra = f["outcomes"][f["outcomes"].study_id == "Fff2017"].assign(period="1", mean=[15.0, 23.0], n=15)
    f["outcomes"] = pd.concat([f["outcomes"], extra], ignore_index=True)
    effects, res = run(f, plan())
    fp = rows(res, "first_period_only").iloc[0]
    prim = rows(res, "primary").iloc[0]
    assert fp.pooled and fp.estimate != prim.estimate
    period1 = effects[(effects.study_id == "Fff2017") & (effects.period == "1") & (effects.measure == "SMD")]
    assert len(period1) == 1


def test_endpoint_only_drops_change_scores():
    _, res = run(frames(with_change=True), plan())
    row = rows(res, "endpoint_only").iloc[0]
    assert row.pooled and "Ddd2021" not in row.studies and row.k == 3
    _, res = run(frames(), plan())
    assert "no change-from-baseline" in rows(res, "endpoint_only").iloc[0].reason


def test_exclude_reported_smd_leaves_generic_rows_out():
    f = frames()
    f["contrasts"] = pd.DataFrame([{"study_id": "Eee2022", "arm_id": "exp", "control_arm_id": "ctl",
                                    "outcome": "madrs", "timepoint": 24, "timepoint_unit": "h",
                                    "timepoint_ref": "first_dose", "measure": "SMD", "estimate": -0.8, "ci_lb": -1.4,
                                    "ci_ub": -0.2} | SRC], columns=CONTRAST_COLUMNS)
    f["studies"].loc[f["studies"].study_id == "Eee2022", "comparator"] = "saline"
    f["outcomes"] = f["outcomes"][f["outcomes"].study_id != "Eee2022"]
    effects, res = run(f, plan())
    generic = effects[effects.reported_smd]
    assert list(generic.study_id) == ["Eee2022"] and generic.yi.iloc[0] == pytest.approx(-0.8)
    assert "Eee2022" in rows(res, "primary").iloc[0].studies
    assert "Eee2022" not in rows(res, "exclude_reported_smd").iloc[0].studies


def test_study_set_restricts_the_selection():
    f = frames()
    effects, _ = build_effects(f, plan())
    res = run_plan(effects, f, plan(study_set="ketamine_only"))
    assert rows(res, "primary").iloc[0].studies == "Aaa2018|Bbb2019"


def test_level_is_recorded_and_used():
    _, res90 = run(frames(), plan(level=90))
    _, res95 = run(frames(), plan())
    r90, r95 = rows(res90, "primary").iloc[0], rows(res95, "primary").iloc[0]
    assert r90.level == 90 and r90.ci_ub - r90.ci_lb < r95.ci_ub - r95.ci_lb
    assert (res90.studies.level == 90).all() and (res90.side_effects.level == 90).all()


def test_side_effects_incidence_and_rr(result):
    _, res = result
    se = res.side_effects.set_index(["event", "drug"])
    ket = se.loc[("dissociation", "ketamine")]
    assert ket.k_arms == 3 and ket.pooled  # incidence from all ketamine arms, the ECT trial included
    assert 0 < ket.incidence < 1 and ket.incidence_ci_lb < ket.incidence < ket.incidence_ci_ub
    assert ket.k == 2 and np.isnan(ket.rr)  # RR needs 3 placebo-controlled studies
    esk = se.loc[("dissociation", "esketamine")]
    assert not esk.pooled and "listed, not pooled" in esk.reason


def test_incidence_and_rr_read_the_same_marked_row():
    """Two rows of one arm map to 'dissociation': the row marked use=yes feeds incidence and RR alike."""
    f = frames()
    ae = f["adverse_events"]
    specific = ae.assign(reported_term="Dissociation severe", events=ae.events + 10, use="no")
    f["adverse_events"] = pd.concat([ae.assign(use="yes"), specific], ignore_index=True)
    p = plan(min_k_side_effects=2)
    effects, res = run(f, p)
    assert len(term_rows(f["adverse_events"])) == len(ae)
    rr = effects[(effects.family == "ae:dissociation") & (effects.measure == "RR") & (effects.study_id == "Aaa2018")]
    assert list(rr.events_exp) == [9]  # the general row, not the 19 of the specific term
    ket = res.side_effects.set_index(["event", "drug"]).loc[("dissociation", "ketamine")]
    assert ket.events_exp == 9 + 8 + 5  # Aaa, Bbb, Eee experimental arms, general rows
    reference = side_effect_table(effects, f["adverse_events"], f["arms"],
                                  study_attributes(f["studies"], f["arms"]), p.spec("side_effects"), p)
    assert reference.equals(res.side_effects)


def test_other_terms_are_listed_with_counts():
    f = frames()
    other = pd.DataFrame([{"study_id": "Aaa2018", "arm_id": "exp", "event": "other", "reported_term": "Dissociation",
                           "events": 4, "n": 30, "period": "db", "use": None} | SRC,
                          {"study_id": "Bbb2019", "arm_id": "exp", "event": "other", "reported_term": "Diplopia",
                           "events": 2, "n": 30, "period": "db", "use": None} | SRC])
    f["adverse_events"] = pd.concat([f["adverse_events"], other], ignore_index=True)
    _, res = run(f, plan())
    o = res.side_effects_other.set_index("study_id")
    assert list(o.index) == ["Aaa2018", "Bbb2019"] and o.loc["Bbb2019"].events == 2
    assert o.loc["Aaa2018"].also_mapped_elsewhere == "dissociation" and o.loc["Bbb2019"].also_mapped_elsewhere == ""
    assert "other" not in set(res.side_effects.event)


def test_exports(result):
    effects, _ = result
    f = frames()
    studies = f["studies"]
    records = pd.DataFrame({"pmid": studies.pmid, "title": [f"Trial {s}" for s in studies.study_id],
                            "journal": "J Test", "year": studies.year, "authors": "Smith A|Jones B",
                            "volume": "1", "issue": "2", "pages": "3-4"})
    ris, bib = to_ris(studies, records), to_bibtex(studies, records)
    assert ris.count("TY  - JOUR") == 5 and "AU  - Smith A" in ris and "AN  - PMID:1000" in ris
    assert bib.count("@article{") == 5 and "author = {Smith A and Jones B}" in bib and "pages = {3--4}" in bib
    m = metafor_csv(effects)
    assert {"yi", "vi", "n1i", "n2i", "m1i", "sd1i", "ai", "ci"} <= set(m.columns) and len(m) == len(effects)


def test_study_set_restricts_side_effects_too():
    """Before, a study set restricted the pooled results but not side_effects.csv."""
    f = frames()
    effects, _ = build_effects(f, plan())
    res = run_plan(effects, f, plan(study_set="ketamine_only"))
    ket = res.side_effects.set_index(["event", "drug"]).loc[("dissociation", "ketamine")]
    assert ket.studies == "Aaa2018|Bbb2019" and ket.k_arms == 2
    assert "esketamine" not in set(res.side_effects.drug)


def test_incidence_and_rr_use_the_same_period():
    """A trial reporting a term in two periods: incidence and RR/RD both use its first period."""
    f = frames()
    ae = f["adverse_events"]
    later = ae[ae.study_id.isin(["Ccc2020", "Ddd2021"])].assign(period="zz_maintenance", events=1)
    f["adverse_events"] = pd.concat([ae, later], ignore_index=True)
    effects, res = run(f, plan(min_k_side_effects=2))
    esk = res.side_effects.set_index(["event", "drug"]).loc[("dissociation", "esketamine")]
    db = ae[(ae.study_id.isin(["Ccc2020", "Ddd2021"])) & (ae.arm_id == "exp")]
    assert esk.events_exp == db.events.sum()  # the "db" period, not the later one
    assert esk.rr_events == db.events.sum() + ae[(ae.study_id.isin(["Ccc2020", "Ddd2021"]))
                                                 & (ae.arm_id == "ctl")].events.sum()
