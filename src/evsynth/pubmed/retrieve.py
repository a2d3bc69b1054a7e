"""Search PubMed and save the matching MEDLINE XML as a resumable snapshot directory.

Layout of ``out_dir``::

    batch_00000.xml ...  raw EFetch answers, one per batch of the numerically sorted PMID list
    search.json          query, count, sorted PMIDs, date ranges and ESearch parts, retrieval date,
                         versions; written LAST: its presence marks a complete snapshot

Every file is written to a temporary name and moved into place with ``os.replace``, so a killed run
leaves only complete files. A rerun keeps each existing batch file that holds exactly the PMIDs its
batch should hold and fetches the rest.

A new search never damages the last complete one: the search itself runs first (a failure there
touches nothing), and when ``out_dir`` already holds a complete snapshot the new batches are fetched
into ``out_dir/.next/`` and swapped in only once every one is on disk (``search.json`` is replaced
last). A run killed while staging leaves the previous snapshot whole and resumes from ``.next/``.

A search over 10,000 records is split by date (:mod:`evsynth.pubmed.search`) and recorded as one
search with its parts.

Why batches are fetched by explicit PMIDs: ESearch runs with the history server (``usehistory=y``)
and pages its ID list with ``WebEnv``/``retstart``, but each batch is then fetched with ``id=`` (POST
above ``post_threshold`` IDs) from the numerically sorted list. History-server order is PubMed's
(newest first), shifts when records are added, and a ``WebEnv`` expires; explicit IDs make batch
``k`` the same records on every run, so a rerun can trust and keep it, and every answer can be checked
against exactly the PMIDs requested. :meth:`EutilsClient.efetch` also supports
``WebEnv``/``query_key``/``retstart`` retrieval for callers that want it.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from evsynth import __version__
from evsynth.io import atomic_path
from evsynth.parsers.medline_xml import MedlineParseError, pmids_in_file
from evsynth.pubmed.client import ESEARCH_MAX_RESULTS, EutilsClient, resolve_eutils_url
from evsynth.pubmed.search import PubmedSearch, normalise_date_ranges, search_pubmed
from evsynth.pubmed.throttle import FileThrottle

__all__ = [
    "STAGING_DIR",
    "atomic_write_bytes",
    "batch_name",
    "complete_search",
    "done_text",
    "fetch",
    "fetch_configured",
    "plan_batches",
    "search_matches",
]

#: Sub-folder where a new search's batches wait until they can replace a complete snapshot.
STAGING_DIR = ".next"

log = logging.getLogger("evsynth.pubmed")
_BATCH_FILE = re.compile(r"batch_\d{5}\.xml")
_DATE = re.compile(r"\d{4}(/\d{2}(/\d{2})?)?")


def batch_name(index: int) -> str:
    """File name of batch ``index``: ``batch_00000.xml``."""
    return f"batch_{index:05d}.xml"


def plan_batches(pmids: list[str], batch_size: int) -> list[list[str]]:
    """Split the numerically sorted PMIDs into consecutive batches of ``batch_size``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ordered = sorted(pmids, key=int)
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`evsynth.io.atomic_path`, synced to disk before the rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _retrieval_date(value: str | None) -> str:
    value = value or os.environ.get("EVSYNTH_RETRIEVAL_DATE")
    if value:
        return value
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _batch_is_complete(path: Path, expected: list[str]) -> bool:
    if not path.exists():
        return False
    try:
        return sorted(pmids_in_file(path), key=int) == expected
    except (MedlineParseError, OSError, ValueError):
        return False


def _clean_directory(out: Path, keep: set[str] | None) -> None:
    """Remove leftovers of earlier runs: temp files and (unless ``keep`` is None) batch files outside the plan."""
    for entry in out.iterdir():
        name = entry.name
        if name.startswith(".") and name.endswith(".tmp") and entry.is_file():
            entry.unlink()
        elif keep is not None and _BATCH_FILE.fullmatch(name) and name not in keep:
            log.info("removing %s: not part of this search's batches", entry)
            entry.unlink()


def _ranges_json(ranges: Sequence[tuple[str | None, str | None]]) -> list[dict[str, str]]:
    return [{"mindate": lo, "maxdate": hi} for lo, hi in ranges if lo is not None]


def complete_search(out_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``search.json`` of a complete snapshot in ``out_dir`` (every listed batch present), else None."""
    out = Path(out_dir)
    try:
        search = json.loads((out / "search.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(search, dict) or not all((out / name).is_file() for name in search.get("batches", [])):
        return None
    return search


def search_matches(
    search: Mapping[str, Any],
    query: str,
    date_ranges: Iterable[Any] | None = None,
    datetype: str = "pdat",
    batch_size: int = 200,
) -> bool:
    """Whether a recorded search (``search.json``) was made with this query, date ranges, date type, batch size."""
    ranges = _ranges_json(normalise_date_ranges(date_ranges))
    recorded = [{"mindate": r.get("mindate"), "maxdate": r.get("maxdate")}
                for r in search.get("date_ranges", []) if r.get("mindate") is not None]
    return (search.get("query") == query and recorded == ranges and search.get("batch_size") == batch_size
            and (not ranges or search.get("datetype") == datetype))


def _show_progress(stream: Any = None, environ: Any = None) -> bool:
    """A progress bar only on a terminal, and never when env ``CI`` is set."""
    stream = sys.stderr if stream is None else stream
    environ = os.environ if environ is None else environ
    return bool(getattr(stream, "isatty", lambda: False)()) and not environ.get("CI")


def fetch(
    query: str,
    out_dir: str | os.PathLike[str],
    *,
    eutils_url: str | None = None,
    batch_size: int = 200,
    mindate: str | None = None,
    maxdate: str | None = None,
    date_ranges: Iterable[Mapping[str, Any] | Sequence[str | None]] | None = None,
    datetype: str = "pdat",
    esearch_limit: int = ESEARCH_MAX_RESULTS,
    email: str | None = None,
    tool: str = "evsynth",
    api_key: str | None = None,
    max_retries: int = 5,
    timeout: float = 60.0,
    backoff_base: float = 1.0,
    backoff_max: float = 60.0,
    max_retry_after: float = 120.0,
    throttle_dir: str | os.PathLike[str] | None = None,
    retrieval_date: str | None = None,
    progress: bool | None = None,
    client: EutilsClient | None = None,
    search: PubmedSearch | None = None,
) -> dict[str, Any]:
    """Search PubMed for ``query`` and write a complete MEDLINE XML snapshot to ``out_dir``.

    Parameters
    ----------
    query : str
        PubMed query.
    out_dir : path-like
        Snapshot directory (created if needed).
    eutils_url : str, optional
        Base URL; default env ``EVSYNTH_EUTILS_URL`` or NCBI's.
    batch_size : int
        PMIDs per EFetch request and per batch file.
    mindate, maxdate : str, optional
        ``YYYY``, ``YYYY/MM`` or ``YYYY/MM/DD``, both or neither; applied to ``datetype``
        (default ``pdat``, publication date). One date range; see ``date_ranges`` for several.
    date_ranges : list of dict, optional
        ``[{"mindate": ..., "maxdate": ...}, ...]`` (not together with ``mindate``/``maxdate``);
        none: no date limits. Ranges may overlap; PMIDs are counted once.
    esearch_limit : int
        Most records one ESearch may return (PubMed: 10,000); larger searches are split by date.
    email, tool, api_key
        Sent to NCBI (``api_key`` default: env ``NCBI_API_KEY``; never written anywhere).
    max_retries, timeout, backoff_base, backoff_max, max_retry_after
        Retry policy, see :class:`~evsynth.pubmed.client.EutilsClient`.
    throttle_dir : path-like, optional
        Shared throttle directory; default env ``EVSYNTH_THROTTLE_DIR`` or the user cache.
    retrieval_date : str, optional
        Recorded date (default: env ``EVSYNTH_RETRIEVAL_DATE``, else now, UTC ISO 8601).
    progress : bool, optional
        Show a tqdm bar over batches; default: only on a terminal and when env ``CI`` is unset.
    client : EutilsClient, optional
        Use this client instead of building one from the arguments above.
    search : PubmedSearch, optional
        A search already made (:func:`~evsynth.pubmed.search.search_pubmed` with the same query,
        ranges and date type): its PMIDs are fetched without searching again.

    Returns
    -------
    dict
        The content of ``search.json``: ``query``, ``count`` (distinct PMIDs over all parts: the true
        total), ``pmids`` (numerically sorted strings), ``retrieval_date``, ``evsynth_version``,
        ``eutils_url`` (no key), ``date_ranges`` (``[{mindate, maxdate, count}]``, empty: no date
        limits), ``parts`` (``[{range, mindate, maxdate, count}]``, one per ESearch used), ``split``
        (whether a range was split by date), ``esearch_limit``, ``mindate``/``maxdate`` (the single
        range's, else null), ``datetype`` (null when no dates were used), ``batch_size``, ``batches``,
        ``query_translation``, ``phrases_not_found``.

    Raises
    ------
    ValueError
        Invalid arguments (named).
    EutilsPermanentError
        A request kept failing; :class:`~evsynth.pubmed.client.MissingRecordsError` names PMIDs the
        search returned but EFetch never did. A previous complete snapshot in ``out_dir`` is then left
        as it was; without one, ``search.json`` is absent.
    """
    for name, value in (("mindate", mindate), ("maxdate", maxdate)):
        if value is not None and not _DATE.fullmatch(value):
            raise ValueError(f"{name}: {value!r} is not YYYY, YYYY/MM or YYYY/MM/DD")
    if (mindate is None) != (maxdate is None):
        raise ValueError("mindate and maxdate must be given together (E-utilities ignores one alone)")
    if mindate is not None:
        if date_ranges:
            raise ValueError("give either mindate/maxdate or date_ranges, not both")
        date_ranges = [(mindate, maxdate)]
    ranges = normalise_date_ranges(date_ranges)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if client is None:
        key = api_key if api_key is not None else (os.environ.get("NCBI_API_KEY") or None)
        client = EutilsClient(
            resolve_eutils_url(eutils_url),
            api_key=key,
            email=email,
            tool=tool,
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            max_retry_after=max_retry_after,
            throttle=FileThrottle.for_ncbi(key, throttle_dir),
        )
    base_url = client.base_url
    out = Path(out_dir)
    search_path = out / "search.json"

    # The search first: if it fails, nothing on disk has changed.
    result = search if search is not None else search_pubmed(
        client, query, [{"mindate": lo, "maxdate": hi} for lo, hi in ranges if lo is not None],
        datetype=datetype, limit=esearch_limit)
    batches = plan_batches(result.pmids, batch_size)
    names = [batch_name(i) for i in range(len(batches))]
    out.mkdir(parents=True, exist_ok=True)
    replacing = complete_search(out) is not None
    work = out / STAGING_DIR if replacing else out
    work.mkdir(exist_ok=True)
    if replacing:
        _clean_directory(out, None)  # temp files only: the complete snapshot's batches stay until the swap
    _clean_directory(work, set(names))

    def done(name: str, batch: list[str]) -> bool:
        return _batch_is_complete(out / name, batch) or (replacing and _batch_is_complete(work / name, batch))

    todo = [(n, b) for n, b in zip(names, batches) if not done(n, b)]
    log.info("%d records in %d batches; %d to fetch", result.count, len(batches), len(todo))
    show = _show_progress() if progress is None else progress
    with tqdm(total=len(batches), initial=len(batches) - len(todo), unit="batch", disable=not show) as bar:
        for name, batch in todo:
            body, _ = client.efetch(batch)
            atomic_write_bytes(work / name, body)
            bar.update(1)

    single = ranges[0] if len(ranges) == 1 else (None, None)
    dated = ranges[0][0] is not None or result.split
    summary: dict[str, Any] = {
        "query": query,
        "count": result.count,
        "pmids": result.pmids,
        "retrieval_date": _retrieval_date(retrieval_date),
        "evsynth_version": __version__,
        "eutils_url": client.redact(base_url),
        "date_ranges": [r for r in result.date_ranges if r["mindate"] is not None],
        "parts": [part.as_json() for part in result.parts],
        "split": result.split,
        "esearch_limit": result.limit,
        "mindate": single[0],
        "maxdate": single[1],
        "datetype": datetype if dated else None,
        "batch_size": batch_size,
        "batches": names,
        "query_translation": result.query_translation,
        "phrases_not_found": result.phrases_not_found,
    }
    body = (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode()
    if replacing:
        # Swap: from here to the new search.json only renames happen (no network); a crash inside
        # leaves no search.json, i.e. an incomplete snapshot that the next run completes.
        search_path.unlink()
        for name in names:
            if (work / name).exists():
                os.replace(work / name, out / name)
        _clean_directory(out, set(names))
        atomic_write_bytes(search_path, body)
        shutil.rmtree(work, ignore_errors=True)
    else:
        atomic_write_bytes(search_path, body)
    return summary


def fetch_configured(
    pubmed: Mapping[str, Any],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    client: EutilsClient | None = None,
    esearch_limit: int = ESEARCH_MAX_RESULTS,
    retrieval_date: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Make sure ``out_dir`` holds a complete live search for the ``pubmed`` config block.

    A complete search made with the same query, date ranges, date type and batch size is reused
    (no request is sent) unless ``force``; otherwise :func:`fetch` searches again, leaving the previous
    complete search in place if anything fails.

    Parameters
    ----------
    pubmed : mapping
        The ``pubmed`` section of ``config.yaml`` (``query``, ``date_ranges``, ``datetype``,
        ``batch_size``, ``eutils_url``, ``email``, ``live_dir``). Env ``EVSYNTH_EUTILS_URL`` overrides
        ``eutils_url``.
    out_dir : path-like, optional
        Default ``pubmed["live_dir"]``.
    force : bool
        Search again even when a matching complete search exists.

    Returns
    -------
    (dict, bool)
        ``search.json``'s content, and whether an existing search was reused.
    """
    out = Path(out_dir if out_dir is not None else pubmed.get("live_dir", "data/raw/pubmed-live"))
    query = pubmed["query"]
    ranges = list(pubmed.get("date_ranges") or [])
    datetype = pubmed.get("datetype", "pdat")
    batch_size = int(pubmed.get("batch_size", 200))
    if not force:
        existing = complete_search(out)
        if existing is not None and search_matches(existing, query, ranges, datetype, batch_size):
            log.info("%s: reusing the complete search of %s (%s records); `evsynth update` searches again",
                     out, existing.get("retrieval_date"), existing.get("count"))
            return existing, True
    url = os.environ.get("EVSYNTH_EUTILS_URL") or pubmed.get("eutils_url")
    summary = fetch(query, out, eutils_url=url, batch_size=batch_size, date_ranges=ranges, datetype=datetype,
                    esearch_limit=esearch_limit, email=pubmed.get("email") or None, client=client,
                    retrieval_date=retrieval_date)
    return summary, False


def done_text(search: Mapping[str, Any]) -> str:
    """The content of the live folder's ``fetch.done`` marker: count, date (changes when the search does)."""
    return f"{search['count']} records retrieved {search['retrieval_date']}\n"
