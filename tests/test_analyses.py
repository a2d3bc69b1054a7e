"""The analysis plan on a small synthetic evidence base: windows, subgroups, study sets, side effects,
sensitivity variants and exports. Pooled numbers are checked against rma() on the same rows, whose
own agreement with metafor is tested in test_pooling_rma.py."""

import numpy as np
import pandas as pd
import pytest

from evsynth.analyses.effect_table import build_effects
from evsynth.analyses.plan import run_plan
from evsynth.analyses.pool import truncate_knha
from evsynth.exports import metafor_csv, to_bibtex, to_ris
from evsynth.pooling.rma import rma

SRC = {"source": "PMID 1 Table 2", "source_url": "https://example.org"}
DESIGNS = {"Aaa2018": ("ketamine", "saline", "parallel"), "Bbb2019": ("ketamine", "midazolam", "parallel"),
           "Ccc2020": ("esketamine", "placebo_spray", "parallel"), "Ddd2021": ("esketamine", "placebo_spray", "parallel"),
           "Eee2022": ("ketamine", "ect", "parallel")}
MEANS = {"Aaa2018": (12, 20), "Bbb2019": (14, 19), "Ccc2020": (15, 18), "Ddd2021": (13, 21), "Eee2022": (15, 15)}


def frames():
    studies, arms, outcomes, aes = [], [], [], []
    for i, (sid, (drug, comp, design)) in enumerate(DESIGNS.items()):
        studies.append({"study_id": sid, "pmid": 1000 + i, "design": design, "drug": drug, "comparator": comp,
                        "route": "IV" if drug == "ketamine" else "intranasal", "population": "TRD",
                        "rob_overall": "high" if sid == "Aaa2018" else "low", "year": 2018 + i, "doi": f"10.1/x{i}"})
        for arm, role in (("exp", "experimental"), ("ctl", "control")):
            arms.append({"study_id": sid, "arm_id": arm, "role": role, "schedule": "single infusion",
                         "n_randomized": 30, "n_analyzed": 30})
            mean = MEANS[sid][0 if role == "experimental" else 1]
            outcomes.append({"study_id": sid, "arm_id": arm, "outcome": "madrs", "timepoint": 24,
                             "timepoint_unit": "h", "timepoint_ref": "first_dose", "period": np.nan,
                             "stratum": np.nan, "stat": "mean_endpoint", "mean": mean, "sd": 8.0, "se": np.nan,
                             "ci_lb": np.nan, "ci_ub": np.nan, "n": 30, "events": np.nan} | SRC)
            aes.append({"study_id": sid, "arm_id": arm, "event": "dissociation", "reported_term": "Dissociation",
                        "events": 9 - i if role == "experimental" else 1 + (i % 2), "n": 30, "period": "db"} | SRC)
    contrasts = pd.DataFrame(columns=["study_id", "arm_id", "control_arm_id", "outcome", "timepoint",
                                      "timepoint_unit", "timepoint_ref", "period", "stratum", "measure", "estimate",
                                      "ci_lb", "ci_ub", "se", "p", "source", "source_url"])
    return {"studies": pd.DataFrame(studies), "arms": pd.DataFrame(arms), "outcomes": pd.DataFrame(outcomes),
            "contrasts": contrasts, "adverse_events": pd.DataFrame(aes)}


OPTS = {
    "level": 95, "method": "REML", "test": "knha", "min_k": 2, "min_k_side_effects": 3, "min_k_funnel": 10,
    "crossover_r": 0.5, "crossover_r_sensitivity": [0.2, 0.8], "depression_outcomes": ["madrs", "hdrs"],
    "comparators": ["saline", "midazolam", "placebo_spray"],
    "windows": [{"id": "24h", "label": "24 h", "lo": 18, "hi": 36, "nominal": 24},
                {"id": "d7", "label": "day 7", "lo": 144, "hi": 216, "nominal": 168}],
    "analyses": [
        {"id": "onset_depression", "question": "onset", "outcome": "depression", "measure": "SMD",
         "timepoint_ref": "first_dose", "subgroups": ["drug"], "sensitivity": ["exclude_high_rob", "fixed_effect"]},
        {"id": "side_effects", "question": "side_effects", "outcome": "adverse_events", "measure": "RR"},
    ],
    "study_sets": {"ketamine_only": ["Aaa2018", "Bbb2019"]}, "study_set": None,
}


@pytest.fixture(scope="module")
def result():
    f = frames()
    effects, _ = build_effects(f, OPTS)
    return effects, run_plan(effects, f, OPTS)


def test_window_pooling_matches_rma_and_excludes_active_comparators(result):
    effects, res = result
    row = res.pooled[(res.pooled.variant == "primary") & (res.pooled.window == "24h")].iloc[0]
    assert row.studies == "Aaa2018|Bbb2019|Ccc2020|Ddd2021"  # Eee2022 (vs ECT) is not pooled against placebo
    sel = effects[(effects.measure == "SMD") & (effects.study_id != "Eee2022")].sort_values("study_id")
    ref = truncate_knha(rma(sel.yi.to_numpy(), sel.vi.to_numpy(), method="REML", test="knha"))
    assert row.estimate == pytest.approx(ref.beta, rel=1e-12) and row.ci_ub == pytest.approx(ref.ci_ub, rel=1e-12)
    assert row.participants == 240 and row.k == 4
    empty = res.pooled[(res.pooled.variant == "primary") & (res.pooled.window == "d7")].iloc[0]
    assert not empty.pooled and "no study" in empty.reason


def test_subgroups_and_sensitivity(result):
    _, res = result
    sub = res.pooled[res.pooled.variant == "subgroup"]
    assert sorted(sub.subgroup_level) == ["esketamine", "ketamine"] and sub.subgroup_p.notna().all()
    robust = res.pooled[res.pooled.variant == "exclude_high_rob"].iloc[0]
    assert "Aaa2018" not in robust.studies and robust.k == 3
    fe = res.pooled[res.pooled.variant == "fixed_effect"].iloc[0]
    assert fe.method == "FE"


def test_study_set_restricts_the_selection():
    f = frames()
    effects, _ = build_effects(f, OPTS)
    res = run_plan(effects, f, OPTS | {"study_set": "ketamine_only"})
    row = res.pooled[(res.pooled.variant == "primary") & (res.pooled.window == "24h")].iloc[0]
    assert row.studies == "Aaa2018|Bbb2019"


def test_side_effects_incidence_and_rr(result):
    _, res = result
    se = res.side_effects.set_index(["event", "drug"])
    ket = se.loc[("dissociation", "ketamine")]
    assert ket.k_arms == 3 and ket.pooled  # incidence from all ketamine arms, the ECT trial included
    assert 0 < ket.incidence < 1 and ket.incidence_ci_lb < ket.incidence < ket.incidence_ci_ub
    assert ket.k == 2 and np.isnan(ket.rr)  # RR needs 3 placebo-controlled studies
    esk = se.loc[("dissociation", "esketamine")]
    assert not esk.pooled and "listed, not pooled" in esk.reason


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


def test_knha_truncation():
    close = rma([0.50, 0.51, 0.49], [0.04, 0.05, 0.06], method="DL", test="knha")  # q < 1
    t = truncate_knha(close)
    w = 1 / (np.array([0.04, 0.05, 0.06]) + close.tau2)
    assert close.se < t.se == pytest.approx(np.sqrt(1 / w.sum()), rel=1e-12)
    assert t.ci_ub - t.ci_lb > close.ci_ub - close.ci_lb and t.extra["knha_truncated"]
    spread = rma([0.1, 0.9, -0.4], [0.01, 0.01, 0.01], method="DL", test="knha")  # q > 1: unchanged
    assert truncate_knha(spread) is spread
    z = rma([0.50, 0.51, 0.49], [0.04, 0.05, 0.06], method="DL", test="z")
    assert truncate_knha(z) is z
