"""Funnel plot with Egger's test (metafor ``funnel`` and ``regtest``).

Study estimates against their standard errors (inverted axis), the pooled estimate and the
pseudo 95% confidence region ``estimate ± 1.96 SE`` (Sterne JAC et al. BMJ 2011;343:d4002); drawn
only where k >= 10 (the pipeline's ``min_k_funnel``). Egger's test result is printed on the plot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evsynth.figures import style


def funnel_plot(rows: pd.DataFrame, pooled: pd.Series, egger: pd.Series | None) -> Figure:
    se = np.sqrt(rows.vi.to_numpy(float))
    yi = rows.yi.to_numpy(float)
    beta = float(pooled["beta"])
    with style.styled():
        fig = style.new_figure(5.5, 4.2)
        ax = fig.add_axes((0.14, 0.14, 0.82, 0.74))
        top = max(se.max() * 1.1, 1e-6)
        s = np.linspace(0, top, 50)
        ax.fill_betweenx(s, beta - 1.959964 * s, beta + 1.959964 * s, color=style.LIGHT_GREY, alpha=0.6, lw=0)
        ax.axvline(beta, color=style.OKABE_ITO["blue"], lw=1)
        ax.scatter(yi, se, s=18, color=style.OKABE_ITO["black"], zorder=3)
        ax.set_ylim(top, 0)
        measure = str(pooled.get("measure", ""))
        ax.set_xlabel(("log " if style.is_ratio(measure) else "") + style.measure_label(measure).split(" (")[0]
                      + (" (model scale)" if style.is_ratio(measure) else ""))
        ax.set_ylabel("Standard error")
        note = "Egger's test: not run" if egger is None else (
            f"Egger's test: z = {style.fmt_num(egger['egger_z'])}, p = {style.fmt_p(egger['egger_p'])}")
        ax.set_title(f"{pooled.get('analysis_id', '')}, {pooled.get('window_label', '')}: {note}", loc="left",
                     fontsize=8)
    return fig
