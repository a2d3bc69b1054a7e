"""Search PubMed and save the matching MEDLINE XML as a resumable snapshot directory.

Layout of ``out_dir``::

    batch_00000.xml ...  raw EFetch answers, one per batch of the numerically sorted PMID list
    search.json          query, count, sorted PMIDs, retrieval date, versions; written LAST

Every file is written to a temporary name and moved into place with ``os.replace``, so a killed run
leaves only complete files. ``search.json`` is removed when a run starts and written when every batch
is on disk: its presence marks a complete snapshot. A rerun keeps each existing batch file that holds
exactly the PMIDs its batch should hold and fetches the rest.

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
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from evsynth import __version__
from evsynth.io import atomic_path
from evsynth.pubmed.client import EutilsClient, resolve_eutils_url
from evsynth.pubmed.parser import MedlineParseError, pmids_in_file
from evsynth.pubmed.throttle import FileThrottle

__all__ = ["atomic_write_bytes", "batch_name", "fetch", "plan_batches"]

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


def _clean_directory(out: Path, keep: set[str]) -> None:
    """Remove leftovers of earlier runs: temp files and batch files outside the current plan."""
    for entry in out.iterdir():
        name = entry.name
        if name.startswith(".") and name.endswith(".tmp") and entry.is_file():
            entry.unlink()
        elif _BATCH_FILE.fullmatch(name) and name not in keep:
            log.info("removing %s: not part of this search's batches", entry)
            entry.unlink()


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
    datetype: str = "pdat",
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
        (default ``pdat``, publication date).
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

    Returns
    -------
    dict
        The content of ``search.json``: ``query``, ``count``, ``pmids`` (numerically sorted strings),
        ``retrieval_date``, ``evsynth_version``, ``eutils_url`` (no key), ``mindate``, ``maxdate``,
        ``datetype``, ``batch_size``, ``batches``, ``query_translation``, ``phrases_not_found``.

    Raises
    ------
    ValueError
        Invalid arguments (named).
    EutilsPermanentError
        A request kept failing; :class:`~evsynth.pubmed.client.MissingRecordsError` names PMIDs the
        search returned but EFetch never did. ``search.json`` is then absent.
    """
    for name, value in (("mindate", mindate), ("maxdate", maxdate)):
        if value is not None and not _DATE.fullmatch(value):
            raise ValueError(f"{name}: {value!r} is not YYYY, YYYY/MM or YYYY/MM/DD")
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
    out.mkdir(parents=True, exist_ok=True)
    search_path = out / "search.json"
    if search_path.exists():
        search_path.unlink()  # the snapshot is incomplete until this run writes it again

    result = client.esearch(query, mindate=mindate, maxdate=maxdate, datetype=datetype)
    batches = plan_batches(result.pmids, batch_size)
    names = [batch_name(i) for i in range(len(batches))]
    _clean_directory(out, set(names))

    todo = [(n, b) for n, b in zip(names, batches) if not _batch_is_complete(out / n, b)]
    log.info("%d records in %d batches; %d to fetch", result.count, len(batches), len(todo))
    show = _show_progress() if progress is None else progress
    with tqdm(total=len(batches), initial=len(batches) - len(todo), unit="batch", disable=not show) as bar:
        for name, batch in todo:
            body, _ = client.efetch(batch)
            atomic_write_bytes(out / name, body)
            bar.update(1)

    summary: dict[str, Any] = {
        "query": query,
        "count": result.count,
        "pmids": sorted(result.pmids, key=int),
        "retrieval_date": _retrieval_date(retrieval_date),
        "evsynth_version": __version__,
        "eutils_url": client.redact(base_url),
        "mindate": mindate,
        "maxdate": maxdate,
        "datetype": datetype if mindate is not None else None,
        "batch_size": batch_size,
        "batches": names,
        "query_translation": result.query_translation,
        "phrases_not_found": result.phrases_not_found,
    }
    atomic_write_bytes(search_path, (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode())
    return summary
