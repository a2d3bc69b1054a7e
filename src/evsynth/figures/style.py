"""Shared look of every figure: palette, fonts, axis labels, number formats, and deterministic saving.

Every figure is built on a bare :class:`matplotlib.figure.Figure` (Agg canvas, no pyplot state, no
windows) inside :func:`styled`, and written by :func:`save`, which fixes everything that would
otherwise make the bytes change from run to run: the SVG hash salt (element ids), the ``Date``
metadata of the SVG, the ``Software`` metadata of the PNG, the font (DejaVu Sans, bundled with
matplotlib) and the resolution.

The palette is Okabe & Ito's colour-universal-design set (Okabe M, Ito K. *Color Universal Design
(CUD): how to make figures and presentations that are friendly to colorblind people*, 2008),
which stays distinguishable under the common forms of colour-vision deficiency.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evsynth.io import atomic_path  # noqa: E402

#: Okabe–Ito colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
GREY = "#999999"
LIGHT_GREY = "#DDDDDD"

#: Fixed colour per drug, so ketamine and esketamine look the same in every figure.
DRUG_COLOURS = {
    "ketamine": OKABE_ITO["blue"],
    "esketamine": OKABE_ITO["vermillion"],
    "arketamine": OKABE_ITO["bluish_green"],
}
#: Colours for further series (regimens, strata, unknown drugs), in order.
SERIES_COLOURS = [OKABE_ITO[k] for k in ("blue", "vermillion", "bluish_green", "orange", "reddish_purple",
                                         "sky_blue", "black")]

DPI = 200
SVG_HASH_SALT = "evsynth"
FONT = "DejaVu Sans"

RC = {
    "backend": "Agg",
    "font.family": "sans-serif",
    "font.sans-serif": [FONT],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.unicode_minus": True,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "svg.hashsalt": SVG_HASH_SALT,
    "svg.fonttype": "none",  # real <text> elements: searchable, selectable, accessible
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "path.simplify": False,
    "image.interpolation": "nearest",
}

MINUS = "\u2212"

#: Axis label for each effect measure (natural scale).
MEASURE_LABELS = {
    "SMD": f"SMD (ketamine {MINUS} control)",
    "MD": f"Mean difference (ketamine {MINUS} control, scale points)",
    "RR": "Risk ratio (log scale)",
    "OR": "Odds ratio (log scale)",
    "HR": "Hazard ratio (log scale)",
    "RD": f"Risk difference (ketamine {MINUS} control)",
}
RATIO_MEASURES = {"RR", "OR", "HR"}

#: Which side of the null favours which arm, by (outcome, measure); see DESIGN.md "Direction".
DIRECTION = {
    ("depression", "SMD"): ("favours ketamine", "favours control"),
    ("depression", "MD"): ("favours ketamine", "favours control"),
    ("response", "RR"): ("favours control", "favours ketamine"),
    ("remission", "RR"): ("favours control", "favours ketamine"),
    ("relapse", "HR"): ("favours ketamine", "favours control"),
}
ADVERSE_DIRECTION = ("fewer events on ketamine", "more events on ketamine")


def measure_label(measure: str) -> str:
    """Axis label, with units or scale, for an effect measure."""
    return MEASURE_LABELS.get(str(measure), f"{measure} (ketamine vs control)")


def is_ratio(measure: str) -> bool:
    """True for measures pooled on the log scale and drawn on a log axis."""
    return str(measure) in RATIO_MEASURES


def direction(outcome: str, measure: str, question: str = "") -> tuple[str, str] | None:
    """(left, right) hints for the sides of the null line, or None when the direction is not known."""
    if question == "side_effects":
        return ADVERSE_DIRECTION if is_ratio(measure) else None
    return DIRECTION.get((str(outcome), str(measure)))


@contextlib.contextmanager
def styled():
    """Context in which figures are built and saved with the house rcParams."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A bare Agg-backed figure (inches); never attached to pyplot, never shown."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem.svg`` and ``stem.png`` atomically with deterministic bytes.

    Parameters
    ----------
    fig : Figure
        The figure to write.
    stem : Path
        Output path without suffix; parent folders are created.

    Returns
    -------
    list of Path
        The two written files, SVG first.
    """
    stem = Path(stem)
    out = []
    with styled():
        for fmt, metadata in (("svg", {"Date": None}), ("png", {"Software": None})):
            path = stem.with_name(stem.name + "." + fmt)
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI, metadata=metadata)
            out.append(path)
    return out


def fmt_num(x, digits: int = 2) -> str:
    """Fixed-decimal number with a typographic minus; blank-safe ("–" for missing)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "\u2013"
    text = f"{float(x):.{digits}f}"
    return text.replace("-", MINUS)


def fmt_ci(est, lb, ub, digits: int = 2) -> str:
    """``est [lb, ub]`` for a table column."""
    return f"{fmt_num(est, digits)} [{fmt_num(lb, digits)}, {fmt_num(ub, digits)}]"


def fmt_p(p) -> str:
    """p-value as usually reported: three decimals, ``< 0.001`` below that."""
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return "\u2013"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_count(x) -> str:
    """An integer count, or "–" when missing."""
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return "\u2013"
    return f"{int(round(xf))}" if math.isfinite(xf) else "\u2013"


def empty_note(ax, text: str = "no pooled estimate") -> None:
    """Write ``text`` in the middle of an axes that has nothing else to show."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=GREY, fontsize=10)


def series_colour(name: str, index: int) -> str:
    """Colour of a named series: the drug colour when it is a known drug, else the palette in order."""
    key = str(name).lower()
    return DRUG_COLOURS.get(key, SERIES_COLOURS[index % len(SERIES_COLOURS)])


def plain_log_axis(ax, axis: str = "x") -> None:
    """Log-scaled axis labelled with plain numbers (0.2, 0.5, 1, 2, 5 ...) instead of powers of ten."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ticks = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator(ticks))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    target.set_minor_locator(NullLocator())


def ci_label(level) -> str:
    """``"95% CI"`` for level 95: every interval label follows the plan's confidence level."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        value = float("nan")
    if value != value:  # a table without a level (nothing pooled): say CI without a number
        return "CI"
    return f"{value:g}% CI"
