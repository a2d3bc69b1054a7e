"""The multiverse (specification curve): counting, config errors, equality with rma, figure, report."""

import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evsynth.analyses import multiverse as M
from evsynth.analyses.effect_table import build_effects
from evsynth.analyses.options import MultiverseFactors, MultiverseOptions, load_plan
from evsynth.analyses.selection import study_attributes
from evsynth.config import ConfigError, load_config
from evsynth.effects.generic import RATIO_MEASURES
from evsynth.extraction.validate import load_frames
from evsynth.extraction.vocabulary import outcome_kinds, study_ids
from evsynth.pooling import rma

ROOT = Path(__file__).resolve().parents[1]
EXTRACTION = ROOT / "data/raw/extraction"
SCHEMA = yaml.safe_load((ROOT / "src/evsynth/schemas/config.schema.yaml").read_text())
MV_SCHEMA = SCHEMA["properties"]["analysis"]["properties"]["multiverse"]["properties"]

FACTORS = {"estimator": ["DL", "REML", "PM", "SJ", "ML", "EB", "FE"], "test": ["z", "knha", "adhoc"],
           "crossover_r": [0.2, 0.5, 0.8], "first_period_only": [False, True],
           "outcome_order": [["madrs", "hdrs", "bdi", "qids"], ["hdrs", "madrs", "bdi", "qids"]],
           "risk_of_bias": ["all", "exclude_high"], "number_source": ["with_secondary", "primary_only"],
           "window_edges": ["plan", "extend_lo", "extend_hi"], "studies": {"max_subset": 2}}


@pytest.fixture(scope="module")
def config():
    return load_config(ROOT / "config.yaml")


def plan_of(analysis):
    return load_plan(analysis, outcomes=outcome_kinds(EXTRACTION), study_ids=study_ids(EXTRACTION))


def with_multiverse(config, **mv):
    a = dict(config["analysis"])
    a["multiverse"] = {"analyses": ["onset_depression", "onset_madrs_md"], "windows": ["24h"],
                       "split": ["drug"], "factors": FACTORS, "max_specs": 100000} | mv
    return a


@pytest.fixture(scope="module")
def data(config):
    plan = plan_of(with_multiverse(config))
    frames = load_frames(EXTRACTION)
    effects, _ = build_effects(frames, plan)
    return plan, effects, study_attributes(frames["studies"], frames["arms"])


@pytest.fixture(scope="module")
def fitted(data):
    plan, effects, attrs = data
    mvs = M.build_multiverses(effects, attrs, plan)
    return mvs, M.run_multiverses(mvs, chunk_size=5000)  # several chunks per multiverse


# ----------------------------------------------------------------------------- config
def test_schema_defaults_are_the_dataclass_defaults():
    mv, f = MultiverseOptions(), MultiverseFactors()
    top = {k: v["default"] for k, v in MV_SCHEMA.items() if "default" in v}
    assert top == {"analyses": [], "windows": [], "split": [], "max_specs": mv.max_specs,
                   "chunk_size": mv.chunk_size}
    null = {k: v["default"] for k, v in MV_SCHEMA["null_test"]["properties"].items()}
    assert null == {"draws": mv.null_draws, "specs": mv.null_specs, "seed": mv.seed}
    declared = MV_SCHEMA["factors"]["properties"]
    studies = {k: v["default"] for k, v in declared["studies"]["properties"].items()}
    assert studies == {"max_subset": f.max_subset, "all_subsets_upto": f.all_subsets_upto}
    for fld in fields(MultiverseFactors):
        if fld.name in studies:
            continue
        value = declared[fld.name]["default"]
        assert tuple(tuple(x) if isinstance(x, list) else x for x in value) == getattr(f, fld.name), fld.name


def test_shipped_config_has_a_small_multiverse(config):
    plan = plan_of(config["analysis"])
    assert plan.multiverse.analyses and plan.multiverse.max_specs <= 20000


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["factors"]["estimator"].__setitem__(2, "REMLX"),
     "config: analysis.multiverse.factors.estimator[2]: 'REMLX' is not one of"),
    (lambda m: m["factors"].__setitem__("test", ["z", "knhaa"]),
     "config: analysis.multiverse.factors.test[1]: 'knhaa' is not one of"),
    (lambda m: m["factors"].__setitem__("outcome_order", [["madrs", "hamd"]]),
     "config: analysis.multiverse.factors.outcome_order[0][1]: 'hamd' is not in analysis.depression_outcomes"),
    (lambda m: m["factors"].__setitem__("comparators", [["saline"], ["salin"]]),
     ("config: analysis.multiverse.factors.comparators[1][0]: 'salin' is not in analysis.comparators "
      "(did you mean 'saline'?)")),
    (lambda m: m["factors"].__setitem__("crossover_r", [0.2, 1.5]),
     "config: analysis.multiverse.factors.crossover_r[1]: 1.5 is not a correlation in [-1, 1]"),
    (lambda m: m["factors"].__setitem__("window_edges", ["plan", "plan"]),
     "config: analysis.multiverse.factors.window_edges: a level is listed twice"),
    (lambda m: m.__setitem__("analyses", ["onset_depresion"]),
     ("config: analysis.multiverse.analyses[0]: 'onset_depresion' is not an analysis of the plan "
      "(did you mean 'onset_depression'?)")),
    (lambda m: m.__setitem__("analyses", ["relapse"]),
     "config: analysis.multiverse.analyses[0]: 'relapse' has no time windows"),
    (lambda m: m.__setitem__("windows", ["25h"]),
     "config: analysis.multiverse.windows[0]: '25h' is not a window of the plan"),
    (lambda m: m.__setitem__("split", ["drugs"]),
     "config: analysis.multiverse.split[0]: 'drugs' is not a study attribute"),
])
def test_unknown_levels_are_errors_naming_the_key(config, edit, message):
    import copy

    a = copy.deepcopy(with_multiverse(config))
    edit(a["multiverse"])
    with pytest.raises(ConfigError) as err:
        plan_of(a)
    assert message in str(err.value)


# ----------------------------------------------------------------------------- counting
@pytest.mark.parametrize("n, min_k, max_subset, upto", [(1, 2, 1, 0), (2, 2, 1, 0), (5, 2, 1, 0), (5, 2, 2, 0),
                                                        (5, 2, 1, 5), (8, 3, 3, 6), (12, 2, 2, 0), (6, 1, 0, 6)])
def test_subset_count_matches_the_list(n, min_k, max_subset, upto):
    studies = [f"S{i:02d}" for i in range(n)]
    subsets = M.study_subsets(studies, min_k, max_subset, upto)
    assert len(subsets) == M.n_subsets(n, min_k, max_subset, upto)
    assert subsets[0] == () and len(set(subsets)) == len(subsets)
    assert all(n - len(s) >= min(min_k, n) for s in subsets)
    if n <= upto:
        assert len(subsets) == sum(math.comb(n, j) for j in range(n - min_k + 1))


def test_specification_count_is_the_factor_product(fitted):
    mvs, table = fitted
    assert len(table) == sum(mv.n_specs for mv in mvs)
    for mv in mvs:
        part = table[(table.analysis_id == mv.analysis_id) & (table.split == mv.split)]
        assert len(part) == mv.n_specs == 7 * 3 * sum(len(s.subsets) for s in mv.selections)
        data_levels = np.prod([v for v in mv.factor_levels.values()])
        assert len(mv.selections) == data_levels
        assert part.spec.tolist() == list(range(len(part)))
    depression = next(mv for mv in mvs if mv.analysis_id == "onset_depression" and mv.split == "all")
    assert depression.factor_levels == {"crossover_r": 3, "first_period_only": 2, "outcome_order": 2,
                                        "risk_of_bias": 2, "number_source": 2, "window_edges": 3}
    md = next(mv for mv in mvs if mv.analysis_id == "onset_madrs_md" and mv.split == "all")
    assert "outcome_order" not in md.factor_levels  # one scale: the order cannot apply
    assert {mv.split for mv in mvs} >= {"all", "drug=ketamine", "drug=esketamine"}


def test_too_many_specifications_stop_before_fitting(config, data, tmp_path):
    _, effects, attrs = data
    plan = plan_of(with_multiverse(config, max_specs=1000))
    with pytest.raises(M.MultiverseTooLarge) as err:
        M.build_multiverses(effects, attrs, plan)
    msg = str(err.value)
    assert msg.startswith("config: analysis.multiverse.max_specs: multiverse onset_depression / 24h has ")
    assert "crossover_r (3) x first_period_only (2) x outcome_order (2) x risk_of_bias (2)" in msg
    assert "estimator (7) x test (3)" in msg and "max_specs = 1,000" in msg
    frames = load_frames(EXTRACTION)
    out = tmp_path / "multiverse.csv"
    with pytest.raises(M.MultiverseTooLarge):
        M.run_step(effects, frames, plan, out, tmp_path / "s.json", tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


# ----------------------------------------------------------------------------- exactness
@pytest.mark.filterwarnings("ignore:The Knapp-Hartung method is not meant:UserWarning")
def test_equal_to_rma_on_a_random_sample(config, data, fitted):
    plan, effects, attrs = data
    _, table = fitted
    windows = {w.id: w for w in plan.windows}
    pooled = table[table.beta.notna()]
    assert len(pooled) > 2000
    sample = pooled.sample(200, random_state=20261130)
    assert sample.estimator.nunique() == 7 and sample.test.nunique() == 3
    for _, r in sample.iterrows():
        spec = plan.spec(r.analysis_id)
        choice = M.DataChoice(
            crossover_r=None if pd.isna(r.crossover_r) else float(r.crossover_r),
            first_period_only=bool(r.first_period_only),
            outcome_order=tuple(r.outcome_order.split(">")) if r.outcome_order else None,
            comparators=tuple(r.comparators.split("|")), risk_of_bias=r.risk_of_bias,
            number_source=r.number_source, window_edges=r.window_edges)
        split = None if r.split == "all" else tuple(r.split.split("=", 1))
        rows = M.select_choice(effects, attrs, plan, spec, windows[r.window], choice, split)  # filter first
        rows = rows[~rows.study_id.isin([s for s in r.omitted.split("|") if s])]
        assert len(rows) == r.k and rows.study_id.nunique() == r.n_studies
        res = rma(rows.yi.to_numpy(float), rows.vi.to_numpy(float), method=r.estimator, test=r.test,
                  level=plan.level)
        got = [r.beta, r.se, r.pval, r.tau2]
        want = [float(res.beta), float(res.se), float(res.pval), float(res.tau2)]
        assert np.allclose(got, want, rtol=0, atol=1e-8), (r.to_dict(), want)
        lb, ub = (np.log(r.ci_lb), np.log(r.ci_ub)) if r.measure in RATIO_MEASURES else (r.ci_lb, r.ci_ub)
        assert abs(lb - float(res.ci_lb)) <= 1e-8 and abs(ub - float(res.ci_ub)) <= 1e-8


def test_primary_specification_is_the_plan_primary(config, data, fitted):
    from evsynth.analyses.run import run_plan

    plan, effects, _ = data
    _, table = fitted
    prim = table[table.primary.astype(bool) & (table.split == "all")]
    assert sorted(prim.analysis_id) == ["onset_depression", "onset_madrs_md"]
    frames = load_frames(EXTRACTION)
    pooled = run_plan(effects, frames, plan).pooled
    for _, r in prim.iterrows():
        p = pooled[(pooled.analysis_id == r.analysis_id) & (pooled.window == "24h") & (pooled.variant == "primary")]
        assert abs(p.estimate.iloc[0] - r.estimate) <= 1e-10 and int(p.k.iloc[0]) == r.k
        assert r.estimator == plan.method and r.test == plan.model_test and r.omitted == ""


# ----------------------------------------------------------------------------- summaries, figure, report
def test_summary_and_null_test(fitted):
    mvs, table = fitted
    small = [mv for mv in mvs if mv.analysis_id == "onset_madrs_md" and mv.split == "all"]
    part = table[(table.analysis_id == "onset_madrs_md") & (table.split == "all")]
    s = M.curve_summary(part)
    assert s["n_specs"] == len(part) and 0 <= s["share_same_direction"] <= 1
    assert s["min"] <= s["median"] <= s["max"]
    assert s["influence"][0]["range"] >= s["influence"][-1]["range"]
    a = M.null_test(small[0], part, draws=50, n_specs=100, seed=7)
    b = M.null_test(small[0], part, draws=50, n_specs=100, seed=7)
    assert a == b and a["applies"] and a["specs"] == 100 and a["studies"] >= 4
    assert 1 / 51 <= a["p_median"] <= 1 and 1 / 51 <= a["p_share"] <= 1
    assert M.null_test(small[0], part, draws=0, n_specs=100, seed=7)["applies"] is False


def test_null_test_uses_every_sign_pattern_when_few_studies():
    studies = np.array([f"S{i}" for i in range(6)])
    yi = np.array([-1.0, -0.9, -1.1, -1.05, -0.95, -1.02])
    sel = M.Selection(M.DataChoice(), yi, np.full(6, 1.0), studies, [()])  # only 6 of 6 signs agreeing: p < .05
    mv = M.Multiverse("x", "24h", "all", "MD", ("FE",), ("z",), [sel])
    table = M.run_multiverses([mv])
    res = M.null_test(mv, table, draws=64, n_specs=10, seed=1)
    assert res["exact"] and res["draws"] == 64
    # only the observed signs and their mirror image reach |median| = |observed|: p = 2 / 64
    assert res["p_median"] == pytest.approx(2 / 64) and res["p_share"] == pytest.approx(2 / 64)
    two = M.Selection(M.DataChoice(), yi[:2], np.full(2, 0.01), studies[:2], [()])
    mv2 = M.Multiverse("x", "24h", "all", "MD", ("FE",), ("z",), [two])
    assert M.null_test(mv2, M.run_multiverses([mv2]), draws=200, n_specs=10, seed=1)["p_median"] == 0.5
    random = M.null_test(mv, table, draws=20, n_specs=10, seed=1)
    assert not random["exact"] and random["p_median"] >= 1 / 21


def test_figure_is_deterministic_and_follows_the_level(fitted, tmp_path):
    from evsynth.figures import specification_curve

    _, table = fitted
    part = table[table.analysis_id == "onset_madrs_md"]
    a = specification_curve.render(part, "onset_madrs_md", tmp_path / "a", 95)
    b = specification_curve.render(part, "onset_madrs_md", tmp_path / "b", 95)
    assert [p.name for p in a] == ["specification_curve_onset_madrs_md.svg", "specification_curve_onset_madrs_md.png"]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
    svg = a[0].read_text()
    assert "95% CI" in svg and "primary specification" in svg and "estimator: REML" in svg
    c = specification_curve.render(part, "onset_madrs_md", tmp_path / "c", 90)
    assert "90% CI" in c[0].read_text()


def test_report_section(config, data, fitted, tmp_path):
    from evsynth.figures import specification_curve
    from evsynth.report import sections

    plan, _, _ = data
    mvs, table = fitted
    summary = M.summarize(mvs[:2], table, plan.with_settings(multiverse=MultiverseOptions(null_draws=20,
                                                                                           null_specs=50)))
    specification_curve.render(table, "onset_depression", tmp_path, plan.level)
    html = sections.multiverse_section({"multiverse_summary": summary, "multiverse": table, "plan": plan,
                                        "figures": tmp_path})
    assert "How robust is each answer?" in html and "data-figure=\"specification_curve_onset_depression\"" in html
    assert "Same direction as primary" in html and "sign patterns" in html
    assert sections.multiverse_section in sections.SECTIONS
    empty = sections.multiverse_section({"multiverse_summary": {"multiverses": []}, "plan": plan})
    assert "No multiverse was requested" in empty
