"""Duration figure: the tail of the time course after the last dose by regimen, and relapse hazard ratios.

Left: pooled effect at 24 h, day 3, 7, 14 and 28 after the last dose (single doses: after the
dose), one line per regimen subgroup where pooled, otherwise the overall result. Right: relapse
hazard ratios per trial and stratum (e.g. SUSTAIN-1's stable remitters and stable responders,
kept apart) with their confidence intervals (at the plan's level), on a log axis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evsynth.figures import style


def duration_figure(pooled: pd.DataFrame, studies: pd.DataFrame) -> Figure:
    with style.styled():
        fig = style.new_figure(10.0, 3.6)
        left = fig.add_axes((0.07, 0.18, 0.52, 0.70))
        right = fig.add_axes((0.72, 0.18, 0.26, 0.70))
        _tail(left, pooled[pooled.question == "duration"])
        _relapse(right, studies[studies.analysis_id.isin(
            pooled.loc[(pooled.question == "duration") & (pooled.measure == "HR"), "analysis_id"].unique())])
    return fig


def _tail(ax, pooled: pd.DataFrame) -> None:
    cont = pooled[(pooled.measure != "HR") & (pooled.pooled == True)]  # noqa: E712
    sub = cont[(cont.variant == "subgroup") & (cont.subgroup_var == "regimen")]
    series = ({f"regimen: {k}": g for k, g in sub.groupby("subgroup_level", sort=True)} if len(sub)
              else {"all regimens": cont[cont.variant == "primary"]})
    ax.set_xscale("log")
    drawn = False
    for j, (name, g) in enumerate(series.items()):
        g = g.sort_values("hours_nominal")
        if g.empty:
            continue
        c = style.series_colour(name, j)
        ax.errorbar(g.hours_nominal * (1 + 0.04 * j), g.estimate, yerr=[g.estimate - g.ci_lb, g.ci_ub - g.estimate],
                    color=c, marker="o", ms=4, capsize=2, lw=1, label=name)
        drawn = True
    ax.axhline(0, color=style.GREY, lw=0.8, zorder=0)
    if not drawn:
        style.empty_note(ax, "no pooled estimate after the last dose")
    ax.set_xlim(12, 1200)
    ax.set_xticks([24, 72, 168, 336, 672])
    ax.set_xticklabels(["24 h", "3 d", "7 d", "14 d", "28 d"])
    ax.set_xlabel("Time since last dose (hours, log scale)")
    measure = cont.measure.iloc[0] if len(cont) else "SMD"
    ax.set_ylabel(style.measure_label(measure))
    ax.set_title("Effect after the last dose, by regimen", loc="left")
    if drawn:
        ax.legend(fontsize=7)


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
        ax.set_yticklabels(rows.label, fontsize=7)
        ax.set_ylim(0.3, len(rows) + 0.7)
    style.plain_log_axis(ax, "x")
    level = rows.level.iloc[0] if len(rows) and "level" in rows else None
    ax.set_xlabel(f"Relapse hazard ratio ({style.ci_label(level)}, log scale)")
    ax.set_title("Relapse after response/remission", loc="left")
