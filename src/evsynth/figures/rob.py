"""Risk-of-bias summary: share of studies judged low / some concerns / high per RoB 2 domain.

Stacked horizontal bars (Cochrane's robvis layout; McGuinness LA, Higgins JPT. Res Synth Methods
2021;12:55), unweighted, with a "not assessed" segment for blank judgements.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from evsynth.figures import style

DOMAINS = [("rob_randomization", "Randomization process"), ("rob_deviations", "Deviations from interventions"),
           ("rob_missing", "Missing outcome data"), ("rob_measurement", "Measurement of the outcome"),
           ("rob_selection", "Selection of the reported result"), ("rob_overall", "Overall")]
LEVELS = [("low", "Low", style.OKABE_ITO["bluish_green"]), ("some_concerns", "Some concerns", style.OKABE_ITO["yellow"]),
          ("high", "High", style.OKABE_ITO["vermillion"]), ("", "Not assessed", style.LIGHT_GREY)]


def rob_figure(studies: pd.DataFrame) -> Figure:
    n = len(studies)
    with style.styled():
        fig = style.new_figure(8.0, 3.0)
        ax = fig.add_axes((0.30, 0.22, 0.66, 0.68))
        for i, (col, label) in enumerate(reversed(DOMAINS)):
            values = studies[col].fillna("") if col in studies else pd.Series([""] * n)
            left = 0.0
            for key, name, colour in LEVELS:
                share = 100 * (values == key).sum() / n if n else 0
                ax.barh(i, share, left=left, color=colour, edgecolor="white", label=name if i == 0 else None)
                left += share
        ax.set_yticks(range(len(DOMAINS)))
        ax.set_yticklabels([label for _, label in reversed(DOMAINS)])
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"Studies (%, n = {n})")
        ax.set_title("Risk of bias (RoB 2), share of studies per judgement", loc="left")
        ax.legend(ncol=4, loc="upper center", bbox_to_anchor=(0.4, -0.18), fontsize=7)
        if not n:
            style.empty_note(ax, "no studies")
    return fig
