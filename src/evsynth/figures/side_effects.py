"""Side-effect figure: dot-and-whisker of pooled incidence per adverse-event term, and RR vs control.

Terms are sorted by pooled incidence; ketamine and esketamine are drawn apart (offset rows, their
own colours). Only pooled terms are drawn; terms listed but not pooled are in the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evsynth.figures import style


def side_effects_figure(side: pd.DataFrame) -> Figure:
    pooled = side[(side.pooled == True) & side.incidence.notna()]  # noqa: E712
    order = (pooled.groupby("event").incidence.max().sort_values(ascending=True).index.tolist())
    drugs = sorted(pooled.drug.unique())
    with style.styled():
        fig = style.new_figure(9.0, 1.4 + 0.28 * max(len(order), 3))
        inc = fig.add_axes((0.24, 0.62 / fig.get_figheight(), 0.36, 1 - 1.1 / fig.get_figheight()))
        rr = fig.add_axes((0.66, 0.62 / fig.get_figheight(), 0.31, 1 - 1.1 / fig.get_figheight()), sharey=inc)
        if not order:
            style.empty_note(inc)
            style.empty_note(rr)
        y_of = {e: i for i, e in enumerate(order)}
        for j, drug in enumerate(drugs):
            d = pooled[pooled.drug == drug]
            y = np.array([y_of[e] for e in d.event]) + (j - (len(drugs) - 1) / 2) * 0.25
            c = style.series_colour(drug, j)
            inc.errorbar(100 * d.incidence, y, xerr=[100 * (d.incidence - d.incidence_ci_lb),
                                                      100 * (d.incidence_ci_ub - d.incidence)],
                         fmt="o", color=c, ms=4, capsize=2, lw=1, label=drug)
            r = d[d.rr.notna()]
            yr = np.array([y_of[e] for e in r.event]) + (j - (len(drugs) - 1) / 2) * 0.25
            rr.errorbar(r.rr, yr, xerr=[r.rr - r.rr_ci_lb, r.rr_ci_ub - r.rr], fmt="s", color=c, ms=4, capsize=2,
                        lw=1, label=drug)
        inc.set_yticks(range(len(order)))
        inc.set_yticklabels([e.replace("_", " ") for e in order])
        inc.set_xlabel(f"Incidence in drug arms (%, {style.ci_label(side.level.iloc[0] if len(side) else None)})")
        inc.set_xlim(left=0)
        rr.set_xscale("log")
        style.plain_log_axis(rr, "x")
        rr.axvline(1, color=style.GREY, lw=0.8, zorder=0)
        rr.set_xlabel("Risk ratio vs control (log scale)")
        rr.tick_params(labelleft=False)
        inc.set_title("Pooled incidence", loc="left")
        rr.set_title("Risk ratio (> 1: more events on drug)", loc="left")
        if drugs:
            inc.legend(loc="lower right", fontsize=7)
    return fig
