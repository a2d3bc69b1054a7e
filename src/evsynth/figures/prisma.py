"""PRISMA 2020 flow diagram (Page MJ et al. BMJ 2021;372:n71) drawn from ``prisma.json``."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from evsynth.figures import style


def _reasons(d: dict) -> str:
    return "\n".join(f"  {k.replace('_', ' ')}: {v}" for k, v in sorted(d.items())) or "  none"


def _box(ax, x, y, w, h, text, edge) -> tuple:
    ax.add_patch(FancyBboxPatch((x, y - h / 2), w, h, boxstyle="round,pad=0.008", fc="white", ec=edge, lw=1))
    ax.text(x + 0.01, y, text, va="center", ha="left", fontsize=7)
    return (x, y, w, h)


def _arrow(ax, a, b) -> None:
    xa, ya, wa, ha = a
    xb, yb, wb, hb = b
    if abs(ya - yb) < 1e-9:  # side by side: right edge to left edge
        start, end = (xa + wa, ya), (xb, yb)
    else:  # down: bottom centre to top centre
        start, end = (xa + wa / 2, ya - ha / 2), (xb + wb / 2, yb + hb / 2)
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, color="#333333", lw=1))


def prisma_figure(p: dict) -> Figure:
    """The PRISMA 2020 flow: search (left), exclusions (middle), other methods (right).

    Records awaiting a screening decision have their own box; studies found outside the search
    enter the included box from the "other methods" column with their identifiers; studies
    included but not yet extracted are counted in the included box.
    """
    identified = ", ".join(f"{k}: {v}" for k, v in sorted((p.get("identified") or {}).items()))
    other = p.get("other_methods_studies") or []
    idents = p.get("other_methods_identifiers") or {}
    awaiting_extraction = p.get("awaiting_extraction") or []
    via_search = p.get("included_studies")
    total = p.get("included_studies_total", via_search)
    blue, grey, orange = style.OKABE_ITO["blue"], style.GREY, style.OKABE_ITO["orange"]
    other_text = "\n".join(f"  {sid} ({idents.get(sid, '')})" for sid in other[:8])
    if len(other) > 8:
        other_text += f"\n  ... and {len(other) - 8} more"
    with style.styled():
        fig = style.new_figure(9.5, 7.0)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        w = 0.30
        ident = _box(ax, 0.06, 0.87, w, 0.09, f"Records identified by the search\n(n = {p.get('identified_total')})\n"
                     f"{identified}", blue)
        dups = _box(ax, 0.39, 0.87, 0.26, 0.07, f"Duplicates removed (n = {p.get('duplicates_removed')})", grey)
        screened = _box(ax, 0.06, 0.67, w, 0.07, f"Records screened (n = {p.get('screened')})", blue)
        excl = _box(ax, 0.39, 0.67, 0.26, 0.13, f"Records excluded (n = {p.get('excluded_screening')})\n"
                    f"{_reasons(p.get('excluded_screening_reasons') or {})}", grey)
        assessed = _box(ax, 0.06, 0.44, w, 0.07,
                        f"Reports assessed for eligibility\n(n = {p.get('assessed_eligibility')})", blue)
        excl2 = _box(ax, 0.39, 0.44, 0.26, 0.11, f"Reports excluded (n = {p.get('excluded_eligibility')})\n"
                     f"{_reasons(p.get('excluded_eligibility_reasons') or {})}", grey)
        waiting = p.get("awaiting_assessment", 0) or 0
        await_box = _box(ax, 0.39, 0.30, 0.26, 0.07, f"Awaiting classification (n = {waiting})\n"
                         "no screening decision yet", orange if waiting else grey)
        included = _box(ax, 0.06, 0.14, w, 0.13,
                         f"Studies included in review (n = {total})\n  via the search: {via_search}\n"
                         f"  via other methods: {len(other)}\n  reports of included studies: "
                         f"{p.get('included_reports')}\n  included, awaiting extraction: {len(awaiting_extraction)}",
                         blue)
        others = _box(ax, 0.68, 0.87, 0.31, 0.09, "Identification via other methods\n(journal pages, decisions\n"
                      "whose record the search did not return)", grey)
        others_inc = _box(ax, 0.68, 0.60, 0.31, 0.06 + 0.025 * max(len(other[:8]), 1),
                          f"Studies found outside the search (n = {len(other)})\n{other_text or '  none'}", grey)
        for a, b in ((ident, dups), (ident, screened), (screened, excl), (screened, assessed), (assessed, excl2),
                     (assessed, included), (assessed, await_box), (others, others_inc)):
            _arrow(ax, a, b)
        xo, yo, wo, ho = others_inc
        xi, yi, wi, hi = included
        ax.add_patch(FancyArrowPatch((xo + wo / 2, yo - ho / 2), (xi + wi, yi), arrowstyle="-|>",
                                     mutation_scale=10, color="#333333", lw=1, connectionstyle="angle,angleA=-90,angleB=0"))
        for label, y in (("Identification", 0.87), ("Screening", 0.56), ("Included", 0.14)):
            ax.text(0.02, y, label, rotation=90, va="center", ha="center", fontsize=8, color=blue)
        ax.text(0.5, 0.985, "PRISMA 2020 flow diagram", ha="center", va="top", fontsize=10)
    return fig
