"""The self-contained HTML summary report (``results/report.html``).

One file with every figure inline (SVG), built only from the pipeline's derived tables in
``data/processed`` and the figures in ``results/figures``, so it is byte-identical for the same
inputs: it records the snapshot or retrieval date and the software versions, never the time it
was built.
"""

from __future__ import annotations

import html
import platform
from importlib import metadata
from pathlib import Path

import pandas as pd

from evsynth import __version__
from evsynth.io import read_json, write_text
from evsynth.report import sections

PACKAGES = ["numpy", "scipy", "pandas", "matplotlib", "snakemake", "lxml", "statsmodels"]


def software_versions() -> dict[str, str]:
    """Versions of evsynth, Python and the packages the numbers depend on."""
    versions = {"evsynth": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _read(processed: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(processed / name, keep_default_na=False, na_values=[""])


def build_report(processed: Path, figures: Path, config: dict, out: Path) -> None:
    """Write the report to ``out`` (atomically)."""
    processed, figures = Path(processed), Path(figures)
    data = {
        "search": read_json(processed / "search.json"),
        "prisma": read_json(processed / "prisma.json"),
        "onset": read_json(processed / "onset_timecourse.json"),
        "screening": _read(processed, "screening.csv"),
        "studies": _read(processed, "studies.csv"),
        "pooled": _read(processed, "pooled.csv"),
        "weights": _read(processed, "pooled_studies.csv"),
        "side_effects": _read(processed, "side_effects.csv"),
        "sof": _read(processed, "summary_of_findings.csv"),
        "bias": _read(processed, "small_study_tests.csv"),
        "not_computed": _read(processed, "effects_not_computed.csv"),
        "effects": _read(processed, "effects.csv"),
        "config": config,
        "versions": software_versions(),
        "figures": figures,
    }
    title = config.get("report", {}).get("title", "evsynth report")
    body = "\n".join(section(data) for section in sections.SECTIONS)
    page = TEMPLATE.format(title=html.escape(title), css=CSS, body=body)
    write_text(out, page)


CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em;border-bottom:2px solid #0072B2;padding-bottom:.3em}
h2{font-size:1.35em;margin-top:2em;color:#0072B2}
h3{font-size:1.1em}
table{border-collapse:collapse;margin:1em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}
figure svg{max-width:100%;height:auto}
figcaption{font-size:.9em;color:#444}
.note{background:#fff8e1;border-left:4px solid #E69F00;padding:.5em 1em}
.key{background:#e8f4fb;border-left:4px solid #0072B2;padding:.5em 1em;font-size:1.05em}
details{margin:.5em 0}
.scroll{overflow-x:auto}
code{background:#f4f4f4;padding:0 .2em}
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""
