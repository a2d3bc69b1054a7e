"""Duration by regimen on a small synthetic evidence base.

Four single-dose trials (strong effect at 24 h and day 3, none at day 7, one trial at day 14) and
three courses (a strong effect at 24 h after the *first* dose, which must not enter; a small one
after the *last* dose). Checked: the latest distinguishable window, regimens never mixed, the
bootstrap reproducible and its latest/earliest picks, the multilevel model's latest window, where
the data stop, the uncontrolled follow-ups, the figure's bytes and the report's sentences.
"""

import json

import numpy as np
import pandas as pd
import pytest

from evsynth.analyses import duration
from evsynth.analyses.effect_table import build_effects
from evsynth.analyses.onset import bootstrap_window
from evsynth.analyses.options import load_plan
from evsynth.analyses.run import run_plan
from evsynth.analyses.selection import select_window, study_attributes
from evsynth.figures import style
from evsynth.figures.duration import duration_figure
from evsynth.io import write_json
from evsynth.pooling import rma
from evsynth.processed import DOCUMENTS, layout, read_document, write_document
from evsynth.report.sections import duration_section

SRC = {"source": "PMID 1 Table 2", "source_url": "https://example.org"}
SINGLE = ["Sa2010", "Sb2011", "Sc2012", "Sd2013"]
COURSE = ["Ra2018", "Rb2019", "Rc2020"]
# (hours, reference, experimental minus control MADRS difference) per regimen; SD 8, n 30 per arm
SINGLE_TIMES = [(1, "first_dose", -9), (24, "first_dose", -9), (72, "first_dose", -8), (168, "first_dose", 0)]
COURSE_TIMES = [(24, "first_dose", -12), (24, "last_dose", -1), (168, "last_dose", 1)]
CONTRAST_COLUMNS = ["study_id", "arm_id", "control_arm_id", "outcome", "timepoint", "timepoint_unit", "timepoint_ref",
                    "period", "stratum", "measure", "reference_arm", "estimate", "ci_lb", "ci_ub", "se", "p",
                    "source", "source_url"]
CONFIG = {
    "level": 95, "method": "REML", "test": "knha", "min_k": 2, "depression_outcomes": ["madrs"],
    "comparators": ["saline", "placebo_spray"],
    "windows": [{"id": "1h", "label": "1 h", "lo": 0.6, "hi": 2.5, "nominal": 1},
                {"id": "24h", "label": "24 h", "lo": 18, "hi": 36, "nominal": 24},
                {"id": "d3", "label": "day 3", "lo": 60, "hi": 84, "nominal": 72},
                {"id": "d7", "label": "day 7", "lo": 144, "hi": 216, "nominal": 168},
                {"id": "d14", "label": "day 14", "lo": 288, "hi": 384, "nominal": 336},
                {"id": "d28", "label": "day 28", "lo": 600, "hi": 840, "nominal": 672}],
    "analyses": [{"id": "duration_depression", "question": "duration", "outcome": "depression", "measure": "SMD",
                  "timepoint_ref": "last_dose", "subgroups": ["regimen"]}],
}
OUTCOMES = {"madrs": "scale", "relapse": "binary"}


def _outcome(sid, arm, hours, ref, mean, **kw):
    return {"study_id": sid, "arm_id": arm, "outcome": "madrs", "timepoint": hours, "timepoint_unit": "h",
            "timepoint_ref": ref, "period": np.nan, "stratum": np.nan, "stat": "mean_endpoint", "mean": mean,
            "sd": 8.0, "se": np.nan, "ci_lb": np.nan, "ci_ub": np.nan, "n": 30, "events": np.nan} | SRC | kw


def frames(uncontrolled: bool = False):
    studies, arms, outcomes = [], [], []
    for i, sid in enumerate(SINGLE + COURSE):
        single = sid in SINGLE
        studies.append({"study_id": sid, "pmid": 1000 + i, "design": "parallel", "drug": "ketamine",
                        "comparator": "saline", "route": "IV", "population": "TRD", "rob_overall": "low",
                        "year": 2010 + i, "doi": f"10.1/x{i}"})
        for arm, role in (("exp", "experimental"), ("ctl", "control")):
            arms.append({"study_id": sid, "arm_id": arm, "role": role, "n_randomized": 30, "n_analyzed": 30,
                         "drug": "ketamine" if role == "experimental" else "saline",
                         "schedule": "single infusion" if single else "twice weekly x4 wk"} | SRC)
        times = SINGLE_TIMES + ([(336, "first_dose", -9)] if sid == "Sa2010" else []) if single else COURSE_TIMES
        for hours, ref, diff in times:
            base = 20 + (i % 3)  # a little between-trial variation
            outcomes.append(_outcome(sid, "ctl", hours, ref, base))
            outcomes.append(_outcome(sid, "exp", hours, ref, base + diff + (i % 2)))
    if uncontrolled:  # open-label follow-up of responders: no control arm, no contrast
        outcomes.append(_outcome("Sa2010", "exp", 14, "last_dose", np.nan, outcome="relapse", timepoint_unit="d",
                                 stat="events", sd=np.nan, n=10, events=3))
    return {"studies": pd.DataFrame(studies), "arms": pd.DataFrame(arms), "outcomes": pd.DataFrame(outcomes),
            "contrasts": pd.DataFrame(columns=CONTRAST_COLUMNS),
            "adverse_events": pd.DataFrame(columns=["study_id", "arm_id", "event", "reported_term", "events", "n",
                                                    "period", "use", "source", "source_url"]),
            "ae_vocabulary": pd.DataFrame({"reported_term": [], "event": []})}


def plan(**changes):
    return load_plan(CONFIG | changes, outcomes=OUTCOMES, study_ids=SINGLE + COURSE)


@pytest.fixture(scope="module")
def base():
    f, p = frames(), plan()
    effects, _ = build_effects(f, p)
    attrs = study_attributes(f["studies"], f["arms"])
    return f, p, effects, attrs


@pytest.fixture(scope="module")
def doc(base):
    f, p, effects, attrs = base
    return duration.time_course(effects, attrs, p, f)


def course(doc, regimen):
    return doc["analyses"]["duration_depression"]["regimens"][regimen]


def window(c, wid):
    return next(w for w in c["windows"] if w["window"] == wid)


def test_latest_window_is_the_last_distinguishable_one(doc, base):
    single = course(doc, "single")
    assert [w["window"] for w in single["windows"]] == ["24h", "d3", "d7", "d14", "d28"]  # from 24 h on
    assert [w["favourable"] for w in single["windows"]] == [True, True, False, False, False]
    assert single["latest"]["window"] == "d3" and single["latest"]["label"] == "day 3"
    assert single["status"] == "distinguishable" and single["why"] == ""
    # the day-3 result is rma() on the single-dose trials' day-3 rows
    _f, p, effects, attrs = base
    spec = p.spec("duration_depression")
    sel = select_window(effects, attrs, spec, next(w for w in p.windows if w.id == "d3"), p)
    sel = sel[sel.regimen == "single"]
    ref = rma(sel.yi.to_numpy(), sel.vi.to_numpy(), method="REML", test="adhoc")
    d3 = window(single, "d3")
    assert d3["estimate"] == pytest.approx(ref.beta) and d3["ci_ub"] == pytest.approx(ref.ci_ub)
    assert d3["ci_ub"] < 0 and d3["ci_lb"] == pytest.approx(ref.ci_lb)
    assert d3["n_studies"] == 4 and d3["studies"] == "|".join(SINGLE)
    # the multilevel model picks the latest too (day 7 is null, day 14 has one trial)
    ml = single["multilevel"]
    assert ml["fitted"] and ml["latest"] == "d3" and "earliest" not in ml
    assert ml["n_studies"] == 4


def test_regimens_are_kept_apart(doc, base):
    single, rep = course(doc, "single"), course(doc, "repeated")
    assert {p["study_id"] for p in single["points"]} == set(SINGLE)
    assert {p["study_id"] for p in rep["points"]} == set(COURSE)
    # a course enters only after its last dose: the strong 24 h effect after the first dose stays out
    assert window(rep, "24h")["n_studies"] == 3 and window(rep, "24h")["estimate"] > -0.3
    assert rep["latest"] is None and rep["status"] == "not_distinguishable"
    assert "no pooled window's CI excludes the null on the favourable side" in rep["why"]
    assert rep["multilevel"]["fitted"] and rep["multilevel"]["latest"] is None
    # the plan's all-regimen row at 24 h mixes them; the duration answer never does
    f, p, effects, _attrs = base
    res = run_plan(effects, f, p)
    mixed = res.pooled[(res.pooled.variant == "primary") & (res.pooled.window == "24h")].iloc[0]
    assert mixed.n_studies == 7 and _json(res.duration) == _json(doc)


def test_where_the_data_stop(doc):
    end = course(doc, "single")["data_end"]
    assert end["last_window_any"]["window"] == "d14" and end["last_window_any"]["studies"] == "Sa2010"
    assert end["last_window_min_k"]["window"] == "d7"
    assert end["last_hours"] == 336 and end["last_hours_studies"] == ["Sa2010"]
    rep_end = course(doc, "repeated")["data_end"]
    assert rep_end["last_window_any"]["window"] == "d7" and rep_end["last_hours"] == 168
    # the 1 h window is onset's: never part of the duration course
    assert all(p["hours"] >= 18 for p in course(doc, "single")["points"])


def test_bootstrap_is_reproducible_and_picks_latest(base, doc):
    _f, p, effects, attrs = base
    spec = p.spec("duration_depression")
    wins = duration.duration_windows(spec, p)
    parts = [(w, (s := select_window(effects, attrs, spec, w, p))[s.regimen == "single"]) for w in wins]
    a = bootstrap_window(parts, spec, p, pick="latest", n_boot=200, seed=7)
    b = bootstrap_window(parts, spec, p, pick="latest", n_boot=200, seed=7)
    assert a == b and sum(a.values()) == pytest.approx(1.0)
    assert list(a) == ["24h", "d3", "d7", "d14", "d28", "none"]
    assert max(a, key=a.get) == "d3" and a["d7"] == a["d14"] == a["d28"] == 0.0
    early = bootstrap_window(parts, spec, p, pick="earliest", n_boot=200, seed=7)
    assert max(early, key=early.get) == "24h"
    share = course(doc, "single")["bootstrap"]
    assert share["B"] == 1000 and share["seed"] == duration.SEED and share["pick"] == "latest"
    assert course(doc, "single")["latest"]["bootstrap_share"] == share["share"]
    with pytest.raises(ValueError, match="pick"):
        bootstrap_window(parts, spec, p, pick="last")


def test_nothing_pooled_says_why(base):
    f, p, effects, attrs = base
    only_one = effects[effects.study_id.isin(SINGLE[:1] + COURSE)]
    d = duration.time_course(only_one, attrs, p.with_settings(min_k=4), f)
    single, rep = course(d, "single"), course(d, "repeated")
    assert single["status"] == "not_pooled" and single["latest"] is None and single["bootstrap"] is None
    assert rep["status"] == "not_pooled" and rep["why"].startswith("no window has the 4 trials needed to pool (24 h: 3")
    assert single["why"].startswith("no window has the 4 trials needed to pool (24 h: 1 trial (Sa2010)")
    assert single["multilevel"] == {"fitted": False, "reason": "1 study (< 4)"}
    none = duration.time_course(effects[effects.study_id.isin(COURSE)], attrs, p, f)
    assert course(none, "single")["status"] == "no_data"
    assert course(none, "single")["why"] == "no controlled result timed from a single dose falls in a window from 24 h on"


def test_uncontrolled_followups_are_listed_not_pooled(doc):
    assert doc["uncontrolled"]["rows"] == [] and "no uncontrolled follow-up" in doc["uncontrolled"]["note"]
    f, p = frames(uncontrolled=True), plan()
    effects, _ = build_effects(f, p)
    attrs = study_attributes(f["studies"], f["arms"])
    d = duration.time_course(effects, attrs, p, f)
    (row,) = d["uncontrolled"]["rows"]
    assert (row["study_id"], row["arm_id"], row["outcome"], row["n"], row["events"]) == ("Sa2010", "exp", "relapse",
                                                                                          10, 3)
    assert row["share"] == pytest.approx(0.3) and row["regimen"] == "single" and row["drug"] == "ketamine"
    # a contrast at the same time makes it controlled
    c = pd.DataFrame([{"study_id": "Sa2010", "arm_id": "exp", "control_arm_id": "ctl", "outcome": "relapse",
                       "timepoint": 14, "timepoint_unit": "d", "timepoint_ref": "last_dose"}])
    assert duration.uncontrolled_followups(f["outcomes"], f["arms"], c, attrs).empty
    # the duration course itself is unchanged by the uncontrolled row
    assert course(d, "single")["windows"] == course(doc, "single")["windows"]


def test_document_is_registered_and_round_trips(doc, tmp_path):
    assert DOCUMENTS["duration_timecourse"].required_keys == ("analyses", "uncontrolled")
    path = tmp_path / "duration_timecourse.json"
    write_document("duration_timecourse", doc, path)
    back = read_document("duration_timecourse", path)
    assert back["analyses"]["duration_depression"]["regimens"]["single"]["latest"]["window"] == "d3"
    with pytest.raises(ValueError, match="uncontrolled"):
        write_document("duration_timecourse", {"analyses": {}}, tmp_path / "bad.json")


def _json(doc):
    p = __import__("pathlib").Path(__import__("tempfile").mkdtemp()) / "d.json"
    write_json(p, doc)
    return json.loads(p.read_text())


def test_figure_is_deterministic_and_by_regimen(base, doc, tmp_path):
    f, p, effects, attrs = base
    res = run_plan(effects, f, p)
    d = _json(doc)
    first = style.save(duration_figure(res.pooled, res.studies, d), tmp_path / "a" / "duration")
    second = style.save(duration_figure(res.pooled, res.studies, d), tmp_path / "b" / "duration")
    for x, y in zip(first, second):
        assert x.read_bytes() == y.read_bytes()
    svg = first[0].read_text()
    for text in ("After a single dose", "After the end of a course", "95% CI", "latest distinguishable: day 3",
                 "data stop: day 14", "Time since last dose", "Relapse after response/remission"):
        assert text in svg
    d90 = _json(duration.time_course(effects, attrs, plan(level=90), f))
    svg90 = style.save(duration_figure(res.pooled, res.studies, d90), tmp_path / "c" / "duration")[0].read_text()
    assert "90% CI" in svg90 and "95% CI" not in svg90
    empty = style.save(duration_figure(res.pooled, res.studies, None), tmp_path / "e" / "duration")[0].read_text()
    assert "no duration time course" in empty


def _report(doc, p, tmp_path):
    data = {"plan": p, "pooled": layout("pooled").empty(), "weights": layout("pooled_studies").empty(),
            "duration": _json(doc), "figures": tmp_path}
    return duration_section(data)


def test_report_states_latest_window_or_why_none(base, doc, tmp_path):
    f, p, effects, attrs = base
    html = _report(doc, p, tmp_path)
    assert ("<strong>After a single dose</strong>: the latest window at which the pooled effect is still "
            "distinguishable from control is <strong>day 3</strong>") in html
    assert "share of resamples in which each window is the latest distinguishable one" in html
    assert "latest window whose 95% CI excludes no effect: <strong>day 3</strong>" in html
    assert ("the last window with any controlled result is day 14 (Sa2010); the last with ≥ 2 trials is day 7 "
            f"({', '.join(SINGLE)}); the latest controlled time point is day 14 (Sa2010)") in html
    assert html.index("After a single dose</strong>:") < html.index("After the end of a course</strong>:")
    assert ("<strong>After the end of a course</strong>: no window is distinguishable from control — no pooled "
            "window&#x27;s CI excludes the null on the favourable side") in html
    assert "Uncontrolled follow-ups" in html and "no uncontrolled follow-up" in html
    none = duration.time_course(effects[effects.study_id.isin(SINGLE[:1])], attrs, p, f)
    html = _report(none, p, tmp_path)
    assert ("no window is distinguishable from control — no window has the 2 trials needed to pool "
            "(24 h: 1 trial (Sa2010); day 3: 1 trial (Sa2010); day 7: 1 trial (Sa2010); day 14: 1 trial (Sa2010))"
            ) in html
    assert "Study bootstrap: not run (no window was pooled)." in html
    assert ("<strong>After the end of a course</strong>: no window is distinguishable from control — no controlled "
            "result timed from the last dose of a course falls in a window from 24 h on") in html


def test_bad_duration_document_names_the_file(tmp_path):
    from evsynth.figures.inputs import FigureInputError, check_duration

    path = tmp_path / "duration_timecourse.json"
    with pytest.raises(FigureInputError, match="duration_timecourse.json: expected a JSON object with an 'analyses'"):
        check_duration([], path)
    bad = {"analyses": {"duration_depression": {"regimens": {"single": {"windows": [{"estimate": "x"}]}}}}}
    with pytest.raises(FigureInputError, match=r"duration_depression/single'?, windows\[0\]\.estimate"):
        check_duration(bad, path)
