"""Figures: every expected file, valid SVG/PNG, labels present, identical bytes on a second rendering,
and the five main figures even when nothing was pooled (synthetic input tables)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from evsynth.figures import render_all as _render_all
from evsynth.figures.inputs import FigureInputError
from evsynth.processed import layout

POOLED_COLUMNS = layout("pooled").column_names
STUDY_COLUMNS = layout("pooled_studies").column_names
SIDE_EFFECT_COLUMNS = layout("side_effects").column_names
SMALL_STUDY_COLUMNS = layout("small_study_tests").column_names
FILES = {"pooled": "pooled.csv", "pooled_studies": "pooled_studies.csv", "side_effects": "side_effects.csv",
         "small_study_tests": "small_study_tests.csv", "studies": "studies.csv", "prisma": "prisma.json",
         "onset_timecourse": "onset_timecourse.json"}


def render_all(d: Path, out: Path):
    return _render_all({name: d / f for name, f in FILES.items()}, out)

MAIN = ["onset", "duration", "side_effects", "prisma", "risk_of_bias"]
PRISMA = {"identified": {"pubmed": 12}, "identified_total": 12, "duplicates_removed": 0, "screened": 12,
          "excluded_screening": 4, "excluded_screening_reasons": {"wrong_publication_type": 4},
          "assessed_eligibility": 8, "excluded_eligibility": 2, "excluded_eligibility_reasons": {"secondary_analysis": 2},
          "awaiting_assessment": 0, "included_reports": 6, "included_studies": 5}


def write_inputs(d: Path, pooled_rows=(), study_rows=(), side_rows=()):
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(list(pooled_rows), columns=POOLED_COLUMNS).to_csv(d / "pooled.csv", index=False)
    pd.DataFrame(list(study_rows), columns=STUDY_COLUMNS).to_csv(d / "pooled_studies.csv", index=False)
    pd.DataFrame(list(side_rows), columns=SIDE_EFFECT_COLUMNS).to_csv(d / "side_effects.csv", index=False)
    pd.DataFrame(columns=SMALL_STUDY_COLUMNS).to_csv(d / "small_study_tests.csv", index=False)
    pd.DataFrame([{"study_id": f"Study{i}2020", "year": 2020, "drug": "ketamine", "rob_randomization": "low",
                   "rob_deviations": "some_concerns", "rob_missing": "low", "rob_measurement": "high",
                   "rob_selection": "", "rob_overall": "high"} for i in range(3)],
                 columns=layout("studies").column_names).to_csv(d / "studies.csv", index=False)
    (d / "prisma.json").write_text(json.dumps(PRISMA))
    onset = {"onset_depression": {"measure": "SMD", "null_value": 0, "earliest": None, "windows": [
        {"window": "24h", "label": "24 h", "hours": 24, "k": len(study_rows), "estimate": -0.6, "ci_lb": -0.9,
         "ci_ub": -0.3, "pi_lb": -1.2, "pi_ub": 0.0, "pooled": bool(pooled_rows)}]}}
    (d / "onset_timecourse.json").write_text(json.dumps(onset))


def pooled_row(**kw):
    return dict.fromkeys(POOLED_COLUMNS, "") | {
        "analysis_id": "onset_depression", "question": "onset", "outcome": "depression", "measure": "SMD",
        "window": "24h", "window_label": "24 h", "hours_nominal": 24, "variant": "primary", "k": 3, "n_studies": 3,
        "participants": 120, "beta": -0.6, "se": 0.15, "estimate": -0.6, "ci_lb": -0.9, "ci_ub": -0.3,
        "pi_lb": -1.2, "pi_ub": 0.0, "tau2": 0.01, "I2": 12.0, "QE": 2.3, "QEp": 0.3, "method": "REML",
        "test": "knha", "converged": True, "pooled": True, "studies": "A|B|C", "null_value": 0, "level": 95} | kw


STUDIES = [dict.fromkeys(STUDY_COLUMNS, "") | {
    "analysis_id": "onset_depression", "window": "24h", "study_id": s, "comparison": "ket vs pbo", "label": s,
    "hours": 24, "yi": y, "vi": 0.09, "estimate": y, "ci_lb": y - 0.59, "ci_ub": y + 0.59, "weight": w,
    "n_exp": 20, "n_ctrl": 20, "drug": "ketamine", "design": "parallel", "regimen": "single", "level": 95}
    for s, y, w in (("Alpha2019", -0.8, 40.0), ("Beta2020", -0.5, 35.0), ("Gamma2021", -0.4, 25.0))]
SIDE = [dict.fromkeys(SIDE_EFFECT_COLUMNS, "") | {
    "event": e, "drug": "esketamine", "k_arms": 4, "participants_exp": 400, "events_exp": 80, "incidence": p,
    "incidence_ci_lb": p - 0.05, "incidence_ci_ub": p + 0.05, "k": 4, "participants": 700, "rr": 3.0,
    "rr_ci_lb": 2.0, "rr_ci_ub": 4.5, "rd": 0.1, "rd_ci_lb": 0.05, "rd_ci_ub": 0.15, "pooled": True, "level": 95}
    for e, p in (("dissociation", 0.3), ("nausea", 0.2))]


def test_render_all_writes_everything(tmp_path):
    write_inputs(tmp_path / "in", [pooled_row()], STUDIES, SIDE)
    written = render_all(tmp_path / "in", tmp_path / "out")
    names = {p.relative_to(tmp_path / "out").as_posix() for p in written}
    for stem in MAIN + ["forest/onset_depression__24h"]:
        assert {f"{stem}.svg", f"{stem}.png"} <= names
    forest = (tmp_path / "out/forest/onset_depression__24h.svg").read_text()
    assert forest.startswith("<?xml") and "<svg" in forest
    for label in ("Alpha2019", "Beta2020", "Gamma2021", "Pooled estimate"):
        assert label in forest
    assert (tmp_path / "out/onset.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    side = (tmp_path / "out/side_effects.svg").read_text()
    assert "dissociation" in side and "Incidence in drug arms (%, 95% CI)" in side


def test_same_inputs_same_bytes(tmp_path):
    write_inputs(tmp_path / "in", [pooled_row()], STUDIES, SIDE)
    first = {p.name: p.read_bytes() for p in render_all(tmp_path / "in", tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in render_all(tmp_path / "in", tmp_path / "b")}
    assert first == second


def test_nothing_pooled_still_draws_the_main_figures(tmp_path):
    write_inputs(tmp_path / "in")
    written = render_all(tmp_path / "in", tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(f"{m}.{ext}" for m in MAIN for ext in ("png", "svg"))
    assert "no pooled estimate" in (tmp_path / "out/duration.svg").read_text()


def test_bad_input_is_named(tmp_path):
    write_inputs(tmp_path / "in", [pooled_row(estimate="abc")], STUDIES)
    with pytest.raises(FigureInputError, match=r"pooled\.csv, row 2, column 'estimate': 'abc' is not a number"):
        render_all(tmp_path / "in", tmp_path / "out")


def test_confidence_level_labels_follow_the_level(tmp_path):
    """Before the plan, the forest plot printed "95% CI" whatever analysis.level said."""
    side = [r | {"level": 90} for r in SIDE]
    write_inputs(tmp_path / "in", [pooled_row(level=90)], [r | {"level": 90} for r in STUDIES], side)
    onset = json.loads((tmp_path / "in/onset_timecourse.json").read_text())
    onset["onset_depression"]["level"] = 90
    (tmp_path / "in/onset_timecourse.json").write_text(json.dumps(onset))
    render_all(tmp_path / "in", tmp_path / "out")
    texts = {n: (tmp_path / f"out/{n}.svg").read_text() for n in ("forest/onset_depression__24h", "side_effects",
                                                                   "onset")}
    assert all("90% CI" in t and "95% CI" not in t for t in texts.values()), [n for n, t in texts.items()
                                                                             if "90% CI" not in t]


@pytest.mark.parametrize("damage", ["empty", "nul", "truncated"])
def test_corrupt_processed_table_is_named(tmp_path, damage):
    write_inputs(tmp_path / "in", [pooled_row()], STUDIES, SIDE)
    path = tmp_path / "in/pooled_studies.csv"
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "nul": b"\x00" * len(data), "truncated": data[: len(data) // 2]}[damage])
    with pytest.raises(FigureInputError, match=r"pooled_studies\.csv"):
        render_all(tmp_path / "in", tmp_path / "out")
