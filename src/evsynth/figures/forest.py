"""Forest plot of one pooled analysis: study rows, pooled diamond and prediction interval.

Layout follows metafor's ``forest.rma`` (Viechtbauer W. Conducting meta-analyses in R with the
metafor package. *J Stat Softw* 2010;36(3):1–48): one row per study with its estimate and
confidence interval, a square whose area is proportional to the study's weight in the model, the
pooled estimate as a diamond spanning its confidence interval, and the prediction interval
(Riley RD, Higgins JPT, Deeks JJ. *BMJ* 2011;342:d549) as a line through the diamond. Numbers in
the side columns are those in ``pooled_studies.csv`` / ``pooled.csv``, formatted only.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from matplotlib.transforms import blended_transform_factory

from evsynth.figures import style

ROW_HEIGHT = 0.26  # inches per table row
SQUARE_AREA = (12.0, 160.0)  # marker area (pt²) for the lightest and heaviest study


def _finite(*values) -> bool:
    return all(v is not None and isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _n_text(row: pd.Series) -> str:
    n_exp, n_ctrl = row.get("n_exp", math.nan), row.get("n_ctrl", math.nan)
    if not _finite(n_exp) and not _finite(n_ctrl):
        return "\u2013"
    return f"{style.fmt_count(n_exp)} / {style.fmt_count(n_ctrl)}"


def _xlimits(values: list[float], null: float, ratio: bool) -> tuple[float, float]:
    vals = [v for v in values if _finite(v) and (v > 0 or not ratio)] + [null]
    lo, hi = min(vals), max(vals)
    if ratio:
        llo, lhi = math.log(lo), math.log(hi)
        pad = 0.08 * max(lhi - llo, 0.2)
        return math.exp(llo - pad), math.exp(lhi + pad)
    pad = 0.08 * max(hi - lo, 0.2)
    return lo - pad, hi + pad


def pooled_caption(pooled: pd.Series) -> str:
    """Heterogeneity and model line: k, participants, tau², I², Q (p), estimator and test."""
    parts = [f"k = {style.fmt_count(pooled.get('k'))}"]
    if _finite(pooled.get("participants", math.nan)):
        parts.append(f"participants = {style.fmt_count(pooled['participants'])}")
    parts.append(f"\u03c4\u00b2 = {style.fmt_num(pooled.get('tau2', math.nan), 3)}")
    parts.append(f"I\u00b2 = {style.fmt_num(pooled.get('I2', math.nan), 1)}%")
    parts.append(f"Q = {style.fmt_num(pooled.get('QE', math.nan), 2)} (p = {style.fmt_p(pooled.get('QEp', math.nan))})")
    model = str(pooled.get("method", "") or "")
    test = str(pooled.get("test", "") or "")
    if model:
        parts.append(f"model: {model}" + (f", test: {test}" if test else ""))
    text = "; ".join(parts)
    if pooled.get("converged") is False:
        text += "; WARNING: model did not converge"
    return text


def forest_plot(rows: pd.DataFrame, pooled: pd.Series) -> Figure:
    """Draw the forest plot of one pooled result.

    Parameters
    ----------
    rows : DataFrame
        Study rows from ``pooled_studies.csv`` for this analysis and window (columns ``label``,
        ``estimate``, ``ci_lb``, ``ci_ub`` on the natural scale, ``weight`` in percent, ``n_exp``,
        ``n_ctrl``).
    pooled : Series
        The row of ``pooled.csv`` (``estimate``, ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub``,
        ``measure``, ``null_value``, heterogeneity columns).

    Returns
    -------
    Figure
    """
    measure = str(pooled.get("measure", ""))
    ratio = style.is_ratio(measure)
    null = pooled.get("null_value", math.nan)
    null = float(null) if _finite(null) else (1.0 if ratio else 0.0)
    n = len(rows)
    y_study = np.arange(n, 0, -1, dtype=float)
    y_pooled, y_header = -0.6, n + 1.1
    with style.styled():
        fig = style.new_figure(10.0, 1.7 + ROW_HEIGHT * (n + 4))
        ax = fig.add_axes((0.40, 0.9 / fig.get_figheight(), 0.30, 1 - 1.55 / fig.get_figheight()))
        ax.set_ylim(-1.6, n + 1.7)
        ax.spines[["left", "top", "right"]].set_visible(False)
        ax.set_yticks([])
        if ratio:
            ax.set_xscale("log")
        values = list(rows["ci_lb"]) + list(rows["ci_ub"]) + [pooled.get(c, math.nan) for c in
                                                              ("ci_lb", "ci_ub", "pi_lb", "pi_ub")]
        ax.set_xlim(*_xlimits(values, null, ratio))
        ax.axvline(null, color=style.GREY, lw=0.8, zorder=0)
        _draw_studies(ax, rows, y_study)
        _draw_pooled(ax, pooled, y_pooled)
        _draw_columns(fig, ax, rows, pooled, y_study, y_pooled, y_header)
        ax.set_xlabel(style.measure_label(measure))
        hints = style.direction(pooled.get("outcome", ""), measure, pooled.get("question", ""))
        if hints:
            for x, text, ha in ((0.0, hints[0], "left"), (1.0, hints[1], "right")):
                ax.annotate(f"\u2190 {text}" if ha == "left" else f"{text} \u2192", xy=(x, 0), xycoords="axes fraction",
                            xytext=(0, -30), textcoords="offset points", ha=ha, va="top", fontsize=7,
                            color=style.GREY)
        window = str(pooled.get("window_label", "") or pooled.get("window", "") or "all timepoints")
        fig.suptitle(f"{pooled.get('analysis_id', '')} \u2014 {pooled.get('outcome', '')}, {window}",
                     x=0.01, y=1 - 0.12 / fig.get_figheight(), ha="left", va="top", fontsize=10)
        fig.text(0.01, 0.08 / fig.get_figheight(), pooled_caption(pooled), fontsize=7.5, ha="left", va="bottom",
                 color="#333333")
    return fig


def _draw_studies(ax, rows: pd.DataFrame, y: np.ndarray) -> None:
    weights = rows["weight"].to_numpy(float)
    top = np.nanmax(weights) if np.isfinite(weights).any() else math.nan
    for yi, (_, r) in zip(y, rows.iterrows()):
        if _finite(r["ci_lb"], r["ci_ub"]):
            ax.plot([r["ci_lb"], r["ci_ub"]], [yi, yi], color=style.OKABE_ITO["black"], lw=0.9)
        if _finite(r["estimate"]):
            w = r["weight"]
            area = (SQUARE_AREA[0] + (SQUARE_AREA[1] - SQUARE_AREA[0]) * w / top) if _finite(w, top) and top > 0 \
                else SQUARE_AREA[0]
            ax.scatter([r["estimate"]], [yi], s=area, marker="s", color=style.OKABE_ITO["blue"], zorder=3,
                       linewidths=0)


def _draw_pooled(ax, pooled: pd.Series, y: float) -> None:
    est, lb, ub = (pooled.get(c, math.nan) for c in ("estimate", "ci_lb", "ci_ub"))
    pi_lb, pi_ub = pooled.get("pi_lb", math.nan), pooled.get("pi_ub", math.nan)
    if _finite(pi_lb, pi_ub):
        ax.plot([pi_lb, pi_ub], [y, y], color=style.OKABE_ITO["vermillion"], lw=1.2, zorder=2)
        for x in (pi_lb, pi_ub):
            ax.plot([x, x], [y - 0.15, y + 0.15], color=style.OKABE_ITO["vermillion"], lw=1.2, zorder=2)
    if _finite(est, lb, ub):
        ax.add_patch(Polygon([(lb, y), (est, y + 0.38), (ub, y), (est, y - 0.38)], closed=True,
                             facecolor=style.OKABE_ITO["black"], edgecolor=style.OKABE_ITO["black"], zorder=3))


def _draw_columns(fig, ax, rows, pooled, y_study, y_pooled, y_header) -> None:
    tr = blended_transform_factory(fig.transFigure, ax.transData)
    level = style.ci_label(pooled.get("level"))
    cols = ((0.01, "left", "Study"), (0.33, "center", "n (ketamine / control)"),
            (0.72, "left", f"Estimate [{level}]"), (0.99, "right", "Weight"))
    for x, ha, head in cols:
        fig.text(x, y_header, head, transform=tr, ha=ha, va="center", fontweight="bold", fontsize=8.5)
    for yi, (_, r) in zip(y_study, rows.iterrows()):
        cells = (str(r["label"]), _n_text(r), style.fmt_ci(r["estimate"], r["ci_lb"], r["ci_ub"]),
                 "\u2013" if not _finite(r["weight"]) else f"{r['weight']:.1f}%")
        for (x, ha, _), text in zip(cols, cells):
            fig.text(x, yi, text, transform=tr, ha=ha, va="center", parse_math=False)
    fig.text(0.01, y_pooled, f"Pooled estimate ({level})", transform=tr, ha="left", va="center",
             fontweight="bold")
    if _finite(pooled.get("participants", math.nan)):
        fig.text(0.33, y_pooled, f"{style.fmt_count(pooled['participants'])} total", transform=tr, ha="center",
                 va="center")
    fig.text(0.72, y_pooled, style.fmt_ci(pooled.get("estimate"), pooled.get("ci_lb"), pooled.get("ci_ub")),
             transform=tr, ha="left", va="center", fontweight="bold")
    fig.text(0.99, y_pooled, "100%", transform=tr, ha="right", va="center", fontweight="bold")
    pi = (pooled.get("pi_lb", math.nan), pooled.get("pi_ub", math.nan))
    pi_text = f"[{style.fmt_num(pi[0])}, {style.fmt_num(pi[1])}]" if _finite(*pi) else "not estimable"
    fig.text(0.01, y_pooled - 0.75, "Prediction interval", transform=tr, ha="left", va="center",
             color=style.OKABE_ITO["vermillion"])
    fig.text(0.72, y_pooled - 0.75, pi_text, transform=tr, ha="left", va="center",
             color=style.OKABE_ITO["vermillion"])
