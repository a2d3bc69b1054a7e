"""Duration figure: the decay of the effect after a single dose and after a course, beside relapse.

Left and middle (one row per duration analysis of ``duration_timecourse.json``): the pooled effect
in each window from 24 h on against the time since the last dose (log axis), **one panel per
regimen** (a single dose; the end of a course), never one curve for both. The CI at the plan's
level is a band over the pooled windows; each study's estimate is a point at its own time, its
area proportional to its weight in that window's model (hollow where the window was not pooled).
A dashed line marks the latest window still distinguishable from control, a dotted one the latest
controlled time point (where the data stop).

Right: relapse hazard ratios per trial and stratum (e.g. SUSTAIN-1's stable remitters and stable
responders, kept apart) with their CIs, on a log axis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from evsynth.figures import style

TICKS = [24, 72, 168, 336, 672]
TICK_LABELS = ["24 h", "3 d", "7 d", "14 d", "28 d"]
REGIMEN_TITLES = {"single": "After a single dose", "repeated": "After the end of a course"}
REGIMEN_COLOURS = {"single": style.OKABE_ITO["blue"], "repeated": style.OKABE_ITO["bluish_green"]}


def duration_figure(pooled: pd.DataFrame, studies: pd.DataFrame, duration: dict | None = None) -> Figure:
    """Draw the decay panels (per duration analysis and regimen) and the relapse panel.

    Parameters
    ----------
    pooled : DataFrame
        ``pooled.csv`` (to find the hazard-ratio duration analyses).
    studies : DataFrame
        ``pooled_studies.csv`` (the relapse hazard ratios per trial).
    duration : dict, optional
        The ``duration_timecourse`` document (:func:`evsynth.analyses.duration.time_course`);
        without it the decay panels say that no duration time course was computed.
    """
    analyses = (duration or {}).get("analyses", {})
    ids = sorted(analyses) or [None]
    hr_ids = pooled.loc[(pooled.question == "duration") & (pooled.measure == "HR"), "analysis_id"].unique()
    with style.styled():
        fig = style.new_figure(12.0, 3.4 * len(ids) + 0.4)
        bottom = 0.16 if len(ids) == 1 else 0.08
        grid = fig.add_gridspec(len(ids), 2, left=0.06, right=0.64, top=0.9, bottom=bottom, wspace=0.32,
                                hspace=0.6)
        for i, aid in enumerate(ids):
            entry = analyses.get(aid, {}) if aid else {}
            for j, regimen in enumerate(("single", "repeated")):
                _decay(fig.add_subplot(grid[i, j]), aid, entry, regimen)
        right = fig.add_gridspec(1, 1, left=0.8, right=0.975, top=0.9, bottom=bottom)
        _relapse(fig.add_subplot(right[0, 0]), studies[studies.analysis_id.isin(hr_ids)])
    return fig


def _decay(ax, aid: str | None, entry: dict, regimen: str) -> None:
    """One regimen's time course after the last dose: pooled band and line, study points, markers."""
    course = entry.get("regimens", {}).get(regimen, {})
    measure = entry.get("measure", "SMD")
    ratio = style.is_ratio(measure)
    colour = REGIMEN_COLOURS[regimen]
    ci = style.ci_label(entry.get("level"))
    ax.set_xscale("log")
    if ratio:
        ax.set_yscale("log")
        style.plain_log_axis(ax, "y")
    ax.axhline(entry.get("null_value", 1 if ratio else 0), color=style.GREY, lw=0.8, zorder=0)
    wins = [w for w in course.get("windows", []) if w.get("pooled") and _ok(w.get("estimate"))]
    if wins:
        h = np.array([w["hours"] for w in wins], float)
        lb = np.array([w["ci_lb"] for w in wins], float)
        ub = np.array([w["ci_ub"] for w in wins], float)
        est = np.array([w["estimate"] for w in wins], float)
        ax.fill_between(h, lb, ub, color=colour, alpha=0.18, lw=0, label=f"pooled {ci}", zorder=1)
        ax.plot(h, est, color=colour, marker="D", ms=4.5, lw=1.4, label="pooled estimate", zorder=4)
    pts = pd.DataFrame(course.get("points", []))
    if len(pts):
        pts = pts[pts.estimate.notna() & pts.hours.notna() & (pts.hours > 0)]
    if len(pts):
        weighted = pts[pts.weight.notna()]
        if len(weighted):
            sizes = 10 + 70 * weighted.weight.to_numpy(float) / 100.0
            ax.scatter(weighted.hours, weighted.estimate, s=sizes, color=colour, alpha=0.55, edgecolor="white",
                       lw=0.4, label="studies (area ∝ weight)", zorder=3)
        alone = pts[pts.weight.isna()]
        if len(alone):
            ax.scatter(alone.hours, alone.estimate, s=22, facecolor="none", edgecolor=colour, lw=0.9,
                       label="study, window not pooled", zorder=3)
    latest = course.get("latest")
    if latest:
        ax.axvline(latest["hours"], color=style.OKABE_ITO["vermillion"], ls="--", lw=0.9,
                   label=f"latest distinguishable: {latest['label']}")
    end = (course.get("data_end") or {}).get("last_hours")
    if end:
        ax.axvline(end, color=style.GREY, ls=":", lw=1.0, label=f"data stop: {_hours(end)}")
    if not wins and not len(pts):
        style.empty_note(ax, "no pooled estimate:\n" + ("no controlled result" if course else "no duration time course"))
    elif not wins:
        ax.text(0.97, 0.55, f"not pooled: no window\nhas {entry.get('min_k', 2)} trials", transform=ax.transAxes,
                ha="right", va="center", color=style.GREY, fontsize=7.5)
    ax.set_xlim(12, 1200)
    ax.set_xticks(TICKS)
    ax.set_xticklabels(TICK_LABELS)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("Time since last dose (hours, log scale)")
    ax.set_ylabel(style.measure_label(measure))
    title = REGIMEN_TITLES[regimen] + (f" ({aid})" if aid else "")
    ax.set_title(title, loc="left", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=6.5)


def _hours(h: float) -> str:
    """24 -> '24 h', 336 -> 'day 14' (days for times of 2 days and more)."""
    return f"day {h / 24:g}" if h >= 48 else f"{h:g} h"


def _ok(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and np.isfinite(x)


def _relapse(ax, rows: pd.DataFrame) -> None:
    rows = rows[rows.estimate.notna()].reset_index(drop=True)
    ax.set_xscale("log")
    ax.axvline(1, color=style.GREY, lw=0.8, zorder=0)
    if rows.empty:
        style.empty_note(ax, "no relapse hazard ratios")
        ax.set_yticks([])
    else:
        y = np.arange(len(rows), 0, -1)
        ax.errorbar(rows.estimate, y, xerr=[rows.estimate - rows.ci_lb, rows.ci_ub - rows.estimate], fmt="s",
                    color=style.OKABE_ITO["vermillion"], ms=5, capsize=2, lw=1)
        ax.set_yticks(y)
        ax.set_yticklabels([str(lab).replace(" (", "\n(", 1) for lab in rows.label], fontsize=7)
        ax.set_ylim(0.3, len(rows) + 0.7)
    style.plain_log_axis(ax, "x")
    level = rows.level.iloc[0] if len(rows) and "level" in rows else None
    ax.set_xlabel(f"Relapse hazard ratio ({style.ci_label(level)}, log scale)")
    ax.set_title("Relapse after response/remission", loc="left")
