"""The typed analysis plan: one place for every default, and checks the schema cannot make.

Before the plan, settings were read from the raw config dict in ~35 places with defaults that
disagreed: leaving ``analysis.depression_outcomes`` out made the MADRS analysis select nothing.
"""

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from evsynth.analyses.options import DEFAULTS, AnalysisOptions, load_plan
from evsynth.config import ConfigError, load_config
from evsynth.extraction.vocabulary import outcome_kinds, study_ids

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "src/evsynth/schemas/config.schema.yaml").read_text())
ANALYSIS = SCHEMA["properties"]["analysis"]["properties"]
EXTRACTION = ROOT / "data/raw/extraction"


@pytest.fixture(scope="module")
def config():
    return load_config(ROOT / "config.yaml")


def plan_of(analysis):
    return load_plan(analysis, outcomes=outcome_kinds(EXTRACTION), study_ids=study_ids(EXTRACTION))


def test_schema_defaults_are_the_plan_defaults():
    declared = {k: v["default"] for k, v in ANALYSIS.items() if "default" in v}
    assert set(declared) == set(DEFAULTS) | {"study_sets", "study_set"}
    for key, default in DEFAULTS.items():
        value = declared[key]
        assert (tuple(value) if isinstance(value, list) else value) == default, key
    assert declared["study_sets"] == {} and declared["study_set"] is None
    every_setting = {f.name for f in fields(AnalysisOptions)} - {"windows", "analyses"}
    assert every_setting <= set(ANALYSIS)


def test_shipped_config_loads(config):
    plan = plan_of(config["analysis"])
    assert plan.model_test == "adhoc" and plan.level_label == "95% CI"
    assert {s.id for s in plan.analyses} >= {"onset_depression", "onset_madrs_md", "side_effects"}
    assert all(s.test == "adhoc" and s.method == "REML" for s in plan.analyses)


def test_missing_depression_outcomes_takes_the_one_default(config):
    from evsynth.analyses.effect_table import build_effects
    from evsynth.analyses.selection import select_window, study_attributes
    from evsynth.extraction.validate import load_frames

    analysis = {k: v for k, v in config["analysis"].items() if k != "depression_outcomes"}
    plan = plan_of(analysis)
    assert plan.depression_outcomes == ("madrs", "hdrs", "bdi", "qids")
    frames = load_frames(EXTRACTION)
    effects, _ = build_effects(frames, plan)
    spec = plan.spec("onset_madrs_md")
    window = next(w for w in plan.windows if w.id == "24h")
    sel = select_window(effects, study_attributes(frames["studies"], frames["arms"]), spec, window, plan)
    assert len(sel) >= 2


@pytest.mark.parametrize("edit, message", [
    (lambda a: a["analyses"][1].update(outcome="mards"),
     "config: analysis.analyses[1].outcome: 'mards' is not a known outcome (did you mean 'madrs'?)"),
    (lambda a: a["analyses"][1].update(measure="RR"),
     "config: analysis.analyses[1].measure: 'RR' does not apply to outcome 'madrs' (use one of ['SMD', 'MD'])"),
    (lambda a: a["windows"][2].update(lo=40),
     "config: analysis.windows[2]: lo (40) must be below hi (36)"),
    (lambda a: a["windows"][2].update(lo=36),
     "config: analysis.windows[2]: lo (36) must be below hi (36)"),
    (lambda a: a.update(study_sets={"cochrane": ["Daly2018", "Nobody2019"]}),
     "config: analysis.study_sets.cochrane[1]: unknown study 'Nobody2019' (did you mean 'Domany2019'?)"),
    (lambda a: a.update(study_sets={"cochrane": ["Daly2018"]}, study_set="cochrain"),
     "config: analysis.study_set: 'cochrain' is not a key of analysis.study_sets (did you mean 'cochrane'?)"),
    (lambda a: a.update(depression_outcomes=["madrs", "response"]),
     "config: analysis.depression_outcomes[1]: 'response' is a binary outcome, not a scale"),
    (lambda a: a["analyses"][5].update(subgroups=["route"]),
     "config: analysis.analyses[5].subgroups: side effects are always reported by drug; write [drug] or leave the "
     "key out (['route'] cannot apply)"),
    (lambda a: a["analyses"][5].update(subgroups=[]),
     "config: analysis.analyses[5].subgroups: side effects are always reported by drug; write [drug] or leave the "
     "key out ([] cannot apply)"),
    (lambda a: a["analyses"][5].update(test="knha"),
     "config: analysis.analyses[5].test: side effects are pooled with a z test (few, sparse trials); remove it"),
    (lambda a: a["analyses"][5].update(measure="OR"),
     "config: analysis.analyses[5].measure: side effects are reported as incidence, RR and RD; write RR"),
    (lambda a: a["analyses"][5].update(timepoint_ref="first_dose"),
     "config: analysis.analyses[5].timepoint_ref: side effects have no time window; remove it"),
    (lambda a: a.update(test="adhoc", knha_truncate=False),
     "config: analysis.knha_truncate: applies only with test: knha (test is 'adhoc'); remove it or use test: knha"),
])
def test_bad_plan_is_an_error_naming_the_key(config, edit, message):
    import copy

    analysis = copy.deepcopy(config["analysis"])
    edit(analysis)
    with pytest.raises(ConfigError) as err:
        plan_of(analysis)
    assert message in str(err.value).splitlines()


def test_plan_is_frozen(config):
    plan = plan_of(config["analysis"])
    with pytest.raises(AttributeError):
        plan.level = 90
    assert plan.with_settings(level=90).level_label == "90% CI"
