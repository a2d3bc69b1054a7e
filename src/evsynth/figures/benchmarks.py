"""Published pooled estimates beside ours: one row per published estimate at one of our time windows.

Panels by effect measure (SMD, MD, then ratios on a log axis): the published estimate and its
interval (orange square) and, just below it, our primary pooled estimate for the same comparison,
outcome, window and measure with our interval (black circle). Rows without a pooled estimate of
ours show the published one alone; the report lists why. Intervals running past the drawn range
end in an arrow head at the edge. Colours are from the Okabe–Ito palette (see :mod:`.style`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from evsynth.figures import style

THEIRS = style.OKABE_ITO["orange"]
OURS = style.OKABE_ITO["black"]
ORDER = ["SMD", "MD", "RD", "RR", "OR", "HR"]
#: Drawn range per measure, so that one very wide interval does not flatten the others.
LIMITS = {"SMD": (-3.0, 3.0), "MD": (-20.0, 20.0), "RD": (-1.0, 1.0), "RR": (0.05, 50.0), "OR": (0.05, 50.0),
          "HR": (0.05, 50.0)}
ROW = 0.34  # inches per published row


def _f(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def _label(r) -> str:
    control = r.comparison.split("_vs_", 1)[1].replace("_", " ") if "_vs_" in r.comparison else ""
    drug = "ketamine or esketamine" if r.drug == "any" else r.drug
    return f"{r.review}: {r.outcome.replace('_', ' ')}, {r.window} ({drug} vs {control})"


def _interval(ax, y, est, lb, ub, lo, hi, colour, marker, label):
    if not math.isfinite(est):
        return
    ax.plot([est], [y], marker=marker, color=colour, ms=5, ls="none", label=label, zorder=3)
    if math.isfinite(lb) and math.isfinite(ub):
        a, b = max(lb, lo), min(ub, hi)
        ax.plot([a, b], [y, y], color=colour, lw=1.2, zorder=2)
        if lb < lo:
            ax.plot([lo], [y], marker="<", color=colour, ms=4, zorder=2)
        if ub > hi:
            ax.plot([hi], [y], marker=">", color=colour, ms=4, zorder=2)


def _limits(d: pd.DataFrame, measure: str) -> tuple[float, float]:
    vals = [v for c in ("published", "published_ci_lb", "published_ci_ub", "ours", "our_ci_lb", "our_ci_ub")
            for v in d[c].map(_f) if math.isfinite(v)]
    null = 1.0 if style.is_ratio(measure) else 0.0
    cap_lo, cap_hi = LIMITS.get(measure, (-math.inf, math.inf))
    lo, hi = max(min(vals + [null]), cap_lo), min(max(vals + [null]), cap_hi)
    if style.is_ratio(measure):
        pad = 0.08 * max(math.log(hi) - math.log(lo), 0.2)
        return math.exp(math.log(lo) - pad), math.exp(math.log(hi) + pad)
    pad = 0.08 * max(hi - lo, 0.2)
    return lo - pad, hi + pad


def benchmarks_figure(comparison: pd.DataFrame, level: float = 95.0) -> Figure:
    """Draw the side-by-side figure from :func:`evsynth.analyses.benchmarks.compare`'s table."""
    rows = comparison[comparison.window.astype(str).str.strip() != ""]
    measures = [m for m in ORDER if (rows.measure == m).any()]
    heights = [max(int((rows.measure == m).sum()), 1) for m in measures] or [1]
    with style.styled():
        fig = style.new_figure(9.0, 0.9 + ROW * sum(heights) + 0.7 * len(heights))
        if not measures:
            ax = fig.add_axes((0.05, 0.1, 0.9, 0.8))
            ax.set_axis_off()
            style.empty_note(ax, "no published estimate at one of our time windows")
            return fig
        gs = fig.add_gridspec(len(measures), 1, height_ratios=heights, left=0.45, right=0.97,
                              top=1 - 0.45 / fig.get_figheight(), bottom=0.75 / fig.get_figheight(), hspace=0.75)
        seen = set()
        for i, m in enumerate(measures):
            ax = fig.add_subplot(gs[i, 0])
            d = rows[rows.measure == m].reset_index(drop=True)
            lo, hi = _limits(d, m)
            null = 1.0 if style.is_ratio(m) else 0.0
            for j, r in d.iterrows():
                y = len(d) - 1 - j
                lab_t = None if "theirs" in seen else "published (their CI)"
                _interval(ax, y + 0.15, _f(r.published), _f(r.published_ci_lb), _f(r.published_ci_ub), lo, hi,
                          THEIRS, "s", lab_t)
                if lab_t and math.isfinite(_f(r.published)):
                    seen.add("theirs")
                lab_o = None if "ours" in seen else f"ours ({level:g}% CI)"
                _interval(ax, y - 0.15, _f(r.ours), _f(r.our_ci_lb), _f(r.our_ci_ub), lo, hi, OURS, "o", lab_o)
                if lab_o and math.isfinite(_f(r.ours)):
                    seen.add("ours")
                if not math.isfinite(_f(r.ours)):
                    ax.text(hi, y - 0.15, "ours: none ", ha="right", va="center", fontsize=6.5, color=style.GREY)
            ax.axvline(null, color=style.GREY, lw=0.8, zorder=0)
            if style.is_ratio(m):
                ax.set_xscale("log")
                style.plain_log_axis(ax, "x")
            ax.set_xlim(lo, hi)
            ax.set_ylim(-0.7, len(d) - 0.3)
            ax.set_yticks(range(len(d)))
            ax.set_yticklabels([_label(r) for _, r in d.iloc[::-1].iterrows()], fontsize=7)
            ax.set_xlabel(style.measure_label(m), fontsize=8)
        handles, labels = [], []
        for ax in fig.axes:
            h, lab = ax.get_legend_handles_labels()
            handles += h
            labels += lab
        if handles:
            fig.legend(handles, labels, loc="upper right", ncol=2, fontsize=7, frameon=False)
        fig.text(0.01, 1 - 0.2 / fig.get_figheight(), "Published meta-analyses beside ours", fontsize=10,
                 va="top", ha="left")
    return fig


def render(comparison: pd.DataFrame, out_dir: str | Path, level: float = 95.0) -> list[Path]:
    """Write ``benchmarks.svg`` and ``benchmarks.png`` to ``out_dir`` (deterministic bytes); return both paths."""
    return style.save(benchmarks_figure(comparison, level), Path(out_dir) / "benchmarks")
