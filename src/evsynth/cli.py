"""evsynth command line: every subcommand's arguments and its one-line error reporting, in one place.

The work itself is done by the modules named in each subcommand's docstring; this file only turns
command-line arguments into their calls and their failures into one line on standard error (no
traceback for expected failures, :class:`evsynth.errors.EvsynthError`).

    evsynth fetch             search PubMed and fetch MEDLINE XML (evsynth.pubmed.retrieve)
    evsynth parse             MEDLINE XML / .nbib / RIS exports -> a records table (evsynth.records)
    evsynth validate          extraction tables against schema and rules (evsynth.extraction.validate)
    evsynth update            re-run the live search, keep its history, write the screening queue (evsynth.update)
    evsynth snapshot-refresh  refresh the shipped snapshot from the latest live search (evsynth.snapshot)
    evsynth snapshot-build    build the snapshot from bibliography.csv (evsynth.snapshot)
    evsynth run               run the pipeline quietly, one line per failure (evsynth.runner)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from evsynth.errors import EvsynthError, one_line


def _failed(command: str, exc: BaseException, config: str, suffix: str = "") -> int:
    """Print an expected failure as one line per problem (at most 20) and return exit status 1.

    Config errors are :class:`~evsynth.errors.EvsynthError` and name their key; a YAML or value error
    raised while reading the config is named by the config file.
    """
    lines = one_line(exc) if isinstance(exc, (EvsynthError, OSError)) else [f"{config}: {' '.join(str(exc).split())}"]
    for line in lines[:20]:
        print(f"evsynth {command}: error: {line}{suffix}", file=sys.stderr)
    return 1


# ------------------------------------------------------------------------------------- fetch
def _fetch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evsynth fetch`` options to ``parser``."""
    parser.add_argument("--query", required=True, help="PubMed query")
    parser.add_argument("--out", required=True, help="output directory (search.json + batch_*.xml)")
    parser.add_argument("--eutils-url", default=None,
                        help="E-utilities base URL (default: $EVSYNTH_EUTILS_URL or NCBI's)")
    parser.add_argument("--batch-size", type=int, default=200, help="PMIDs per EFetch batch (default 200)")
    parser.add_argument("--mindate", default=None, help="YYYY/MM/DD (with --maxdate)")
    parser.add_argument("--maxdate", default=None, help="YYYY/MM/DD (with --mindate)")
    parser.add_argument("--datetype", default="pdat", help="date field for --mindate/--maxdate (default pdat)")
    parser.add_argument("--email", default=None, help="contact e-mail sent to NCBI")
    parser.add_argument("--max-retries", type=int, default=5, help="retries per request (default 5)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    parser.add_argument("--backoff-base", type=float, default=1.0, help="first backoff delay, seconds")
    parser.add_argument("--backoff-max", type=float, default=60.0, help="longest backoff delay, seconds")


def _fetch(args: argparse.Namespace) -> int:
    """Run ``evsynth fetch``; return 0, or 1 with a one-line reason on stderr."""
    from evsynth.pubmed.client import EutilsError
    from evsynth.pubmed.retrieve import fetch

    logging.basicConfig(level=logging.WARNING, format="evsynth fetch: %(message)s")
    if (args.mindate is None) != (args.maxdate is None):
        print("evsynth fetch: error: --mindate and --maxdate must be given together", file=sys.stderr)
        return 2
    try:
        summary = fetch(
            args.query,
            args.out,
            eutils_url=args.eutils_url,
            batch_size=args.batch_size,
            mindate=args.mindate,
            maxdate=args.maxdate,
            datetype=args.datetype,
            email=args.email,
            max_retries=args.max_retries,
            timeout=args.timeout,
            backoff_base=args.backoff_base,
            backoff_max=args.backoff_max,
        )
    except (EutilsError, ValueError, OSError) as exc:
        print(f"evsynth fetch: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    print(f"evsynth fetch: {summary['count']} records in {len(summary['batches'])} batches -> {args.out}",
          file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------- parse
def _parse_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evsynth parse`` options to ``parser``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="PubMed XML (.xml), MEDLINE text (.nbib/.txt), RIS (.ris) files or directories")
    parser.add_argument("--out", required=True, help="records CSV to write")
    parser.add_argument("--dedup-out", default=None, help="also write the duplicate table (CSV) here")
    parser.add_argument("--source-db", default=None, help="database name for RIS/.nbib inputs (default: detected)")


def _parse(args: argparse.Namespace) -> int:
    """Run ``evsynth parse``; return 0, or 1 with a one-line reason on stderr."""
    from evsynth.dedup import find_duplicates
    from evsynth.io import write_csv
    from evsynth.records import RecordsInputError, read_records, records_table, write_records_csv

    try:
        records = [rec for path in args.inputs for rec in read_records(path, args.source_db)]
        table = records_table(records)
        dedup = find_duplicates(table) if args.dedup_out else None
        write_records_csv(table, args.out)
        if dedup is not None:
            write_csv(dedup, args.dedup_out)
    except (RecordsInputError, OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"evsynth parse: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    print(f"evsynth parse: {len(table)} records -> {args.out}", file=sys.stderr)
    return 0

# ---------------------------------------------------------------------------------- validate
def _validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", nargs="?", default="data/raw/extraction", type=Path,
                        help="folder holding studies.csv, arms.csv, ... (default: data/raw/extraction)")
    parser.add_argument("--schema", type=Path, default=None,
                        help="extraction schema (default: the one shipped with evsynth)")


def _validate(args: argparse.Namespace) -> int:
    from evsynth.extraction.validate import validate

    try:
        problems = validate(args.directory, args.schema)
    except FileNotFoundError as err:
        print(f"evsynth validate: {err}")
        return 2
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    print(f"{args.directory}: all tables valid")
    return 0


# ------------------------------------------------------------------------------------ update
def _update_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evsynth update`` options to ``parser``."""
    parser.add_argument("--config", default="config.yaml", help="pipeline configuration (default config.yaml)")
    from evsynth.update import DEFAULT_LOG, DEFAULT_QUEUE

    parser.add_argument("--queue", default=DEFAULT_QUEUE, help=f"screening queue to write (default {DEFAULT_QUEUE})")
    parser.add_argument("--live-dir", default=None, help="live search folder (default pubmed.live_dir)")
    parser.add_argument("--history-dir", default=None, help="search history folder (default pubmed.history_dir)")
    parser.add_argument("--log", default=DEFAULT_LOG, help=f"log file: requests, retries (default {DEFAULT_LOG})")


def _log_to_file(path: Path) -> logging.Handler | None:
    """Send INFO and above (requests retried, batches fetched) to ``path``; None if it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def _update(args: argparse.Namespace) -> int:
    """Run ``evsynth update``; return 0, or 1 with a one-line reason on stderr (nothing changed then)."""
    import yaml

    from evsynth.config import load_config
    from evsynth.update import update

    log_file = _log_to_file(Path(args.log))
    try:
        config = load_config(Path(args.config))
        result = update(config["pubmed"], config["screening"], live_dir=args.live_dir,
                        history_dir=args.history_dir, queue_path=args.queue)
    except (EvsynthError, yaml.YAMLError, OSError, ValueError) as exc:
        return _failed("update", exc, args.config, f" (log: {args.log})" if log_file else "")
    finally:
        if log_file is not None:
            logging.getLogger().removeHandler(log_file)
            log_file.close()
    print(f"evsynth update: {result.summary()} -> {args.queue}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------- snapshot
def _snapshot_refresh_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evsynth snapshot-refresh`` options to ``parser``."""
    parser.add_argument("--config", default="config.yaml", help="pipeline configuration (default config.yaml)")
    parser.add_argument("--live-dir", default=None, help="complete live search (default pubmed.live_dir)")
    parser.add_argument("--out", default=None, help="snapshot folder to refresh (default pubmed.snapshot_dir)")


def _snapshot_refresh(args: argparse.Namespace) -> int:
    """Run ``evsynth snapshot-refresh``; return 0, or 1 with a one-line reason on stderr."""
    import yaml

    from evsynth.config import load_config
    from evsynth.snapshot import refresh_snapshot

    try:
        pubmed = load_config(Path(args.config))["pubmed"]
        live = args.live_dir or pubmed.get("live_dir", "data/raw/pubmed-live")
        out = args.out or pubmed["snapshot_dir"]
        search = refresh_snapshot(live, out)
    except (EvsynthError, yaml.YAMLError, OSError, ValueError) as exc:
        return _failed("snapshot-refresh", exc, args.config)
    print(f"evsynth snapshot-refresh: {out}: {search['count']} records from the live search of "
          f"{search['retrieval_date']}", file=sys.stderr)
    return 0




def _snapshot_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evsynth snapshot-build`` options to ``parser``."""
    parser.add_argument("bibliography", type=Path)
    parser.add_argument("--query-file", type=Path, required=True)
    parser.add_argument("--date", required=True, help="snapshot date, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, required=True)


def _snapshot_build(args: argparse.Namespace) -> int:
    """Run ``evsynth snapshot-build`` (the frozen snapshot from ``bibliography.csv``)."""
    from evsynth.snapshot import build_snapshot

    query = " ".join(args.query_file.read_text(encoding="utf-8").split())
    search = build_snapshot(args.bibliography, query, args.date, args.out)
    print(f"{args.out}: {search['count']} records")
    return 0


# -------------------------------------------------------------------------------------- run
def _run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evsynth run`` options (what ``make report`` calls) to ``parser``."""
    import os

    parser.add_argument("targets", nargs="*",
                        help="files or rules to build (default: the whole report); before the options")
    cores = os.environ.get("CORES", "")
    cores = int(cores) if cores.isdigit() and int(cores) > 0 else os.cpu_count() or 1
    parser.add_argument("--cores", "-c", type=int, default=cores,
                        help="CPU cores to use (default: $CORES or all)")
    parser.add_argument("--config", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="override config.yaml items (as Snakemake's --config)")
    parser.add_argument("--configfile", nargs="+", action="extend", default=[], metavar="FILE",
                        help="more config files, read after config.yaml (later ones win)")
    parser.add_argument("--directory", "-d", default=".", help="the project folder (default: this one)")


def _run(args: argparse.Namespace) -> int:
    """``evsynth run`` (:func:`evsynth.runner.run_pipeline`); extra config files are read after config.yaml."""
    from evsynth.runner import run_pipeline

    return run_pipeline(Path(args.directory), args.cores, args.config, args.configfile, args.targets)


# ----------------------------------------------------------------------------------- wiring
#: subcommand -> (one-line help, add the arguments, run it)
SUBCOMMANDS = {
    "fetch": ("search PubMed and fetch MEDLINE XML (E-utilities)", _fetch_arguments, _fetch),
    "parse": ("parse MEDLINE XML / .nbib / RIS exports into a records table", _parse_arguments, _parse),
    "validate": ("check the extraction tables against schema and rules", _validate_arguments, _validate),
    "update": ("re-run the live PubMed search, keep its dated history, write the screening queue",
               _update_arguments, _update),
    "snapshot-refresh": ("refresh the shipped PubMed snapshot from the latest live search",
                         _snapshot_refresh_arguments, _snapshot_refresh),
    "snapshot-build": ("build the frozen PubMed snapshot from bibliography.csv", _snapshot_build_arguments,
                       _snapshot_build),
    "run": ("run the pipeline (Snakemake) quietly; one line per failure; recovers killed runs", _run_arguments,
            _run),
}


def build_parser() -> argparse.ArgumentParser:
    from evsynth import __version__

    parser = argparse.ArgumentParser(prog="evsynth", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"evsynth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
