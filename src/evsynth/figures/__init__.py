"""Figures: forest, funnel, onset, duration, side effects, PRISMA flow, risk of bias.

:func:`render_all` draws every figure from the pipeline's tables in ``data/processed`` and writes
SVG and PNG with deterministic bytes (:func:`evsynth.figures.style.save`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from evsynth.figures import style
from evsynth.figures.duration import duration_figure
from evsynth.figures.forest import forest_plot
from evsynth.figures.funnel import funnel_plot
from evsynth.figures.inputs import load_inputs
from evsynth.figures.onset import onset_figure
from evsynth.figures.prisma import prisma_figure
from evsynth.figures.rob import rob_figure
from evsynth.figures.side_effects import side_effects_figure

__all__ = ["render_all", "forest_plot", "funnel_plot", "onset_figure", "duration_figure", "side_effects_figure",
           "prisma_figure", "rob_figure"]


def render_all(paths: Mapping[str, str | Path], out_dir: Path, forest_dir: Path | None = None) -> list[Path]:
    """Draw every figure; return the written files (sorted).

    Writes ``onset``, ``duration``, ``side_effects``, ``prisma`` and ``risk_of_bias`` (always, with
    a note where nothing was pooled) in ``out_dir``, ``<analysis>__<window>`` for every overall
    primary pooled result and ``funnel__<analysis>__<window>`` where k >= 10 in ``forest_dir``
    (default ``out_dir/forest``). ``paths`` names the input tables (:func:`load_inputs`).
    """
    data = load_inputs(paths)
    out_dir = Path(out_dir)
    forest_dir = Path(forest_dir) if forest_dir is not None else out_dir / "forest"
    forest_dir.mkdir(parents=True, exist_ok=True)
    written = []
    written += style.save(onset_figure(data.onset, data.pooled_studies), out_dir / "onset")
    written += style.save(duration_figure(data.pooled, data.pooled_studies, data.duration), out_dir / "duration")
    written += style.save(side_effects_figure(data.side_effects), out_dir / "side_effects")
    written += style.save(prisma_figure(data.prisma), out_dir / "prisma")
    written += style.save(rob_figure(data.studies), out_dir / "risk_of_bias")
    primary = data.pooled[(data.pooled.variant == "primary") & (data.pooled.pooled == True)]  # noqa: E712
    for _, pooled in primary.iterrows():
        window = pooled["window"] or "all"
        rows = data.pooled_studies[(data.pooled_studies.analysis_id == pooled["analysis_id"])
                                   & (data.pooled_studies.window == pooled["window"])]
        stem = f"{pooled['analysis_id']}__{window}"
        written += style.save(forest_plot(rows, pooled), forest_dir / stem)
        if pooled["n_studies"] >= 10:
            tests = data.small_study[(data.small_study.analysis_id == pooled["analysis_id"])
                                     & (data.small_study.window == pooled["window"])]
            written += style.save(funnel_plot(rows, pooled, tests.iloc[0] if len(tests) else None),
                                  forest_dir / f"funnel__{stem}")
    return sorted(written)
