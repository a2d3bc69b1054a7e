"""Onset figure: pooled effect by time since the first dose (log time axis), CI band, study points.

One panel per onset analysis (``onset_timecourse.json``): the per-window pooled estimates joined
by a line with their CI (at the plan's level) as a band, the null line, and each study's estimate at its own time
as a point whose area is proportional to its weight in that window's model
(``pooled_studies.csv``). The earliest window distinguishable from control is marked.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evsynth.figures import style


def onset_figure(onset: dict, studies: pd.DataFrame) -> Figure:
    """Draw every onset analysis in its own panel (an empty note when there is none)."""
    ids = sorted(onset)
    with style.styled():
        fig = style.new_figure(7.5, 2.6 * max(len(ids), 1) + 0.6)
        if not ids:
            style.empty_note(fig.add_subplot(1, 1, 1))
            return fig
        for i, aid in enumerate(ids):
            ax = fig.add_subplot(len(ids), 1, i + 1)
            _panel(ax, aid, onset[aid], studies[studies.analysis_id == aid])
        fig.subplots_adjust(left=0.12, right=0.97, top=0.95, bottom=0.08, hspace=0.55)
    return fig


def _panel(ax, aid: str, entry: dict, studies: pd.DataFrame) -> None:
    measure = entry.get("measure", "")
    ratio = style.is_ratio(measure)
    null = entry.get("null_value", 1 if ratio else 0)
    wins = [w for w in entry.get("windows", []) if w.get("pooled") and _ok(w.get("estimate"))]
    ax.set_xscale("log")
    if ratio:
        ax.set_yscale("log")
        style.plain_log_axis(ax, "y")
    ax.axhline(null, color=style.GREY, lw=0.8, zorder=0)
    colour = style.OKABE_ITO["blue"]
    ci = style.ci_label(entry.get("level"))
    if wins:
        h = np.array([w["hours"] for w in wins], float)
        ax.fill_between(h, [w["ci_lb"] for w in wins], [w["ci_ub"] for w in wins], color=colour, alpha=0.2,
                        lw=0, label=ci)
        est = np.array([w["estimate"] for w in wins], float)
        lo = est - np.array([w["ci_lb"] for w in wins], float)
        hi = np.array([w["ci_ub"] for w in wins], float) - est
        ax.errorbar(h, est, yerr=[lo, hi], color=colour, marker="D", ms=4, lw=1.2, capsize=3,
                    label=f"pooled ({ci})", zorder=4)
    pts = studies[studies.estimate.notna() & studies.hours.notna() & (studies.hours > 0)]
    if len(pts):
        w = pts.weight.fillna(pts.weight.mean() if pts.weight.notna().any() else 10.0).to_numpy(float)
        sizes = 8 + 60 * w / max(w.max(), 1e-9)
        for j, (drug, part) in enumerate(pts.groupby(pts.drug.fillna("other"), sort=True)):
            m = pts.drug.fillna("other") == drug
            ax.scatter(part.hours, part.estimate, s=sizes[m.to_numpy()], color=style.series_colour(drug, j),
                       alpha=0.6, edgecolor="white", lw=0.4, label=f"studies: {drug}", zorder=3)
    earliest = entry.get("earliest")
    if earliest:
        ax.axvline(earliest["hours"], color=style.OKABE_ITO["vermillion"], ls="--", lw=0.9,
                   label=f"earliest distinguishable: {earliest['label']}")
    if not wins and not len(pts):
        style.empty_note(ax)
    ax.set_xlim(0.4, 1200)
    ax.set_xticks([1, 4, 24, 72, 168, 336, 672])
    ax.set_xticklabels(["1 h", "4 h", "24 h", "3 d", "7 d", "14 d", "28 d"])
    ax.set_xlabel("Time since first dose (hours, log scale)")
    ax.set_ylabel(style.measure_label(measure))
    ax.set_title(f"{aid}: pooled effect by time since dose", loc="left")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=7)


def _ok(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)
