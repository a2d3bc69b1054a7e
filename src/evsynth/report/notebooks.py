"""Execute a notebook headless (nbclient) and render it to HTML (nbconvert).

Notebooks run with the project root as working directory, so they read ``data/processed`` by
relative path. Timing metadata is not recorded, so the HTML depends only on the inputs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from evsynth.io import write_text


def execute_notebook(path: Path, cwd: Path | None = None, timeout: int = 300) -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path``; raise on the first failing cell."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(cwd or Path.cwd())}})
    client.execute()
    return nb


def render_notebook(path: Path, out: Path, cwd: Path | None = None) -> None:
    """Execute the notebook and write it as HTML to ``out`` (atomically)."""
    nb = execute_notebook(Path(path), cwd)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    write_text(out, body)
