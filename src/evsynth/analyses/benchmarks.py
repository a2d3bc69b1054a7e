"""Published meta-analyses side by side with ours.

``data/raw/benchmarks/published_pooled.csv`` holds pooled estimates read from published reviews
(one row per estimate, with its source and the address of the page read). :func:`compare` puts
each of them beside our primary pooled estimate for the same comparison, outcome, time window and
effect measure, with the difference, whether the confidence intervals overlap, and the facts that
may explain a gap (study set, number of studies, time point, control condition, model).

Only the same measure is compared. An odds ratio is never converted into a risk ratio (the
conversion needs the control-group risk and is not exact; Higgins et al., *Cochrane Handbook* 6.4,
section 10.4.3): a published OR stays beside our RR unmatched, with that reason. Ratio measures are
compared on the log scale; the difference is reported back-transformed, as a ratio of ratios
(ours / theirs), as in the comparison of two ratio estimates by Altman & Bland (2003, *BMJ*
326:219).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from evsynth.errors import InputError

PUBLISHED_COLUMNS = [
    "review", "review_pmid", "review_doi", "comparison", "drug", "outcome", "window", "timepoint", "measure",
    "value", "ci_lb", "ci_ub", "level", "k", "participants", "model", "source", "source_url", "notes",
]
REQUIRED = ["review", "comparison", "drug", "outcome", "measure", "value", "level", "source", "source_url"]
MEASURES = ("SMD", "MD", "RR", "OR", "RD", "HR")
RATIO = {"RR", "OR", "HR"}
#: The project's default time-window ids (config.yaml ``analysis.windows``).
WINDOWS = ("40min-2h", "4h", "24h", "d3", "d7", "d14", "d28")
#: ``drug`` value of a published estimate that pools ketamine and esketamine together.
ANY_DRUG = "any"
#: Generic control names in a ``comparison`` id (``<drug>_vs_<control>``) that name no particular control.
GENERIC_CONTROLS = {"control", "placebo"}
QUESTION_ORDER = {"onset": 0, "duration": 1, "side_effects": 2}

COMPARISON_COLUMNS = [
    "review", "comparison", "drug", "outcome", "window", "timepoint", "measure",
    "published", "published_ci_lb", "published_ci_ub", "published_level", "published_k", "published_participants",
    "published_model", "source", "source_url",
    "analysis_id", "our_variant", "our_window_label", "ours", "our_ci_lb", "our_ci_ub", "our_level", "our_k",
    "our_participants", "our_model", "our_studies",
    "matched", "difference", "difference_scale", "overlap", "why_may_differ", "reason",
]


class BenchmarkInputError(InputError, ValueError):
    """A published-estimates table that cannot be used; the message names file, row and column."""


# ----------------------------------------------------------------------------- loading
def _number(text: str, path, line: int, col: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise BenchmarkInputError(f"{path}: row {line}, column {col}: {text!r} is not a number") from None
    if not math.isfinite(x):
        raise BenchmarkInputError(f"{path}: row {line}, column {col}: {text!r} is not a finite number")
    return x


def load_published(path: str | Path, windows: tuple[str, ...] | list[str] | None = WINDOWS) -> pd.DataFrame:
    """Read and check ``published_pooled.csv``.

    Parameters
    ----------
    path : str or Path
        The CSV file (UTF-8, the columns of :data:`PUBLISHED_COLUMNS`, any order).
    windows : sequence of str, optional
        The valid window ids; ``window`` must be one of them or blank. ``None`` skips this check.

    Returns
    -------
    DataFrame
        One row per published estimate; ``value``, ``ci_lb``, ``ci_ub``, ``level`` as floats (NaN
        when blank), ``k`` and ``participants`` as nullable integers, text columns as ``str``.

    Raises
    ------
    BenchmarkInputError
        One line naming the file, the row (CSV line number) and the column of the first problem:
        missing or unknown columns, a blank required cell, a measure outside :data:`MEASURES`, a
        non-numeric number, a CI that does not contain the estimate, a non-positive ratio, an
        unknown window.
    """
    path = Path(path)
    if not path.is_file():
        raise BenchmarkInputError(f"{path}: file not found")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as err:
        raise BenchmarkInputError(f"{path}: not UTF-8 ({err.reason} at byte {err.start})") from None
    except pd.errors.ParserError as err:
        raise BenchmarkInputError(f"{path}: not a readable CSV ({str(err).strip()})") from None
    missing = [c for c in PUBLISHED_COLUMNS if c not in raw.columns]
    if missing:
        raise BenchmarkInputError(f"{path}: missing column(s) {', '.join(missing)}")
    unknown = [c for c in raw.columns if c not in PUBLISHED_COLUMNS]
    if unknown:
        raise BenchmarkInputError(f"{path}: unknown column(s) {', '.join(unknown)}")
    raw = raw[PUBLISHED_COLUMNS].apply(lambda s: s.str.strip())
    out = raw.copy()
    nums: dict[str, list[float]] = {c: [] for c in ("value", "ci_lb", "ci_ub", "level", "k", "participants")}
    for i, r in raw.iterrows():
        line = int(i) + 2  # header is line 1
        for col in REQUIRED:
            if not r[col]:
                raise BenchmarkInputError(f"{path}: row {line}, column {col}: blank (required)")
        if r.measure not in MEASURES:
            raise BenchmarkInputError(f"{path}: row {line}, column measure: {r.measure!r} is not one of "
                                      f"{', '.join(MEASURES)}")
        if windows is not None and r.window and r.window not in windows:
            raise BenchmarkInputError(f"{path}: row {line}, column window: {r.window!r} is not one of "
                                      f"{', '.join(windows)} (leave blank and keep the time in 'timepoint')")
        if not r.window and not r.timepoint:
            raise BenchmarkInputError(f"{path}: row {line}, column timepoint: blank while window is blank")
        if not re.match(r"https?://", r.source_url):
            raise BenchmarkInputError(f"{path}: row {line}, column source_url: {r.source_url!r} is not a web address")
        vals = {c: (_number(r[c], path, line, c) if r[c] else math.nan) for c in nums}
        if not 0 < vals["level"] < 100:
            raise BenchmarkInputError(f"{path}: row {line}, column level: {r.level!r} is not a percentage in (0, 100)")
        for c in ("k", "participants"):
            if not math.isnan(vals[c]) and (vals[c] < 0 or not float(vals[c]).is_integer()):
                raise BenchmarkInputError(f"{path}: row {line}, column {c}: {r[c]!r} is not a whole number")
        if math.isnan(vals["ci_lb"]) != math.isnan(vals["ci_ub"]):
            col = "ci_lb" if math.isnan(vals["ci_lb"]) else "ci_ub"
            raise BenchmarkInputError(f"{path}: row {line}, column {col}: blank while the other CI bound is given")
        if r.measure in RATIO:
            for c in ("value", "ci_lb", "ci_ub"):
                if not math.isnan(vals[c]) and vals[c] <= 0:
                    raise BenchmarkInputError(f"{path}: row {line}, column {c}: {r[c]!r} is not positive "
                                              f"(a {r.measure} is a ratio)")
        if not math.isnan(vals["ci_lb"]) and not vals["ci_lb"] <= vals["value"] <= vals["ci_ub"]:
            raise BenchmarkInputError(f"{path}: row {line}, column value: {r.value} is outside its CI "
                                      f"[{r.ci_lb}, {r.ci_ub}] (check the sign convention in the README)")
        for c, v in vals.items():
            nums[c].append(v)
    for c in ("k", "participants"):
        out[c] = pd.array([None if math.isnan(v) else int(v) for v in nums[c]], dtype="Int64")
    for c in ("value", "ci_lb", "ci_ub", "level"):
        out[c] = np.asarray(nums[c], float)
    return out


def load_study_sets(path: str | Path, known_ids) -> dict[str, list[str]]:
    """Read ``study_sets.yaml`` ({review id: [study ids]}) and check every id is one of ``known_ids``.

    Raises :class:`BenchmarkInputError` naming the file and key for a malformed entry or an unknown
    study id.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise BenchmarkInputError(f"{path}: file not found")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise BenchmarkInputError(f"{path}: expected a mapping of review id to a list of study ids")
    known = set(known_ids)
    out = {}
    for key, ids in data.items():
        if not isinstance(ids, list) or not all(isinstance(s, str) for s in ids):
            raise BenchmarkInputError(f"{path}: key {key}: expected a list of study ids")
        bad = [s for s in ids if s not in known]
        if bad:
            raise BenchmarkInputError(f"{path}: key {key}: unknown study id(s) {', '.join(bad)}")
        out[str(key)] = list(ids)
    return out


# ----------------------------------------------------------------------------- comparison
def _blank(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or (isinstance(x, str) and not x.strip()) \
        or x is pd.NA


def _text(x) -> str:
    return "" if _blank(x) else str(x)


def _candidates(pooled: pd.DataFrame, drug: str) -> pd.DataFrame:
    """Our overall primary rows (``drug == 'any'``) or the per-drug subgroup rows of ``drug``."""
    sub_var = pooled.subgroup_var.map(_text)
    if drug == ANY_DRUG:
        return pooled[(pooled.variant == "primary") & (sub_var == "")]
    return pooled[(sub_var == "drug") & (pooled.subgroup_level.map(_text) == drug)
                  & pooled.variant.isin(["primary", "subgroup"])]


def _single_drug_overall(rows: pd.DataFrame, drug: str, pooled_studies: pd.DataFrame | None) -> pd.DataFrame:
    """Overall primary rows whose studies are all of ``drug`` (per ``pooled_studies``), relabelled."""
    if pooled_studies is None or pooled_studies.empty:
        return rows.iloc[0:0]
    keep = []
    for idx, r in _candidates(rows, ANY_DRUG).iterrows():
        st = pooled_studies[(pooled_studies.analysis_id == r.analysis_id)
                            & (pooled_studies.window.map(_text) == _text(r.window))]
        if len(st) and (st.drug == drug).all():
            keep.append(idx)
    return rows.loc[keep].assign(variant=f"primary (all {drug})")


def _order(rows: pd.DataFrame) -> pd.DataFrame:
    """Pooled rows first, then the onset analysis before duration, then by analysis id."""
    key = rows.question.map(lambda q: QUESTION_ORDER.get(q, 9)) if "question" in rows else 0
    return (rows.assign(_unpooled=~rows.pooled.map(_is_pooled), _key=key)
            .sort_values(["_unpooled", "_key", "analysis_id"], kind="mergesort").drop(columns=["_unpooled", "_key"]))


def _is_pooled(x) -> bool:
    return str(x).strip().lower() in ("true", "1", "yes")


def _overlap(a_lb, a_ub, b_lb, b_ub) -> str:
    if any(_blank(v) for v in (a_lb, a_ub, b_lb, b_ub)):
        return ""
    return "yes" if max(float(a_lb), float(b_lb)) <= min(float(a_ub), float(b_ub)) else "no"


def difference(ours: float, theirs: float, measure: str) -> float:
    """Ours minus theirs; for ratio measures the back-transformed difference of logs, ours / theirs."""
    if _blank(ours) or _blank(theirs):
        return math.nan
    if measure in RATIO:
        return float(math.exp(math.log(float(ours)) - math.log(float(theirs))))
    return float(ours) - float(theirs)


def _review_year(review: str) -> str:
    m = re.search(r"(\d{4})[a-z]?$", review)
    return m.group(1) if m else ""


def _why(pub, ours, level: float) -> str:
    """Facts that may explain a difference between a published estimate and ours."""
    facts = []
    pk, ok = pub.k, ours.get("n_studies")
    if _blank(ok):
        ok = ours.get("k")
    if _blank(ok):
        facts.append("study set: our number of studies not recorded")
    elif _blank(pk):
        facts.append(f"study set: ours {int(ok)} studies ({_text(ours.get('studies')).replace('|', ', ')}); "
                     f"theirs k not stated")
    elif int(pk) != int(ok):
        facts.append(f"study set: ours {int(ok)} studies, theirs {int(pk)}")
    else:
        facts.append(f"study set: same number of studies ({int(ok)}), identity not checked")
    year = _review_year(pub.review)
    if year:
        facts.append(f"period: theirs is a {year} review, so later trials cannot be in it")
    if pub.drug == ANY_DRUG:
        facts.append("drug: theirs pools ketamine and esketamine; ours is our overall result")
    control = pub.comparison.split("_vs_", 1)[1] if "_vs_" in pub.comparison else ""
    if control and control not in GENERIC_CONTROLS:
        facts.append(f"control: theirs {control.replace('_', ' ')}; ours pools every control in the plan")
    facts.append(f"time: theirs '{pub.timepoint or pub.window}'; ours window {_text(ours.get('window_label')) or pub.window}")
    if not _blank(pub.level) and float(pub.level) != float(level):
        facts.append(f"interval level: theirs {pub.level:g}%, ours {level:g}%")
    model = f"{_text(ours.get('method'))}" + (f", {_text(ours.get('test'))}" if _text(ours.get("test")) else "")
    facts.append(f"model: theirs {pub.model or 'not stated'}; ours {model or 'not stated'}")
    return "; ".join(facts)


def compare(pooled: pd.DataFrame, published: pd.DataFrame, level: float = 95.0,
            pooled_studies: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each published estimate beside our pooled estimate for the same question.

    Parameters
    ----------
    pooled : DataFrame
        ``data/processed/pooled.csv`` (the registered `pooled` layout, :mod:`evsynth.processed`).
    published : DataFrame
        :func:`load_published`'s table.
    level : float
        The confidence level of our intervals (``analysis.level``), in percent; used where
        ``pooled`` has no ``level`` column (or it is blank).
    pooled_studies : DataFrame, optional
        ``data/processed/pooled_studies.csv``. Where a window has no per-drug subgroup row (one drug
        only), the overall primary row is used for that drug when every study behind it is of that
        drug (variant shown as ``primary (all <drug>)``).

    Returns
    -------
    DataFrame
        One row per published estimate (:data:`COMPARISON_COLUMNS`), in the published table's order.
        A match needs the same outcome, window and measure, and our row for the same drug: the
        per-drug subgroup row (``subgroup_var == 'drug'``) for ``ketamine`` / ``esketamine``, the
        overall primary row for ``any``. Where several analyses match, a pooled one is taken before
        one that was not pooled, and the onset analysis (time from the first dose) before duration. ``difference`` is ours − theirs, or ours / theirs for ratio
        measures; ``overlap`` is ``yes`` / ``no`` (blank when a CI is missing). Unmatched rows carry
        the ``reason``: no window, a different measure (never converted), no row for the drug, or
        our result not pooled (with our reason).
    """
    rows = []
    for _, pub in published.iterrows():
        base = dict.fromkeys(COMPARISON_COLUMNS, "")
        base.update(review=pub.review, comparison=pub.comparison, drug=pub.drug, outcome=pub.outcome,
                    window=pub.window, timepoint=pub.timepoint, measure=pub.measure, published=pub.value,
                    published_ci_lb=pub.ci_lb, published_ci_ub=pub.ci_ub, published_level=pub.level,
                    published_k=pub.k, published_participants=pub.participants, published_model=pub.model,
                    source=pub.source, source_url=pub.source_url, matched=False, our_level=float(level),
                    difference=math.nan, ours=math.nan, our_ci_lb=math.nan, our_ci_ub=math.nan)
        base["difference_scale"] = "ours / theirs" if pub.measure in RATIO else "ours - theirs"
        rows.append(base)
        if not pub.window:
            base["reason"] = (f"their time point ({pub.timepoint}) falls in none of our windows")
            continue
        same = pooled[(pooled.outcome == pub.outcome) & (pooled.window.map(_text) == pub.window)]
        if same.empty:
            base["reason"] = f"we have no analysis of {pub.outcome} in window {pub.window}"
            continue
        same_m = same[same.measure == pub.measure]
        if same_m.empty:
            ours_measures = ", ".join(sorted(same.measure.unique()))
            base["reason"] = (f"measure differs: theirs {pub.measure}, ours {ours_measures}; "
                              f"not converted (compared only on the same measure)")
            continue
        m_rows = _candidates(same_m, pub.drug)
        if m_rows.empty and pub.drug != ANY_DRUG:
            m_rows = _single_drug_overall(same_m, pub.drug, pooled_studies)
        if m_rows.empty:
            base["reason"] = (f"no {pub.drug} subgroup row for {pub.outcome} ({pub.measure}) in window {pub.window}"
                              if pub.drug != ANY_DRUG else
                              f"no overall primary row for {pub.outcome} ({pub.measure}) in window {pub.window}")
            continue
        best = _order(m_rows).iloc[0]
        base.update(analysis_id=best.analysis_id, our_variant=best.variant,
                    our_window_label=_text(best.get("window_label")), our_k=best.get("n_studies", best.k),
                    our_participants=best.get("participants"), our_studies=_text(best.get("studies")),
                    our_model=", ".join(x for x in (_text(best.get("method")), _text(best.get("test"))) if x))
        if not _is_pooled(best.pooled):
            base["reason"] = f"ours not pooled: {_text(best.get('reason')) or 'no reason recorded'}"
            continue
        our_level = float(best.level) if "level" in best and not _blank(best.level) else float(level)
        base.update(ours=float(best.estimate), our_ci_lb=float(best.ci_lb), our_ci_ub=float(best.ci_ub),
                    matched=True, difference=difference(best.estimate, pub.value, pub.measure), our_level=our_level,
                    overlap=_overlap(best.ci_lb, best.ci_ub, pub.ci_lb, pub.ci_ub),
                    why_may_differ=_why(pub, best, our_level))
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def write_comparison(comparison: pd.DataFrame, path: str | Path) -> None:
    """Write :func:`compare`'s table as the registered ``benchmarks`` table (atomic, fixed column order)."""
    from evsynth.processed import write_table

    write_table("benchmarks", comparison[COMPARISON_COLUMNS], path)


def rows_per_review(comparison: pd.DataFrame) -> pd.DataFrame:
    """Published rows and matched rows per review (review, published, matched)."""
    g = comparison.groupby("review", sort=True)
    return pd.DataFrame({"published": g.size(), "matched": g.matched.sum().astype(int)}).reset_index()


# ----------------------------------------------------------------------------- report
def report_section(comparison: pd.DataFrame, level: float, figure: Path | None = None) -> str:
    """HTML fragment: our estimates beside published ones, with the unmatched rows and their reasons.

    Parameters
    ----------
    comparison : DataFrame
        :func:`compare`'s table.
    level : float
        Our confidence level in percent (labels the interval columns).
    figure : Path, optional
        ``benchmarks.svg`` to inline above the tables.
    """
    from evsynth.report.sections import esc, inline_svg, num, table

    lvl = f"{level:g}%"
    parts = ["<h2 id='benchmarks'>10. Published meta-analyses, side by side</h2>",
             ("<p>Each published pooled estimate in <code>data/raw/benchmarks/published_pooled.csv</code> (read from "
             "the review's own page; source and address in the table) is placed beside our primary estimate for the "
             "same comparison, outcome, time window and measure. Ratios are compared on the log scale and the "
             "difference is shown as ours / theirs; for SMD and MD as ours − theirs. An odds ratio is never "
             "converted into a risk ratio: where the review used another measure than ours, the row is listed "
             "below with that reason. Intervals that overlap do not prove agreement; the last column lists the "
             "facts that may explain a difference.</p>")]
    if figure is not None:
        parts.append(inline_svg(Path(figure), f"Published pooled estimates (orange squares) beside ours (black "
                                              f"circles), with their intervals (ours {lvl} CI)."))
    per = rows_per_review(comparison)
    parts.append("<p>Published estimates per review: " + ", ".join(
        f"{esc(r.review)} {int(r.published)} ({int(r.matched)} compared)" for r in per.itertuples()) + ".</p>")
    m = comparison[comparison.matched.astype(bool)].copy()
    if not m.empty:
        m["theirs_"] = [f"{num(v)} ({num(a)} to {num(b)})" if not _blank(a) else num(v)
                        for v, a, b in zip(m.published, m.published_ci_lb, m.published_ci_ub)]
        m["ours_"] = [f"{num(v)} ({num(a)} to {num(b)})" for v, a, b in zip(m.ours, m.our_ci_lb, m.our_ci_ub)]
        m["diff_"] = [f"{num(d)} ({s})" for d, s in zip(m.difference, m.difference_scale)]
        m["src"] = [f"{s}" for s in m.source]
        for c in ("published_k", "our_k"):
            m[c] = [("" if _blank(v) else int(v)) for v in m[c]]
    parts.append("<h3>Compared</h3>" + table(m, {
        "review": "Review", "comparison": "Comparison", "outcome": "Outcome", "window": "Window", "measure": "Measure",
        "theirs_": "Theirs (their CI)", "published_k": "Their k", "ours_": f"Ours ({lvl} CI)", "our_k": "Our k",
        "diff_": "Difference", "overlap": "CIs overlap", "why_may_differ": "Why they may differ",
        "src": "Source"}, {"published_k", "our_k"}) if not m.empty else "<h3>Compared</h3><p><em>None.</em></p>")
    u = comparison[~comparison.matched.astype(bool)].copy()
    if not u.empty:
        u["theirs_"] = [f"{num(v)} ({num(a)} to {num(b)})" if not _blank(a) else num(v)
                        for v, a, b in zip(u.published, u.published_ci_lb, u.published_ci_ub)]
        u["time_"] = [w or t for w, t in zip(u.window, u.timepoint)]
    parts.append("<h3>Not compared</h3>" + table(u, {
        "review": "Review", "comparison": "Comparison", "outcome": "Outcome", "time_": "Time", "measure": "Measure",
        "theirs_": "Theirs (their CI)", "reason": "Why not compared", "source": "Source"}) if not u.empty
        else "<h3>Not compared</h3><p><em>None.</em></p>")
    return "\n".join(parts)
