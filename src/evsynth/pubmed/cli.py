"""``evsynth fetch``: search PubMed and save the MEDLINE XML snapshot (see :mod:`evsynth.pubmed.retrieve`)."""

from __future__ import annotations

import argparse
import logging
import sys

from evsynth.pubmed.client import EutilsError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
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


def run(args: argparse.Namespace) -> int:
    """Run ``evsynth fetch``; return 0, or 1 with a one-line reason on stderr."""
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
