"""Multiverse (specification-curve) meta-analysis: every defensible combination of choices, fitted at once.

A *specification* is one combination of choices: the τ² estimator, the test, the crossover
correlation, first periods only or not, the order in which depression scales are preferred, the
comparator set, all trials or those not at high risk of bias, numbers from primary reports only or
also from secondary sources, the window edges (the plan's, or one edge moved out to the
neighbouring window's edge) and which studies enter (leave up to ``max_subset`` studies out, or
every subset of at least ``min_k`` studies when there are few). Choices that answer the same
question vary within one multiverse; non-equivalent ones (``split``: e.g. drug) give separate
multiverses, one per level, beside the pooled one (the split of metaMultiverse, metapsy project;
Voracek, Kossmeier & Tran 2019, Z Psychol 227:64; Simonsohn, Simmons & Nelson 2020, Nat Hum Behav
4:1208).

The engine groups specifications by their data selection: each selection (one combination of the
data choices) is selected once with :func:`evsynth.analyses.selection.select_window`, its study
subsets become rows of NaN-padded ``(rows, k_max)`` matrices, and
:func:`evsynth.pooling.batch.rma_batch` fits every (estimator, test) pair on a chunk of rows at a
time, so memory is bounded by ``chunk_size`` whatever the number of specifications. Each row equals
:func:`evsynth.pooling.rma` on the same data (tests check a random sample to 1e-8).

The whole curve is tested under the null by sign flips (the randomization version of Simonsohn et
al. 2020's "inference with the specification curve"): under the null of no effect, each study's
effect sizes are as likely to carry the opposite sign, so every study gets one sign per draw (the
same sign in every specification, which keeps the dependence between specifications), all
specifications are refitted, and the observed median estimate and share of specifications
significant in the dominant direction are compared with their null distributions. With few studies
every one of the 2^n sign patterns is used (an exact test); otherwise random draws (fixed seed).
Shifting by the pooled estimate, as Simonsohn et al. do before bootstrapping, would leave no
sampling variation for sign flips to reproduce, so the effects are flipped as observed.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from evsynth.analyses.fitting import natural
from evsynth.analyses.options import AnalysisOptions, AnalysisSpec, MultiverseOptions, Window
from evsynth.analyses.selection import select_window
from evsynth.config import ConfigError
from evsynth.effects.generic import RATIO_MEASURES
from evsynth.pooling.batch import rma_batch
from evsynth.processed import layout

COLUMNS = layout("multiverse").column_names
#: the factors of a specification, in the order of the table and the figure's choice panel
FACTORS = ("estimator", "test", "crossover_r", "first_period_only", "outcome_order", "comparators",
           "risk_of_bias", "number_source", "window_edges", "omitted")
DATA_FACTORS = ("crossover_r", "first_period_only", "outcome_order", "comparators", "risk_of_bias",
                "number_source", "window_edges")


class MultiverseTooLarge(ConfigError):
    """A multiverse whose specification count exceeds ``max_specs`` (raised before anything is fitted)."""


@dataclass(frozen=True)
class DataChoice:
    """The choices that change which numbers enter (None: the factor does not apply to this analysis)."""

    crossover_r: float | None = None
    first_period_only: bool = False
    outcome_order: tuple[str, ...] | None = None
    comparators: tuple[str, ...] = ()
    risk_of_bias: str = "all"
    number_source: str = "with_secondary"
    window_edges: str = "plan"

    def cells(self) -> dict[str, Any]:
        """The choice as table cells."""
        return {"crossover_r": np.nan if self.crossover_r is None else self.crossover_r,
                "first_period_only": self.first_period_only,
                "outcome_order": ">".join(self.outcome_order) if self.outcome_order else "",
                "comparators": "|".join(self.comparators), "risk_of_bias": self.risk_of_bias,
                "number_source": self.number_source, "window_edges": self.window_edges}


@dataclass
class Selection:
    """The effect rows of one data choice: yi, vi and study per row, and the study subsets fitted.

    ``subsets`` lists the omitted studies of each subset (``()`` = all studies).
    """

    choice: DataChoice
    yi: np.ndarray
    vi: np.ndarray
    study: np.ndarray
    subsets: list[tuple[str, ...]] = field(default_factory=list)

    def masks(self, subsets: Sequence[tuple[str, ...]]) -> np.ndarray:
        """Boolean (len(subsets), k) matrix: which rows each subset keeps."""
        out = np.ones((len(subsets), len(self.study)), dtype=bool)
        for i, omitted in enumerate(subsets):
            if omitted:
                out[i] = ~np.isin(self.study, omitted)
        return out


@dataclass
class Multiverse:
    """One multiverse: an analysis in one window (and split level), its selections and model choices."""

    analysis_id: str
    window: str
    split: str
    measure: str
    methods: tuple[str, ...]
    tests: tuple[str, ...]
    selections: list[Selection]
    level: float = 95.0
    min_k: int = 2
    primary: tuple[DataChoice, str, str] | None = None
    factor_levels: dict[str, int] = field(default_factory=dict)

    @property
    def null_value(self) -> float:
        return 1.0 if self.measure in RATIO_MEASURES else 0.0

    @property
    def n_data_rows(self) -> int:
        return sum(len(s.subsets) for s in self.selections)

    @property
    def n_specs(self) -> int:
        return len(self.methods) * len(self.tests) * self.n_data_rows

    def product(self) -> str:
        """The factor product behind :attr:`n_specs`, in words."""
        parts = [f"{name} ({n})" for name, n in self.factor_levels.items()]
        data = f"{' x '.join(parts)} = " if parts else ""
        return (f"{data}{len(self.selections)} data selections with {self.n_data_rows:,} study subsets in all; "
                f"x estimator ({len(self.methods)}) x test ({len(self.tests)}) = {self.n_specs:,} specifications")

    @property
    def label(self) -> str:
        return f"{self.analysis_id} / {self.window}" + ("" if self.split == "all" else f" / {self.split}")


# ----------------------------------------------------------------------------- study subsets
def n_subsets(n: int, min_k: int, max_subset: int, all_subsets_upto: int) -> int:
    """How many study subsets :func:`study_subsets` gives for ``n`` studies (without listing them)."""
    if n < min_k:
        return 1
    top = n - min_k if n <= all_subsets_upto else min(max_subset, n - min_k)
    return sum(math.comb(n, j) for j in range(top + 1))


def study_subsets(studies: Sequence[str], min_k: int, max_subset: int, all_subsets_upto: int) -> list[tuple]:
    """The omitted-study tuples of a selection: ``()`` first, then by size and name.

    With at most ``all_subsets_upto`` studies every subset keeping ``min_k`` or more studies;
    otherwise leave-j-out for j = 1 .. ``max_subset`` (keeping at least ``min_k``).
    """
    studies = sorted(set(studies))
    n = len(studies)
    if n < min_k:
        return [()]
    top = n - min_k if n <= all_subsets_upto else min(max_subset, n - min_k)
    return [c for j in range(top + 1) for c in itertools.combinations(studies, j)]


# ----------------------------------------------------------------------------- selections
def _neighbour_edges(window: Window, windows: Sequence[Window]) -> tuple[float, float]:
    ordered = sorted(windows, key=lambda w: (w.lo, w.hi))
    below = [w.hi for w in ordered if w.hi <= window.lo and w.id != window.id]
    above = [w.lo for w in ordered if w.lo >= window.hi and w.id != window.id]
    return (max(below) if below else window.lo), (min(above) if above else window.hi)


def window_for(window: Window, edges: str, windows: Sequence[Window]) -> Window:
    """The window with its edges as chosen: ``plan``, or the lower/upper/both edges moved out to the
    neighbouring windows' nearest edges (unchanged where there is no neighbour)."""
    lo, hi = _neighbour_edges(window, windows)
    if edges == "plan":
        return window
    return replace(window, lo=lo if edges in ("extend_lo", "extend_both") else window.lo,
                   hi=hi if edges in ("extend_hi", "extend_both") else window.hi)


def select_choice(effects: pd.DataFrame, attrs: pd.DataFrame, opts: AnalysisOptions, spec: AnalysisSpec,
                  window: Window, choice: DataChoice, split: tuple[str, str] | None = None) -> pd.DataFrame:
    """The effect rows of one data choice (the plan's selection rules with the choice's settings).

    Parameters
    ----------
    split : (variable, level), optional
        Keep only studies whose attribute ``variable`` (``drug``, ``route`` ...) equals ``level``.
    """
    e = effects
    if choice.number_source == "primary_only":
        e = e[~e.secondary.fillna(False).astype(bool)]
    if choice.risk_of_bias == "exclude_high":
        e = e[e.study_id.map(attrs.rob_overall) != "high"]
    if split is not None:
        e = e[e.study_id.map(attrs[split[0]]).astype(str) == split[1]]
    changes: dict[str, Any] = {"first_period_only": choice.first_period_only}
    if choice.comparators:
        changes["comparators"] = choice.comparators
    if choice.outcome_order:
        changes["depression_outcomes"] = choice.outcome_order
    plan = opts.with_settings(**changes)
    r = choice.crossover_r
    variant = "primary" if r is None or r == opts.crossover_r else f"crossover_r={r!r}"
    return select_window(e, attrs, spec, window_for(window, choice.window_edges, opts.windows), plan, variant)


def _levels(spec: AnalysisSpec, opts: AnalysisOptions) -> dict[str, tuple]:
    f = opts.multiverse.factors
    paired = spec.measure in ("SMD", "MD")
    return {
        "crossover_r": f.crossover_r if paired else (None,),
        "first_period_only": f.first_period_only,
        "outcome_order": (f.outcome_order or (opts.depression_outcomes,)) if spec.outcome == "depression"
        else (None,),
        "comparators": f.comparators or (opts.comparators,),
        "risk_of_bias": f.risk_of_bias,
        "number_source": f.number_source,
        "window_edges": f.window_edges,
    }


def primary_choice(spec: AnalysisSpec, opts: AnalysisOptions) -> DataChoice:
    """The plan's own data choice for an analysis (the primary specification's)."""
    return DataChoice(crossover_r=opts.crossover_r if spec.measure in ("SMD", "MD") else None,
                      first_period_only=opts.first_period_only,
                      outcome_order=opts.depression_outcomes if spec.outcome == "depression" else None,
                      comparators=opts.comparators, risk_of_bias="all", number_source="with_secondary",
                      window_edges="plan")


def build_multiverses(effects: pd.DataFrame, attrs: pd.DataFrame, opts: AnalysisOptions) -> list[Multiverse]:
    """Every multiverse of the plan's ``analysis.multiverse``, selected but not fitted.

    Raises
    ------
    MultiverseTooLarge
        When a multiverse has more than ``max_specs`` specifications; the message names the
        multiverse and its factor product. Checked for every multiverse before any is fitted.
    """
    mo: MultiverseOptions = opts.multiverse
    out = []
    for aid in mo.analyses:
        spec = opts.spec(aid)
        windows = [w for w in opts.windows if not mo.windows or w.id in mo.windows]
        if spec.question == "duration":
            windows = [w for w in windows if w.nominal >= 24]
        for window in windows:
            out += _multiverses_for(effects, attrs, opts, spec, window)
    for mv in out:
        if mv.n_specs > mo.max_specs:
            raise MultiverseTooLarge(f"config: analysis.multiverse.max_specs: multiverse {mv.label} has "
                                     f"{mv.n_specs:,} specifications, more than max_specs = {mo.max_specs:,}: "
                                     f"{mv.product()}. Drop factor levels or raise max_specs.")
    return out


def _multiverses_for(effects, attrs, opts: AnalysisOptions, spec: AnalysisSpec, window: Window) -> list[Multiverse]:
    mo = opts.multiverse
    levels = _levels(spec, opts)
    prim = primary_choice(spec, opts)
    base = select_choice(effects, attrs, opts, spec, window, prim)
    splits: list[tuple[str, str] | None] = [None]
    for var in mo.split:
        values = sorted(base.study_id.map(attrs[var]).astype(str).unique()) if not base.empty else []
        if len(values) > 1:
            splits += [(var, v) for v in values]
    # risk of bias and the split are study-level filters: select once without them, filter after
    # (the same rows as filtering first, since every selection rule works within a study)
    cache: dict[DataChoice, pd.DataFrame] = {}
    out = []
    for split in splits:
        selections = []
        for combo in itertools.product(*levels.values()):
            choice = DataChoice(**dict(zip(levels, combo)))
            unfiltered = replace(choice, risk_of_bias="all")
            if unfiltered not in cache:
                cache[unfiltered] = select_choice(effects, attrs, opts, spec, window, unfiltered)
            rows = cache[unfiltered]
            if choice.risk_of_bias == "exclude_high":
                rows = rows[rows.study_id.map(attrs.rob_overall) != "high"]
            if split is not None:
                rows = rows[rows.study_id.map(attrs[split[0]]).astype(str) == split[1]]
            sel = Selection(choice, rows.yi.to_numpy(float), rows.vi.to_numpy(float),
                            rows.study_id.to_numpy(str))
            f = mo.factors
            if n_subsets(len(set(sel.study)), opts.min_k, f.max_subset, f.all_subsets_upto) > mo.max_specs:
                sel.subsets = [()] * (mo.max_specs + 1)  # too many: counted, never listed or fitted
            else:
                sel.subsets = study_subsets(sel.study, opts.min_k, f.max_subset, f.all_subsets_upto)
            selections.append(sel)
        if all(len(s.study) == 0 for s in selections):
            continue
        factor_levels = {k: len(v) for k, v in levels.items() if len(v) > 1}
        out.append(Multiverse(
            analysis_id=spec.id, window=window.id, split="all" if split is None else f"{split[0]}={split[1]}",
            measure=spec.measure, methods=mo.factors.estimator, tests=mo.factors.test, selections=selections,
            level=opts.level, min_k=opts.min_k, primary=(prim, spec.method, spec.test), factor_levels=factor_levels))
    return out


# ----------------------------------------------------------------------------- engine
def _data_rows(mv: Multiverse) -> Iterator[tuple[int, int]]:
    for i, sel in enumerate(mv.selections):
        for j in range(len(sel.subsets)):
            yield i, j


def _matrices(mv: Multiverse, rows: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NaN-padded yi, vi (len(rows), k_max) and each row's number of studies."""
    k_max = max((len(mv.selections[i].study) for i, _ in rows), default=1) or 1
    y = np.full((len(rows), k_max), np.nan)
    v = np.full((len(rows), k_max), np.nan)
    n_studies = np.zeros(len(rows), dtype=int)
    order = np.arange(len(rows))
    by_sel: dict[int, list[int]] = {}
    for pos, (i, _) in zip(order, rows):
        by_sel.setdefault(i, []).append(pos)
    for i, positions in by_sel.items():
        sel = mv.selections[i]
        k = len(sel.study)
        if k == 0:
            continue
        masks = sel.masks([sel.subsets[rows[p][1]] for p in positions])
        y[positions, :k] = np.where(masks, sel.yi[None, :], np.nan)
        v[positions, :k] = np.where(masks, sel.vi[None, :], np.nan)
        studies = np.unique(sel.study, return_inverse=True)[1]
        onehot = np.zeros((k, studies.max() + 1), dtype=bool)
        onehot[np.arange(k), studies] = True
        n_studies[positions] = (masks.astype(int) @ onehot.astype(int) > 0).sum(axis=1)
    return y, v, n_studies


def fit_chunks(mv: Multiverse, chunk_size: int = 20000) -> Iterator[pd.DataFrame]:
    """Fit every specification of a multiverse; yield the table rows chunk by chunk.

    Each chunk holds at most ``chunk_size`` selection x study-subset rows, fitted once per
    (estimator, test) pair with one :func:`rma_batch` call each; rows with fewer than ``min_k``
    studies are listed, not fitted (``reason`` says why).
    """
    rows_per_chunk = max(1, chunk_size // max(1, len(mv.methods) * len(mv.tests)))
    rows_per_chunk = max(rows_per_chunk, 1)
    it = _data_rows(mv)
    spec_id = 0
    prim = mv.primary
    alpha_label = mv.level
    while True:
        rows = list(itertools.islice(it, rows_per_chunk))
        if not rows:
            return
        y, v, n_studies = _matrices(mv, rows)
        fit_ok = n_studies >= mv.min_k
        cells = [mv.selections[i].choice.cells() | {"omitted": "|".join(mv.selections[i].subsets[j])}
                 for i, j in rows]
        choice_frame = pd.DataFrame(cells)
        is_base = np.array([mv.selections[i].choice == prim[0] and not mv.selections[i].subsets[j]
                            for i, j in rows]) if prim else np.zeros(len(rows), bool)
        k = (~np.isnan(y)).sum(axis=1)
        frames = []
        for method in mv.methods:
            for test in mv.tests:
                res = _fit(y[fit_ok], v[fit_ok], method, test, mv.level)
                out = choice_frame.copy()
                out.insert(0, "estimator", method)
                out.insert(1, "test", test)
                for col in ("beta", "se", "ci_lb", "ci_ub", "pval", "tau2"):
                    full = np.full(len(rows), np.nan)
                    full[fit_ok] = getattr(res, col) if res is not None else []
                    out[col] = full
                conv = np.zeros(len(rows), dtype=bool)
                reason = np.array([f"{n} stud{'y' if n == 1 else 'ies'} (< {mv.min_k}): not pooled"
                                   for n in n_studies], dtype=object)
                if res is not None:
                    conv[fit_ok] = res.converged
                    reason[fit_ok] = [("" if c else f"{method} did not converge: {r}")
                                      for c, r in zip(res.converged, res.reason)]
                out["converged"] = conv
                out["reason"] = reason
                out["k"] = k
                out["n_studies"] = n_studies
                out["primary"] = is_base & (method == prim[1]) & (test == prim[2]) if prim else False
                frames.append(out)
        chunk = pd.concat(frames, ignore_index=True)
        chunk["spec"] = np.arange(spec_id, spec_id + len(chunk))
        spec_id += len(chunk)
        chunk["estimate"] = natural(chunk.beta, mv.measure)
        chunk["ci_lb"], chunk["ci_ub"] = natural(chunk.ci_lb, mv.measure), natural(chunk.ci_ub, mv.measure)
        chunk = chunk.assign(analysis_id=mv.analysis_id, window=mv.window, split=mv.split, measure=mv.measure,
                             level=alpha_label)
        yield chunk[COLUMNS]


def _fit(y, v, method, test, level):
    if len(y) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # non-convergence is kept per row (reason)
        return rma_batch(y, v, method=method, test=test, level=level)


def run_multiverses(multiverses: Sequence[Multiverse], chunk_size: int = 20000) -> pd.DataFrame:
    """Every specification of every multiverse as the ``multiverse.csv`` table."""
    frames = [c for mv in multiverses for c in fit_chunks(mv, chunk_size)]
    if not frames:
        return layout("multiverse").empty()
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def run_multiverse(effects: pd.DataFrame, attrs: pd.DataFrame, opts: AnalysisOptions) -> pd.DataFrame:
    """Build and fit the plan's multiverses (see :func:`build_multiverses`); the ``multiverse.csv`` table."""
    return run_multiverses(build_multiverses(effects, attrs, opts), opts.multiverse.chunk_size)


# ----------------------------------------------------------------------------- summaries
def _sig(pval, level):
    return pval < 1 - level / 100


def influence(table: pd.DataFrame) -> list[dict]:
    """Per factor with two or more levels: the median estimate (model scale) per level and their range.

    The range of the level medians (largest minus smallest; the variance of the level medians
    is given too) ranks the factors that move the answer most.
    """
    out = []
    pooled = table[table.beta.notna()]
    for name in FACTORS:
        col = pooled[name].astype(str) if name != "omitted" else (pooled[name] != "").map(
            {False: "all studies", True: "some left out"})
        levels = col.unique()
        if len(levels) < 2:
            continue
        medians = pooled.beta.groupby(col).median()
        out.append({"factor": name, "levels": {str(k): float(v) for k, v in medians.items()},
                    "range": float(medians.max() - medians.min()), "variance": float(medians.var(ddof=0))})
    return sorted(out, key=lambda d: (-d["range"], d["factor"]))


def curve_summary(table: pd.DataFrame) -> dict:
    """Shares, median and range of one multiverse's specifications (natural scale for estimates).

    ``same_direction`` is measured against the primary specification's estimate (or the median
    when the primary is not in the multiverse); ``ci_excludes_null`` counts specifications whose
    CI lies wholly on one side of the null, ``ci_excludes_null_same`` those on the primary's side.
    """
    pooled = table[table.beta.notna()]
    null = 1.0 if str(table.measure.iloc[0]) in RATIO_MEASURES else 0.0
    prim = table[table.primary.astype(bool)]
    ref = float(prim.beta.iloc[0]) if len(prim) and pd.notna(prim.beta.iloc[0]) else (
        float(pooled.beta.median()) if len(pooled) else math.nan)
    sign = np.sign(ref) if math.isfinite(ref) else 0.0
    excl = (pooled.ci_lb > null) | (pooled.ci_ub < null)
    excl_same = (pooled.ci_lb > null) if sign > 0 else (pooled.ci_ub < null)
    n = len(pooled)
    return {
        "n_specs": len(table), "n_pooled": n,
        "primary": None if prim.empty else {"estimate": _f(prim.estimate.iloc[0]), "ci_lb": _f(prim.ci_lb.iloc[0]),
                                             "ci_ub": _f(prim.ci_ub.iloc[0]), "k": int(prim.k.iloc[0])},
        "share_same_direction": float((np.sign(pooled.beta) == sign).mean()) if n and sign else math.nan,
        "share_ci_excludes_null": float(excl.mean()) if n else math.nan,
        "share_ci_excludes_null_same": float(excl_same.mean()) if n and sign else math.nan,
        "median": _f(pooled.estimate.median()) if n else math.nan,
        "min": _f(pooled.estimate.min()) if n else math.nan, "max": _f(pooled.estimate.max()) if n else math.nan,
        "n_not_converged": int((pooled.converged.astype(str) != "True").sum()),
        "influence": influence(table),
    }


def _f(x) -> float:
    return float(x) if x is not None and pd.notna(x) else math.nan


def null_test(mv: Multiverse, table: pd.DataFrame, draws: int, n_specs: int, seed: int,
              chunk_size: int = 20000) -> dict:
    """Sign-flip test of the whole specification curve under the null (Simonsohn et al. 2020).

    Up to ``n_specs`` pooled specifications are drawn at random (``seed``; all when fewer). Every
    study gets one sign per draw and each specification's yi become ``sign_study * yi`` (model
    scale), refitted with the specification's own estimator and test. With ``2**studies <= draws``
    every sign pattern is used once and p = #{null >= observed} / 2**studies (exact; the observed
    pattern is one of them); otherwise ``draws`` random patterns and p = (1 + #{null >= observed})
    / (draws + 1). Statistics: |median estimate| (model scale) and the share of specifications
    significant in the dominant direction.

    Returns
    -------
    dict
        ``applies`` (False with ``why`` when there is nothing to test), the observed statistics,
        ``p_median``, ``p_share``, ``draws``, ``specs`` and ``studies``.
    """
    pooled = table[table.beta.notna()].reset_index(drop=True)
    studies = sorted({s for sel in mv.selections for s in sel.study})
    if draws <= 0:
        return {"applies": False, "why": "null draws set to 0"}
    if len(pooled) == 0:
        return {"applies": False, "why": "no pooled specification"}
    if len(studies) < 2:
        return {"applies": False, "why": "fewer than two studies: sign flips cannot mimic the null"}
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(len(pooled), size=min(n_specs, len(pooled)), replace=False))
    sample = pooled.iloc[take]
    keys = [_choice_key(sel.choice) for sel in mv.selections]
    by_key = {k: i for i, k in enumerate(keys)}
    study_col = {s: j for j, s in enumerate(studies)}
    exact = 2 ** len(studies) <= draws
    if exact:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(studies))))
    else:
        signs = rng.choice(np.array([-1.0, 1.0]), size=(draws, len(studies)))
    draws = len(signs)
    alpha_level = mv.level
    med_null = np.empty(draws)
    beta_null = []
    sig_pos, sig_neg = [], []
    for (method, test), part in sample.groupby(["estimator", "test"], sort=True):
        rows = []
        for _, r in part.iterrows():
            i = by_key[_row_key(r)]
            rows.append((i, tuple(s for s in str(r.omitted).split("|") if s)))
        k_max = max(len(mv.selections[i].study) for i, _ in rows)
        y0 = np.full((len(rows), k_max), np.nan)
        v0 = np.full((len(rows), k_max), np.nan)
        col = np.zeros((len(rows), k_max), dtype=int)
        for p, (i, omitted) in enumerate(rows):
            sel = mv.selections[i]
            keep = ~np.isin(sel.study, omitted) if omitted else np.ones(len(sel.study), bool)
            k = len(sel.study)
            y0[p, :k] = np.where(keep, sel.yi, np.nan)
            v0[p, :k] = np.where(keep, sel.vi, np.nan)
            col[p, :k] = [study_col[s] for s in sel.study]
        flips = signs[:, col]  # (draws, specs, k_max)
        y = (flips * y0[None]).reshape(-1, k_max)
        v = np.broadcast_to(v0, (draws,) + v0.shape).reshape(-1, k_max)
        betas, pvals = np.empty(len(y)), np.empty(len(y))
        for lo in range(0, len(y), max(1, chunk_size)):
            res = _fit(y[lo:lo + chunk_size], v[lo:lo + chunk_size], method, test, alpha_level)
            betas[lo:lo + chunk_size], pvals[lo:lo + chunk_size] = res.beta, res.pval
        betas, pvals = betas.reshape(draws, -1), pvals.reshape(draws, -1)
        beta_null.append(betas)
        sig = _sig(pvals, mv.level)
        sig_pos.append((sig & (betas > 0)).sum(axis=1))
        sig_neg.append((sig & (betas < 0)).sum(axis=1))
    all_beta = np.concatenate(beta_null, axis=1)
    med_null = np.abs(np.median(all_beta, axis=1))
    share_null = np.maximum(np.sum(sig_pos, axis=0), np.sum(sig_neg, axis=0)) / len(sample)
    obs_med = float(np.median(sample.beta))
    obs_sig = _sig(sample.pval.to_numpy(), mv.level)
    pos, neg = int((obs_sig & (sample.beta > 0)).sum()), int((obs_sig & (sample.beta < 0)).sum())
    obs_share = max(pos, neg) / len(sample)
    return {
        "applies": True, "draws": int(draws), "specs": len(sample), "studies": len(studies),
        "exact": exact, "distinct_sign_patterns": int(min(2 ** len(studies), 10**9)),
        "observed_median_beta": obs_med, "observed_share_significant": obs_share,
        "dominant_direction": "positive" if pos > neg else "negative" if neg > pos else "none",
        "p_median": _p_value(med_null, abs(obs_med), exact),
        "p_share": _p_value(share_null, obs_share, exact),
    }


def _p_value(null: np.ndarray, observed: float, exact: bool) -> float:
    hits = int(np.sum(null >= observed - 1e-12))
    return hits / len(null) if exact else (1 + hits) / (len(null) + 1)


def _choice_key(c: DataChoice) -> tuple:
    cells = c.cells()
    return tuple("" if isinstance(cells[k], float) and math.isnan(cells[k]) else str(cells[k])
                 for k in DATA_FACTORS)


def _row_key(r) -> tuple:
    out = []
    for k in DATA_FACTORS:
        v = r[k]
        if k == "crossover_r":
            out.append("" if pd.isna(v) else str(float(v)))
        elif k == "first_period_only":
            out.append(str(bool(v)))
        else:
            out.append("" if pd.isna(v) else str(v))
    return tuple(out)


def summarize(multiverses: Sequence[Multiverse], table: pd.DataFrame, opts: AnalysisOptions) -> dict:
    """The ``multiverse_summary.json`` document: per multiverse its size, factor product, curve summary
    (:func:`curve_summary`) and null-curve test (:func:`null_test`)."""
    mo = opts.multiverse
    out = []
    for mv in multiverses:
        part = table[(table.analysis_id == mv.analysis_id) & (table.window == mv.window) & (table.split == mv.split)]
        entry = {"analysis_id": mv.analysis_id, "window": mv.window, "split": mv.split, "measure": mv.measure,
                 "level": mv.level, "product": mv.product(), "factor_levels": mv.factor_levels,
                 "estimators": list(mv.methods), "tests": list(mv.tests)}
        if part.empty:
            out.append(entry | {"n_specs": 0})
            continue
        entry |= curve_summary(part)
        entry["null_test"] = null_test(mv, part, mo.null_draws, mo.null_specs, mo.seed, mo.chunk_size)
        out.append(entry)
    return {"multiverses": out, "level": opts.level}


def run_step(effects: pd.DataFrame, frames: dict[str, pd.DataFrame], opts: AnalysisOptions, table_path,
             summary_path, figures_dir) -> pd.DataFrame:
    """The pipeline step: fit every multiverse, then write the table, the summary and one figure per
    analysis (nothing is written when building or fitting fails)."""
    from pathlib import Path

    from evsynth.analyses.selection import study_attributes
    from evsynth.figures import specification_curve
    from evsynth.processed import write_document, write_table

    attrs = study_attributes(frames["studies"], frames["arms"])
    multiverses = build_multiverses(effects, attrs, opts)
    table = run_multiverses(multiverses, opts.multiverse.chunk_size)
    summary = summarize(multiverses, table, opts)
    for aid in opts.multiverse.analyses:
        specification_curve.render(table, aid, Path(figures_dir), opts.level)
    write_document("multiverse_summary", summary, summary_path)
    write_table("multiverse", table, table_path)
    return table
