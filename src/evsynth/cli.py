"""evsynth command line: PubMed retrieval, records parsing and extraction checks.

Each subcommand lives in the module that does the work; this file only wires them up.
A subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "fetch": ("evsynth.pubmed.cli", "search PubMed and fetch MEDLINE XML (E-utilities)"),
    "parse": ("evsynth.records", "parse MEDLINE XML / .nbib / RIS exports into a records table"),
    "validate": ("evsynth.extraction.validate", "check the extraction tables against schema and rules"),
    "update": ("evsynth.update", "re-run the live PubMed search, keep its dated history, write the screening queue"),
    "snapshot-refresh": ("evsynth.snapshot", "refresh the shipped PubMed snapshot from the latest live search"),
    "run": ("evsynth.runner", "run the pipeline (Snakemake) quietly; one line per failure; recovers killed runs"),
}


def build_parser() -> argparse.ArgumentParser:
    from evsynth import __version__

    parser = argparse.ArgumentParser(prog="evsynth", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"evsynth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
