"""The self-contained HTML summary report (``results/report.html``).

One file with every figure inline (SVG), built only from the pipeline's derived tables in
``data/processed`` and the figures in ``results/figures``, so it is byte-identical for the same
inputs: it records the snapshot or retrieval date and the software versions, never the time it
was built.
"""

from __future__ import annotations

import html
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from evsynth import __version__
from evsynth.analyses.options import AnalysisOptions
from evsynth.io import write_text
from evsynth.processed import read_document, read_table
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


#: registered processed tables and documents the report reads (name -> key in the report's data)
TABLES = ["screening", "studies", "study_status", "pooled", "pooled_studies", "side_effects", "side_effects_other",
          "summary_of_findings", "small_study_tests", "effects_not_computed", "effects", "benchmarks",
          "multiverse"]
DOCUMENTS = ["search", "prisma", "onset_timecourse", "duration_timecourse", "multiverse_summary"]
KEYS = {"pooled_studies": "weights", "summary_of_findings": "sof", "small_study_tests": "bias",
        "effects_not_computed": "not_computed", "onset_timecourse": "onset",
        "duration_timecourse": "duration"}


def build_report(paths: Mapping[str, str | Path], figures: Path, config: dict, plan: AnalysisOptions,
                 out: Path) -> None:
    """Write the report to ``out`` (atomically).

    Parameters
    ----------
    paths : mapping
        Registered name -> file for every entry of :data:`TABLES` and :data:`DOCUMENTS`; each is
        checked against its registered layout when read.
    figures : Path
        The folder holding the figures (``forest/`` inside it).
    config : dict
        The validated configuration (search settings and report title).
    plan : AnalysisOptions
        The analysis plan (estimator, test, confidence level, analyses).
    """
    data = {KEYS.get(n, n): read_table(n, paths[n]) for n in TABLES}
    data |= {KEYS.get(n, n): read_document(n, paths[n]) for n in DOCUMENTS}
    data |= {"config": config, "plan": plan, "versions": software_versions(), "figures": Path(figures)}
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
