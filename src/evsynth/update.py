"""``evsynth update``: re-run the live PubMed search, keep a dated search history, queue new records.

A living review repeats its search (PRISMA 2020, Page et al. 2021, item 7: "the date when each source
was last searched"; PRISMA-S, Rethlefsen et al. 2021, item 13 on updates). One update:

1. searches PubMed again with the ``pubmed`` settings of ``config.yaml`` (a search past 10,000
   records is split by date, :mod:`evsynth.pubmed.search`);
2. when the result differs from the last search in the history (other PMIDs, query or date
   ranges), fetches the records into ``pubmed.live_dir`` (the previous complete search stays in
   place until the new one is on disk, :func:`evsynth.pubmed.retrieve.fetch`), adds
   ``<history_dir>/history/<date>.json`` (query, date, count, PMIDs, date parts, records added and
   dropped since the previous search) and a row of ``<history_dir>/index.csv``, and rewrites the
   live folder's ``fetch.done`` so that ``make report MODE=live`` parses the new records;
3. writes the screening queue (``data/processed/screening_queue.csv``, :data:`QUEUE_COLUMNS`): every
   record any search returned that has no row in the decisions file, with the date it was first
   seen, whether it is new since the previous search, whether the latest search still returns it,
   its title, year, publication types and language, and what the configured screening rules
   (:func:`evsynth.screening.rule_reason`) suggest.

Nothing is removed: decisions are never touched; a record that dropped out of the search stays in
the queue (``in_latest_search`` false) until it is decided, and each history entry lists the PMIDs
that dropped out. An update whose search finds nothing new writes nothing (every file keeps its
bytes). A failed update (server unreachable, an error answer, a bad file) changes nothing and says
why in one line.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth import __version__
from evsynth.errors import InputError
from evsynth.io import atomic_path
from evsynth.processed import layout, path_of
from evsynth.pubmed.client import ESEARCH_MAX_RESULTS, EutilsClient, resolve_eutils_url
from evsynth.pubmed.retrieve import complete_search, done_text, fetch
from evsynth.pubmed.search import PubmedSearch, normalise_date_ranges, search_pubmed
from evsynth.pubmed.throttle import FileThrottle

__all__ = [
    "HISTORY_INDEX_COLUMNS",
    "QUEUE_COLUMNS",
    "UpdateResult",
    "read_history",
    "screening_queue",
    "update",
]

log = logging.getLogger("evsynth.update")

#: Columns of ``data/processed/screening_queue.csv``.
QUEUE_COLUMNS = layout("screening_queue").column_names
#: Columns of ``<history_dir>/index.csv``: one row per search that changed the result.
HISTORY_INDEX_COLUMNS = ["search_date", "file", "count", "added", "dropped", "date_ranges", "query"]
DEFAULT_QUEUE = path_of("screening_queue")
DEFAULT_LOG = "logs/update.log"


@dataclass
class UpdateResult:
    """What an update did.

    Attributes
    ----------
    changed : bool
        Whether the search differed from the last one in the history (files were written).
    entry : dict
        The latest history entry (new, or the unchanged previous one).
    queue : DataFrame
        The screening queue.
    written : list of Path
        Files whose bytes changed.
    """

    changed: bool
    entry: dict[str, Any]
    queue: pd.DataFrame
    written: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        e = self.entry
        dropped = e.get("dropped", [])
        new = int(self.queue["new_since_last_search"].sum()) if len(self.queue) else 0
        what = (f"search of {e['search_date']}: {e['count']} records, {len(e.get('added', []))} added and "
                f"{len(dropped)} dropped out since the previous search" if self.changed else
                f"nothing new since the search of {e['search_date']} ({e['count']} records); search files unchanged")
        return f"{what}; {len(self.queue)} awaiting a decision ({new} new)"


# -- history ----------------------------------------------------------------------------------
def _history_files(history_dir: Path) -> list[Path]:
    folder = history_dir / "history"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def read_history(history_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every history entry, oldest first (by ``search_date``, then file name).

    Raises
    ------
    InputError
        An entry is not readable JSON or lacks ``search_date``/``pmids`` (named).
    """
    entries = []
    for path in _history_files(Path(history_dir)):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        for key in ("search_date", "pmids", "query"):
            if key not in entry:
                raise InputError(f"{path}: key '{key}' is missing")
        entry["_file"] = path.name
        entries.append(entry)
    return sorted(entries, key=lambda e: (e["search_date"], e["_file"]))


def _same_search(entry: Mapping[str, Any] | None, result: PubmedSearch) -> bool:
    if entry is None:
        return False
    ranges = [{"mindate": r["mindate"], "maxdate": r["maxdate"]} for r in result.date_ranges if r["mindate"]]
    recorded = [{"mindate": r.get("mindate"), "maxdate": r.get("maxdate")} for r in entry.get("date_ranges", [])]
    return (entry["query"] == result.query and entry["pmids"] == result.pmids and recorded == ranges
            and (not ranges or entry.get("datetype") == result.datetype))


def _entry_name(history_dir: Path, day: str) -> str:
    taken = {p.name for p in _history_files(history_dir)}
    name, n = f"{day}.json", 2
    while name in taken:
        name, n = f"{day}_{n}.json", n + 1
    return name


def _history_entry(search: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    before = set(previous["pmids"]) if previous else set()
    now = set(search["pmids"])
    return {
        "search_date": search["retrieval_date"],
        "query": search["query"],
        "date_ranges": search.get("date_ranges", []),
        "datetype": search.get("datetype"),
        "parts": search.get("parts", []),
        "split": search.get("split", False),
        "count": search["count"],
        "pmids": search["pmids"],
        "added": sorted(now - before, key=int),
        "dropped": sorted(before - now, key=int),
        "previous": previous["_file"] if previous else None,
        "eutils_url": search.get("eutils_url"),
        "query_translation": search.get("query_translation"),
        "evsynth_version": search.get("evsynth_version", __version__),
    }


def _index_text(entries: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HISTORY_INDEX_COLUMNS)
    for e in entries:
        ranges = ";".join(f"{r['mindate']}-{r['maxdate']}" for r in e.get("date_ranges", []))
        writer.writerow([e["search_date"], f"history/{e['_file']}", e["count"], len(e.get("added", [])),
                         len(e.get("dropped", [])), ranges, e["query"]])
    return buf.getvalue()


# -- files ------------------------------------------------------------------------------------
def _write_if_changed(path: Path, text: str, written: list[Path]) -> None:
    """Write ``text`` atomically unless ``path`` already holds exactly these bytes."""
    data = text.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    written.append(path)


def _read_decided(path: Path) -> set[int]:
    """PMIDs with a row in the decisions file (any decision)."""
    try:
        decisions = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from None
    if "pmid" not in decisions.columns:
        raise InputError(f"{path}: column 'pmid' is missing")
    decided = set()
    for row, value in enumerate(decisions["pmid"], start=2):
        value = value.strip()
        if not value:
            continue
        if not value.isdigit():
            raise InputError(f"{path}, row {row}, column 'pmid': {value!r} is not a PMID")
        decided.add(int(value))
    return decided


def _read_previous_queue(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        queue = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from None
    missing = [c for c in ("pmid", "title", "year", "pub_types", "language") if c not in queue.columns]
    if missing:
        raise InputError(f"{path}: column '{missing[0]}' is missing")
    return queue


def _live_records(live_dir: Path, search: Mapping[str, Any]) -> pd.DataFrame:
    from evsynth.parsers.medline_xml import MedlineParseError
    from evsynth.records import RecordsInputError, read_records, records_table

    try:
        return records_table(rec for name in search.get("batches", []) for rec in read_records(live_dir / name))
    except (RecordsInputError, MedlineParseError) as exc:
        raise InputError(" ".join(str(exc).split())) from None


# -- the queue --------------------------------------------------------------------------------
def screening_queue(
    history: list[dict[str, Any]],
    records: pd.DataFrame,
    decided: set[int],
    rules: Mapping[str, Any],
    previous_queue: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Records awaiting a screening decision, from the search history (see :data:`QUEUE_COLUMNS`).

    Parameters
    ----------
    history : list of dict
        History entries, oldest first (:func:`read_history`); the last is the latest search.
    records : DataFrame
        The latest search's records (:func:`evsynth.records.records_table`).
    decided : set of int
        PMIDs with a row in the decisions file.
    rules : mapping
        The ``screening`` section of the config, for :func:`evsynth.screening.rule_reason`.
    previous_queue : DataFrame, optional
        The queue written last time: the title, year and types of records no longer returned by
        the search come from it.

    Returns
    -------
    DataFrame
        Sorted: records of the latest search first, newest first-seen date first, then by PMID.
    """
    from evsynth.screening import rule_reason

    if not history:
        return pd.DataFrame(columns=QUEUE_COLUMNS)
    first_seen: dict[int, str] = {}
    last_seen: dict[int, str] = {}
    for entry in history:
        day = entry["search_date"][:10]
        for p in entry["pmids"]:
            first_seen.setdefault(int(p), day)
            last_seen[int(p)] = day
    latest = {int(p) for p in history[-1]["pmids"]}
    before = {int(p) for p in history[-2]["pmids"]} if len(history) > 1 else set()
    by_pmid = {int(r.pmid): r for r in records.itertuples(index=False) if str(r.pmid).isdigit()}
    old = ({int(r.pmid): r for r in previous_queue.itertuples(index=False) if str(r.pmid).isdigit()}
           if previous_queue is not None else {})
    rows = []
    for pmid in sorted(set(first_seen) - decided):
        rec = by_pmid.get(pmid)
        source = rec if rec is not None else old.get(pmid)
        fields = {k: getattr(source, k, None) if source is not None else None
                  for k in ("title", "year", "pub_types", "language", "mesh", "keywords")}
        if rec is not None:
            reason = rule_reason(pd.Series(rec._asdict()), rules)
            suggest, reason = ("exclude", reason) if reason else ("assess", "")
        elif source is not None:  # no longer returned: keep what the rules said last time
            suggest, reason = getattr(source, "rules_suggest", ""), getattr(source, "rule_reason", "")
        else:
            suggest, reason = "", ""
        year = fields["year"]
        if year is None or (isinstance(year, str) and not year.strip()) or pd.isna(year):
            year = None
        rows.append({
            "pmid": pmid,
            "first_seen": first_seen[pmid],
            "last_seen": last_seen[pmid],
            "new_since_last_search": pmid in latest and pmid not in before,
            "in_latest_search": pmid in latest,
            "title": fields["title"] or "",
            "year": None if year is None else int(year),
            "pub_types": fields["pub_types"] or "",
            "language": fields["language"] or "",
            "rules_suggest": suggest,
            "rule_reason": reason,
        })
    queue = pd.DataFrame(rows, columns=QUEUE_COLUMNS)
    queue["year"] = pd.array(queue["year"].tolist(), dtype="Int64")
    order = queue.assign(_in=~queue["in_latest_search"].astype(bool), _seen=queue["first_seen"])
    order = order.sort_values("pmid", kind="stable").sort_values("_seen", ascending=False, kind="stable")
    order = order.sort_values("_in", kind="stable")
    return order[QUEUE_COLUMNS].reset_index(drop=True)


def _queue_text(queue: pd.DataFrame) -> str:
    buf = io.StringIO()
    queue.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


# -- the update -------------------------------------------------------------------------------
def update(
    pubmed: Mapping[str, Any],
    screening: Mapping[str, Any],
    *,
    live_dir: str | os.PathLike[str] | None = None,
    history_dir: str | os.PathLike[str] | None = None,
    queue_path: str | os.PathLike[str] = DEFAULT_QUEUE,
    decisions_path: str | os.PathLike[str] | None = None,
    client: EutilsClient | None = None,
    esearch_limit: int = ESEARCH_MAX_RESULTS,
    retrieval_date: str | None = None,
) -> UpdateResult:
    """Search again, record the search when it changed, and write the screening queue.

    Parameters
    ----------
    pubmed, screening : mapping
        The ``pubmed`` and ``screening`` sections of ``config.yaml``.
    live_dir, history_dir, decisions_path : path-like, optional
        Default ``pubmed.live_dir``, ``pubmed.history_dir``, ``screening.decisions``.
    queue_path : path-like
        Where the queue is written.
    client : EutilsClient, optional
        Default: built from ``pubmed.eutils_url`` (env ``EVSYNTH_EUTILS_URL`` overrides), ``email`` and
        env ``NCBI_API_KEY``.
    esearch_limit : int
        Most records per ESearch (PubMed: 10,000).
    retrieval_date : str, optional
        Recorded search date (default env ``EVSYNTH_RETRIEVAL_DATE``, else now, UTC).

    Raises
    ------
    EvsynthError
        The server is unreachable or answers with errors (:class:`~evsynth.pubmed.EutilsError`), or an
        input file is bad (:class:`~evsynth.errors.InputError`). Nothing has been written then.
    """
    live = Path(live_dir if live_dir is not None else pubmed.get("live_dir", "data/raw/pubmed-live"))
    hist_dir = Path(history_dir if history_dir is not None else pubmed.get("history_dir", "data/raw/searches"))
    queue_file = Path(queue_path)
    decisions = Path(decisions_path if decisions_path is not None else screening["decisions"])
    ranges = [r for r in (pubmed.get("date_ranges") or [])]
    try:
        normalise_date_ranges(ranges, "pubmed.date_ranges")
    except ValueError as exc:
        raise InputError(f"config: {exc}") from None
    datetype = pubmed.get("datetype", "pdat")
    batch_size = int(pubmed.get("batch_size", 200))

    # Read every input first: a bad file stops the update before anything is written.
    history = read_history(hist_dir)
    decided = _read_decided(decisions)
    previous_queue = _read_previous_queue(queue_file)
    if client is None:
        key = os.environ.get("NCBI_API_KEY") or None
        url = os.environ.get("EVSYNTH_EUTILS_URL") or pubmed.get("eutils_url")
        client = EutilsClient(resolve_eutils_url(url), api_key=key, email=pubmed.get("email") or None,
                              throttle=FileThrottle.for_ncbi(key))

    result = search_pubmed(client, pubmed["query"], ranges, datetype=datetype, limit=esearch_limit)
    latest = history[-1] if history else None
    existing = complete_search(live)
    live_is_current = (existing is not None and existing.get("pmids") == result.pmids
                       and existing.get("query") == result.query and existing.get("batch_size") == batch_size)
    changed = not _same_search(latest, result)
    written: list[Path] = []
    if changed or not live_is_current:
        search = fetch(result.query, live, batch_size=batch_size, date_ranges=ranges, datetype=datetype,
                       client=client, search=result, retrieval_date=retrieval_date)
        written.append(live / "search.json")
    else:
        search = existing
    records = _live_records(live, search)

    if changed:
        entry = _history_entry(search, latest)
        entry["_file"] = _entry_name(hist_dir, entry["search_date"][:10])
        body = {k: v for k, v in entry.items() if k != "_file"}
        _write_if_changed(hist_dir / "history" / entry["_file"],
                          json.dumps(body, indent=2, ensure_ascii=False) + "\n", written)
        history = [*history, entry]
    _write_if_changed(hist_dir / "index.csv", _index_text(history), written)
    queue = screening_queue(history, records, decided, screening, previous_queue)
    _write_if_changed(queue_file, _queue_text(queue), written)
    _write_if_changed(live / "fetch.done", done_text(search), written)
    return UpdateResult(changed, {k: v for k, v in history[-1].items() if k != "_file"} | {"file": history[-1]["_file"]},
                        queue, written)


# -- command line -------------------------------------------------------------------------------
