"""PRISMA 2020 flow diagram (Page MJ et al. BMJ 2021;372:n71) drawn from ``prisma.json``."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from evsynth.figures import style


def _reasons(d: dict) -> str:
    return "\n".join(f"  {k.replace('_', ' ')}: {v}" for k, v in sorted(d.items())) or "  none"


def prisma_figure(p: dict) -> Figure:
    identified = ", ".join(f"{k}: {v}" for k, v in sorted((p.get("identified") or {}).items()))
    other = p.get("other_methods_studies") or []
    boxes = [
        ("Identification", f"Records identified (n = {p.get('identified_total')})\n{identified}", 0.88),
        ("", f"Duplicates removed (n = {p.get('duplicates_removed')})", 0.88),
        ("Screening", f"Records screened (n = {p.get('screened')})", 0.66),
        ("", f"Records excluded (n = {p.get('excluded_screening')})\n"
             f"{_reasons(p.get('excluded_screening_reasons') or {})}", 0.66),
        ("", f"Reports assessed for eligibility (n = {p.get('assessed_eligibility')})", 0.44),
        ("", f"Reports excluded (n = {p.get('excluded_eligibility')})\n"
             f"{_reasons(p.get('excluded_eligibility_reasons') or {})}\n"
             f"Awaiting assessment: {p.get('awaiting_assessment', 0)}", 0.44),
        ("Included", f"Studies included (n = {p.get('included_studies_total', p.get('included_studies'))})\n"
                     f"reports of included studies: {p.get('included_reports')}\n"
                     f"identified via other methods (DOI): {len(other)}", 0.16),
    ]
    with style.styled():
        fig = style.new_figure(8.0, 6.5)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        positions = {}
        for i, (stage, text, y) in enumerate(boxes):
            left = i in (0, 2, 4, 6)
            x = 0.08 if left else 0.56
            w = 0.40
            h = 0.15 if i in (3, 5) else 0.10
            ax.add_patch(FancyBboxPatch((x, y - h / 2), w, h, boxstyle="round,pad=0.008", fc="white",
                                        ec=style.OKABE_ITO["blue"] if left else style.GREY, lw=1))
            ax.text(x + 0.01, y, text, va="center", ha="left", fontsize=7.5)
            if stage:
                ax.text(0.02, y, stage, rotation=90, va="center", ha="center", fontsize=8,
                        color=style.OKABE_ITO["blue"])
            positions[i] = (x, y, w, h)
        for a, b in ((0, 2), (2, 4), (4, 6), (0, 1), (2, 3), (4, 5)):
            xa, ya, wa, ha = positions[a]
            xb, yb, wb, hb = positions[b]
            if xb > xa:
                start, end = (xa + wa, ya), (xb, yb)
            else:
                start, end = (xa + wa / 2, ya - ha / 2), (xb + wb / 2, yb + hb / 2)
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, color="#333333", lw=1))
        ax.text(0.5, 0.985, "PRISMA 2020 flow diagram", ha="center", va="top", fontsize=10)
    return fig
