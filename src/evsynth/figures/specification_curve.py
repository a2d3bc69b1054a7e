"""Specification curve of a multiverse (Simonsohn, Simmons & Nelson 2020, Nat Hum Behav 4:1208).

One column per multiverse of an analysis (window, and split level when the plan splits): on top
every pooled specification's estimate, sorted, with its confidence interval as a grey band and the
primary specification (the plan's own choices) marked in orange; underneath the choice panel, one
line per factor level, marking which specifications use it. The panel is drawn as an image (one
pixel column per specification), so thousands of specifications stay a small, deterministic file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evsynth.analyses.multiverse import FACTORS
from evsynth.figures import style

MAX_COLUMNS = 4


def _factor_column(d: pd.DataFrame, name: str) -> pd.Series:
    if name == "omitted":
        return (d[name].astype(str) != "").map({False: "all studies", True: "some left out"})
    if name == "crossover_r":
        return d[name].map(lambda v: "" if pd.isna(v) else f"r = {float(v):g}")
    if name == "comparators":  # sets named by what they leave out of the largest one
        sets = {c: c.split("|") for c in d[name].astype(str).unique()}
        union = {x for members in sets.values() for x in members}
        return d[name].astype(str).map(lambda c: "all listed" if set(sets[c]) == union
                                       else "without " + ", ".join(sorted(union - set(sets[c]))))
    return d[name].astype(str)


def _level_rows(d: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(label, factor, level) for every level of every factor with two or more levels in ``d``."""
    rows = []
    for name in FACTORS:
        levels = sorted(_factor_column(d, name).unique())
        if len(levels) < 2:
            continue
        for lev in levels:
            short = lev if len(lev) <= 36 else lev[:34] + "…"
            rows.append((f"{name.replace('_', ' ')}: {short}", name, lev))
    return rows


def render(table: pd.DataFrame, analysis_id: str, out_dir: Path, level: float) -> list[Path]:
    """Write ``specification_curve_<analysis_id>.svg`` and ``.png`` (deterministic bytes).

    Parameters
    ----------
    table : DataFrame
        The ``multiverse`` table (any number of analyses; only ``analysis_id`` is drawn).
    level : float
        The plan's confidence level (labels follow it: :func:`evsynth.figures.style.ci_label`).
    """
    d_all = table[table.analysis_id == analysis_id]
    groups = [(key, g) for key, g in d_all.groupby(["window", "split"], sort=False)][:MAX_COLUMNS]
    n_cols = max(1, len(groups))
    rows = _level_rows(d_all[d_all.beta.notna()])  # the same choice rows in every column
    width = 4.6 * n_cols + 2.2
    with style.styled():
        fig = style.new_figure(width, 3.4 + 0.16 * len(rows))
        grid = fig.add_gridspec(2, n_cols, height_ratios=[3.0, max(1.0, 0.16 * len(rows))], hspace=0.08,
                                wspace=0.15, left=2.2 / width, right=0.98, top=0.9, bottom=0.08)
        if not groups:
            ax = fig.add_subplot(grid[0, 0])
            style.empty_note(ax, "no specification")
        for c, ((window, split), g) in enumerate(groups):
            _column(fig, grid, c, g, f"{window}" + ("" if split == "all" else f", {split}"), level, rows)
        fig.suptitle(f"Specification curve: {analysis_id}", fontsize=10)
        return style.save(fig, Path(out_dir) / f"specification_curve_{analysis_id}")


def _column(fig, grid, c: int, g: pd.DataFrame, title: str, level: float, rows: list) -> None:
    ax = fig.add_subplot(grid[0, c])
    panel = fig.add_subplot(grid[1, c], sharex=ax)
    d = g[g.beta.notna()].sort_values(["estimate", "spec"], kind="mergesort").reset_index(drop=True)
    measure = str(g.measure.iloc[0])
    if d.empty:
        style.empty_note(ax, "no pooled specification")
        panel.set_axis_off()
        return
    x = np.arange(len(d))
    many = len(d) > 300  # thousands of points: drawn as an embedded image, so the SVG stays small
    ax.fill_between(x, d.ci_lb, d.ci_ub, step="mid", color=style.LIGHT_GREY, lw=0,
                    label=style.ci_label(level), rasterized=many)
    ax.plot(x, d.estimate, color=style.OKABE_ITO["blue"], lw=1.2, label="estimate", rasterized=many)
    null = 1.0 if style.is_ratio(measure) else 0.0
    ax.axhline(null, color=style.GREY, lw=0.8, ls="--")
    prim = np.flatnonzero(d.primary.astype(bool).to_numpy())
    if prim.size:
        p = prim[0]
        ax.errorbar([x[p]], [d.estimate[p]], yerr=[[d.estimate[p] - d.ci_lb[p]], [d.ci_ub[p] - d.estimate[p]]],
                    fmt="o", color=style.OKABE_ITO["orange"], ms=5, lw=1.2, zorder=4, label="primary specification")
    if style.is_ratio(measure):
        ax.set_yscale("log")
        style.plain_log_axis(ax, "y")
    ax.set_ylabel(style.measure_label(measure) if c == 0 else "")
    ax.set_title(f"{title} ({len(d):,} specifications)")
    ax.tick_params(labelbottom=False)
    if c == 0:
        ax.legend(loc="best")
    img = (np.array([(_factor_column(d, name) == lev).to_numpy() for _, name, lev in rows], dtype=float)
           if rows else np.zeros((1, len(d))))
    panel.imshow(img, aspect="auto", cmap="Greys", vmin=0, vmax=1.6, interpolation="none",
                 extent=(-0.5, len(d) - 0.5, len(rows) - 0.5, -0.5))
    panel.set_yticks(range(len(rows)))
    panel.tick_params(axis="y", length=0)
    panel.set_yticklabels([lab for lab, _, _ in rows] if c == 0 else [""] * len(rows), fontsize=6)
    panel.set_xlabel("specification (sorted by estimate)")
    if prim.size:
        panel.axvline(prim[0], color=style.OKABE_ITO["orange"], lw=0.8)
