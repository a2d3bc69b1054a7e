"""The analysis plan, typed: the validated ``analysis`` section of ``config.yaml`` as frozen objects.

The config is read once, by :func:`load_plan`, into an :class:`AnalysisOptions` holding every
setting with its default and one :class:`AnalysisSpec` per declared analysis, with the
analysis-level overrides (estimator, test, study set) already resolved. Every step of the
pipeline receives this object, never the raw dict, so a default lives in exactly one place (the
dataclass fields below; ``tests/test_options.py`` checks that the config schema declares the same
defaults).

Anything the schema cannot see is checked here and is an error at load, naming the key
(``config: analysis.analyses[1].outcome: 'mards' is not a known outcome (did you mean 'madrs'?)``):
outcome names against the controlled vocabulary, the measure against the outcome, window bounds,
study sets and the studies they name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace

from evsynth.config import ConfigError
from evsynth.effects.generic import RATIO_MEASURES
from evsynth.errors import nearest

SUBGROUP_VARIABLES = ("drug", "route", "comparator", "population", "regimen", "design")
SENSITIVITY_VARIANTS = ("crossover_r", "first_period_only", "exclude_high_rob", "fixed_effect", "endpoint_only",
                        "leave_one_out", "exclude_reported_smd")
#: outcome families that are not single outcome names
FAMILIES = {"depression": ("SMD",), "adverse_events": ("RR", "RD")}
#: measures per outcome kind (vocabulary/outcomes.csv ``kind``)
MEASURES_BY_KIND = {"scale": ("SMD", "MD"), "binary": ("RR", "OR", "RD", "HR"), "time_to_event": ("HR",)}


@dataclass(frozen=True)
class Window:
    """A time window since dose, in hours: ``lo <= hours <= hi``, ``nominal`` its representative time."""

    id: str
    lo: float
    hi: float
    nominal: float
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.id


@dataclass(frozen=True)
class AnalysisSpec:
    """One declared analysis, with the plan-wide settings it inherits already resolved."""

    id: str
    question: str
    outcome: str
    measure: str
    method: str
    test: str
    timepoint_ref: str | None = None
    subgroups: tuple[str, ...] = ()
    sensitivity: tuple[str, ...] = ()
    study_set: str | None = None

    @property
    def ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    @property
    def null_value(self) -> float:
        return 1.0 if self.ratio else 0.0


#: what the multiverse factors may take (``analysis.multiverse.factors``)
MULTIVERSE_ESTIMATORS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
MULTIVERSE_TESTS = ("z", "knha", "adhoc")
MULTIVERSE_ROB = ("all", "exclude_high")
MULTIVERSE_SOURCES = ("with_secondary", "primary_only")
MULTIVERSE_EDGES = ("plan", "extend_lo", "extend_hi", "extend_both")


@dataclass(frozen=True)
class MultiverseFactors:
    """The levels of every multiverse factor (config ``analysis.multiverse.factors``).

    ``outcome_order`` and ``comparators`` hold one tuple per level; empty means the plan's own
    ``depression_outcomes`` / ``comparators`` only. ``max_subset``: leave up to this many studies
    out; ``all_subsets_upto``: with at most this many studies, every subset of at least ``min_k``
    studies instead (see :mod:`evsynth.analyses.multiverse`).
    """

    estimator: tuple[str, ...] = ("DL", "REML", "PM", "SJ", "ML", "EB", "FE")
    test: tuple[str, ...] = ("z", "knha", "adhoc")
    crossover_r: tuple[float, ...] = (0.2, 0.5, 0.8)
    first_period_only: tuple[bool, ...] = (False, True)
    outcome_order: tuple[tuple[str, ...], ...] = ()
    comparators: tuple[tuple[str, ...], ...] = ()
    risk_of_bias: tuple[str, ...] = ("all", "exclude_high")
    number_source: tuple[str, ...] = ("with_secondary", "primary_only")
    window_edges: tuple[str, ...] = ("plan", "extend_lo", "extend_hi")
    max_subset: int = 1
    all_subsets_upto: int = 0


@dataclass(frozen=True)
class MultiverseOptions:
    """The multiverse (specification-curve) settings (config ``analysis.multiverse``).

    ``analyses`` and ``windows`` name what it runs for (no analyses: no multiverse; no windows:
    every window of each analysis); ``split`` lists the non-equivalent study attributes (e.g.
    ``drug``) whose levels get separate multiverses besides the pooled one; ``max_specs`` bounds
    each multiverse's specification count; ``chunk_size`` the rows per batch fit; ``null_draws``,
    ``null_specs`` and ``seed`` the sign-flip test of the whole curve under the null.
    """

    analyses: tuple[str, ...] = ()
    windows: tuple[str, ...] = ()
    split: tuple[str, ...] = ()
    factors: MultiverseFactors = MultiverseFactors()
    max_specs: int = 100000
    chunk_size: int = 20000
    null_draws: int = 200
    null_specs: int = 500
    seed: int = 20201


@dataclass(frozen=True)
class AnalysisOptions:
    """Every analysis setting (config ``analysis``), defaults included.

    ``test`` is the test the models use: ``z``, ``knha`` (Knapp–Hartung as metafor 3.8 defines it)
    or ``adhoc`` (Knapp–Hartung with its scaling factor truncated at 1); config ``test: knha`` with
    ``knha_truncate: true`` (the default) loads as ``adhoc``.
    """

    level: float = 95.0
    method: str = "REML"
    test: str = "knha"
    knha_truncate: bool = True
    min_k: int = 2
    min_k_side_effects: int = 3
    min_k_funnel: int = 10
    crossover_r: float = 0.5
    crossover_r_sensitivity: tuple[float, ...] = (0.2, 0.8)
    first_period_only: bool = False
    depression_outcomes: tuple[str, ...] = ("madrs", "hdrs", "bdi", "qids")
    comparators: tuple[str, ...] = ("saline", "midazolam", "placebo", "placebo_iv", "placebo_spray",
                                    "placebo_oral", "active_placebo")
    windows: tuple[Window, ...] = ()
    analyses: tuple[AnalysisSpec, ...] = ()
    study_sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    study_set: str | None = None
    multiverse: MultiverseOptions = MultiverseOptions()

    @property
    def level_label(self) -> str:
        """``95% CI`` for level 95; ``90% CI`` ... (every CI label follows ``level``)."""
        return f"{self.level:g}% CI"

    @property
    def model_test(self) -> str:
        """The test passed to the pooling functions: ``adhoc`` for truncated Knapp–Hartung."""
        return "adhoc" if self.test == "knha" and self.knha_truncate else self.test

    def spec(self, analysis_id: str) -> AnalysisSpec:
        for s in self.analyses:
            if s.id == analysis_id:
                return s
        raise KeyError(analysis_id)

    def studies_in_set(self, name: str | None) -> frozenset[str] | None:
        """The study ids of a named study set, or None (all studies) when ``name`` is None."""
        return None if name is None else frozenset(self.study_sets[name])

    @property
    def digest(self) -> str:
        """A fingerprint of every setting. Rules pass it as a plain-text param beside the plan object:
        Snakemake compares only plain params when deciding to rerun, so a changed setting reruns every
        step that receives the plan."""
        import hashlib

        return hashlib.sha256(repr(self).encode("utf-8")).hexdigest()

    def with_settings(self, **changes) -> AnalysisOptions:
        """A copy with some settings changed (for sensitivity analyses and notebooks)."""
        return replace(self, **changes)


DEFAULTS = {f.name: f.default for f in fields(AnalysisOptions)
            if f.name not in ("windows", "analyses", "study_sets", "study_set", "multiverse")}


def _nearest(name: str, known: Iterable[str]) -> str:
    close = nearest(name, known)
    return f" (did you mean {close!r}?)" if close else ""


def load_plan(analysis: Mapping, outcomes: Mapping[str, str] | None = None,
              study_ids: Iterable[str] | None = None) -> AnalysisOptions:
    """Build the typed plan from the schema-validated ``analysis`` section.

    Parameters
    ----------
    analysis : mapping
        ``config["analysis"]`` (already checked against the config schema).
    outcomes : mapping, optional
        The controlled outcome vocabulary, ``{name: kind}`` with kind ``scale``, ``binary`` or
        ``time_to_event`` (:func:`evsynth.extraction.vocabulary.outcome_kinds`). When given, every
        outcome name in the plan must be in it.
    study_ids : iterable of str, optional
        The extraction's study ids. When given, every study named in a study set must exist.

    Raises
    ------
    ConfigError
        One line per problem, naming the key.
    """
    a = dict(analysis)
    settings = {k: a[k] for k in DEFAULTS if k in a}
    for key in ("crossover_r_sensitivity", "depression_outcomes", "comparators"):
        if key in settings:
            settings[key] = tuple(settings[key])
    if "level" in settings:
        settings["level"] = float(settings["level"])
    problems: list[str] = []

    windows = []
    seen_windows: set[str] = set()
    for i, w in enumerate(a.get("windows", [])):
        win = Window(id=str(w["id"]), lo=float(w["lo"]), hi=float(w["hi"]), nominal=float(w["nominal"]),
                     label=str(w.get("label", "")))
        if not win.lo < win.hi:
            problems.append(f"windows[{i}]: lo ({win.lo:g}) must be below hi ({win.hi:g})")
        elif not win.lo <= win.nominal <= win.hi:
            problems.append(f"windows[{i}]: nominal ({win.nominal:g}) must lie within [lo, hi]")
        if win.id in seen_windows:
            problems.append(f"windows[{i}].id: {win.id!r} is used twice")
        seen_windows.add(win.id)
        windows.append(win)

    sets = {str(k): tuple(v) for k, v in (a.get("study_sets") or {}).items()}
    known_studies = set(study_ids) if study_ids is not None else None
    if known_studies is not None:
        for name, members in sets.items():
            for j, sid in enumerate(members):
                if sid not in known_studies:
                    problems.append(f"study_sets.{name}[{j}]: unknown study {sid!r}{_nearest(sid, known_studies)}")
    study_set = a.get("study_set")
    if study_set is not None and study_set not in sets:
        problems.append(f"study_set: {study_set!r} is not a key of analysis.study_sets{_nearest(study_set, sets)}")

    depression = settings.get("depression_outcomes", DEFAULTS["depression_outcomes"])
    if outcomes is not None:
        for j, name in enumerate(depression):
            if outcomes.get(name) != "scale":
                what = "not a known outcome" if name not in outcomes else f"a {outcomes[name]} outcome, not a scale"
                problems.append(f"depression_outcomes[{j}]: {name!r} is {what}"
                                f"{_nearest(name, [o for o, k in outcomes.items() if k == 'scale'])}")

    method, test = settings.get("method", DEFAULTS["method"]), settings.get("test", DEFAULTS["test"])
    truncate = settings.get("knha_truncate", DEFAULTS["knha_truncate"])
    if "knha_truncate" in a and test != "knha" and not any(s.get("test") == "knha" for s in a.get("analyses", [])):
        problems.append(f"knha_truncate: applies only with test: knha (test is {test!r}); remove it"
                        + (" or use test: knha" if test == "adhoc" and not truncate else ""))
    specs, seen = [], set()
    for i, s in enumerate(a.get("analyses", [])):
        key = f"analyses[{i}]"
        if s["id"] in seen:
            problems.append(f"{key}.id: {s['id']!r} is used twice")
        seen.add(s["id"])
        spec_test = s.get("test", test)
        spec = AnalysisSpec(
            id=s["id"], question=s["question"], outcome=s["outcome"], measure=s["measure"],
            method=s.get("method", method),
            test="adhoc" if spec_test == "knha" and truncate else spec_test,
            timepoint_ref=s.get("timepoint_ref"), subgroups=tuple(s.get("subgroups", ())),
            sensitivity=tuple(s.get("sensitivity", ())), study_set=s.get("study_set", study_set),
        )
        problems += _check_spec(spec, key, outcomes, s)
        if s.get("study_set") is not None and s["study_set"] not in sets:
            problems.append(f"{key}.study_set: {s['study_set']!r} is not a key of analysis.study_sets"
                            f"{_nearest(s['study_set'], sets)}")
        specs.append(spec)
    multiverse = _multiverse(a.get("multiverse") or {}, specs, windows, settings, problems)
    if problems:
        raise ConfigError("\n".join(f"config: analysis.{p}" for p in problems))
    return AnalysisOptions(**settings, windows=tuple(windows), analyses=tuple(specs), study_sets=sets,
                           study_set=study_set, multiverse=multiverse)


def _multiverse(raw: Mapping, specs: list[AnalysisSpec], windows: list[Window], settings: Mapping,
                problems: list[str]) -> MultiverseOptions:
    """``analysis.multiverse`` as :class:`MultiverseOptions`; every unknown level is a problem naming its key."""
    key = "multiverse"
    by_id = {s.id: s for s in specs}
    analyses = tuple(str(x) for x in raw.get("analyses", ()))
    for i, aid in enumerate(analyses):
        if aid not in by_id:
            problems.append(f"{key}.analyses[{i}]: {aid!r} is not an analysis of the plan{_nearest(aid, by_id)}")
        elif by_id[aid].question == "side_effects" or by_id[aid].measure == "HR":
            problems.append(f"{key}.analyses[{i}]: {aid!r} has no time windows; the multiverse runs per window")
    window_ids = [w.id for w in windows]
    chosen_windows = tuple(str(x) for x in raw.get("windows", ()))
    for i, wid in enumerate(chosen_windows):
        if wid not in window_ids:
            problems.append(f"{key}.windows[{i}]: {wid!r} is not a window of the plan{_nearest(wid, window_ids)}")
    split = tuple(str(x) for x in raw.get("split", ()))
    for i, var in enumerate(split):
        if var not in SUBGROUP_VARIABLES:
            problems.append(f"{key}.split[{i}]: {var!r} is not a study attribute (use one of "
                            f"{list(SUBGROUP_VARIABLES)}){_nearest(var, SUBGROUP_VARIABLES)}")
    f = dict(raw.get("factors") or {})
    default = MultiverseFactors()
    levels: dict = {}
    for name, allowed in (("estimator", MULTIVERSE_ESTIMATORS), ("test", MULTIVERSE_TESTS),
                          ("risk_of_bias", MULTIVERSE_ROB), ("number_source", MULTIVERSE_SOURCES),
                          ("window_edges", MULTIVERSE_EDGES)):
        values = tuple(str(v) for v in f.get(name, getattr(default, name)))
        for i, v in enumerate(values):
            if v not in allowed:
                problems.append(f"{key}.factors.{name}[{i}]: {v!r} is not one of {list(allowed)}"
                                f"{_nearest(v, allowed)}")
        levels[name] = values
    levels["crossover_r"] = tuple(float(v) for v in f.get("crossover_r", default.crossover_r))
    for i, r in enumerate(levels["crossover_r"]):
        if not -1 <= r <= 1:
            problems.append(f"{key}.factors.crossover_r[{i}]: {r:g} is not a correlation in [-1, 1]")
    levels["first_period_only"] = tuple(bool(v) for v in f.get("first_period_only", default.first_period_only))
    for name, plan_key in (("outcome_order", "depression_outcomes"), ("comparators", "comparators")):
        known = settings.get(plan_key, DEFAULTS[plan_key])
        sets = tuple(tuple(str(x) for x in level) for level in f.get(name, ()))
        for i, level in enumerate(sets):
            if not level:
                problems.append(f"{key}.factors.{name}[{i}]: an empty level selects nothing")
            for j, v in enumerate(level):
                if v not in known:
                    problems.append(f"{key}.factors.{name}[{i}][{j}]: {v!r} is not in analysis.{plan_key}"
                                    f"{_nearest(v, known)}")
        levels[name] = sets
    for name, values in levels.items():
        if len(set(values)) != len(values):
            problems.append(f"{key}.factors.{name}: a level is listed twice")
        if name in ("estimator", "test", "risk_of_bias", "number_source", "window_edges", "crossover_r",
                    "first_period_only") and not values:
            problems.append(f"{key}.factors.{name}: needs at least one level")
    studies = dict(f.get("studies") or {})
    factors = MultiverseFactors(**levels, max_subset=int(studies.get("max_subset", default.max_subset)),
                                all_subsets_upto=int(studies.get("all_subsets_upto", default.all_subsets_upto)))
    null = dict(raw.get("null_test") or {})
    dm = MultiverseOptions()
    return MultiverseOptions(analyses=analyses, windows=chosen_windows, split=split, factors=factors,
                             max_specs=int(raw.get("max_specs", dm.max_specs)),
                             chunk_size=int(raw.get("chunk_size", dm.chunk_size)),
                             null_draws=int(null.get("draws", dm.null_draws)),
                             null_specs=int(null.get("specs", dm.null_specs)),
                             seed=int(null.get("seed", dm.seed)))


def _check_spec(spec: AnalysisSpec, key: str, outcomes: Mapping[str, str] | None, raw: Mapping) -> list[str]:
    problems = []
    if spec.question == "side_effects":
        if spec.outcome != "adverse_events":
            problems.append(f"{key}.outcome: a side_effects analysis has outcome 'adverse_events'")
        if "subgroups" in raw and list(spec.subgroups) != ["drug"]:
            problems.append(f"{key}.subgroups: side effects are always reported by drug; write [drug] or leave "
                            f"the key out ({list(spec.subgroups)} cannot apply)")
        if spec.sensitivity:
            problems.append(f"{key}.sensitivity: no sensitivity analysis is defined for side effects")
        if spec.measure != "RR":
            problems.append(f"{key}.measure: side effects are reported as incidence, RR and RD; write RR")
        if "test" in raw:
            problems.append(f"{key}.test: side effects are pooled with a z test (few, sparse trials); remove it")
        if "timepoint_ref" in raw:
            problems.append(f"{key}.timepoint_ref: side effects have no time window; remove it")
        return problems
    if spec.outcome in FAMILIES:
        allowed = FAMILIES[spec.outcome]
        if spec.outcome == "adverse_events":
            problems.append(f"{key}.outcome: 'adverse_events' belongs to question 'side_effects'")
    elif outcomes is not None and spec.outcome not in outcomes:
        return [f"{key}.outcome: {spec.outcome!r} is not a known outcome"
                f"{_nearest(spec.outcome, list(outcomes) + list(FAMILIES))}"]
    else:
        allowed = MEASURES_BY_KIND.get(outcomes.get(spec.outcome), ()) if outcomes is not None else (spec.measure,)
    if spec.measure not in allowed:
        problems.append(f"{key}.measure: {spec.measure!r} does not apply to outcome {spec.outcome!r} "
                        f"(use one of {list(allowed)})")
    if spec.measure == "HR" and ("timepoint_ref" in raw):
        problems.append(f"{key}.timepoint_ref: hazard ratios have no time window; remove it")
    return problems
