"""A PubMed search of any size: date ranges, and automatic splitting past ESearch's 10,000-record cap.

PubMed's ESearch returns at most 10,000 PMIDs per search (``retstart`` cannot pass 9,999; NCBI,
"The E-utilities In-Depth", NBK25499, ESearch ``retmax``). A search that matches more is split by
date (``mindate``/``maxdate`` on ``datetype``, publication date ``pdat`` by default): the date range
is halved, and each half searched again, until every part matches at most ``limit`` records. A
single day that still matches more cannot be split further and is a clear error.

The result is recorded as ONE search: the true total (distinct PMIDs over all parts and ranges), the
configured date ranges with PubMed's count for each, and every ESearch part actually used (its date
limits and count), so a reader can repeat it exactly.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evsynth.pubmed.client import (
    ESEARCH_MAX_RESULTS,
    EutilsClient,
    EutilsPermanentError,
    SearchResult,
    SearchTooLargeError,
)

__all__ = [
    "DATETYPES",
    "PubmedSearch",
    "SearchPart",
    "normalise_date_ranges",
    "search_pubmed",
]

log = logging.getLogger("evsynth.pubmed")

#: ESearch date fields: publication, Entrez (added to PubMed), modification date.
DATETYPES = ("pdat", "edat", "mdat")
#: Limits used to split a search that has no configured date range.
UNBOUNDED_MIN = _dt.date(1000, 1, 1)
UNBOUNDED_MAX = _dt.date(2999, 12, 31)
_DATE = re.compile(r"(\d{4})(?:/(\d{2})(?:/(\d{2}))?)?")


@dataclass(frozen=True)
class SearchPart:
    """One ESearch request of a search: its date limits (``None``: none), PubMed's count, the PMIDs."""

    range_index: int
    mindate: str | None
    maxdate: str | None
    count: int
    pmids: tuple[str, ...] = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        return {"range": self.range_index, "mindate": self.mindate, "maxdate": self.maxdate, "count": self.count}


@dataclass
class PubmedSearch:
    """A whole search, however many ESearch parts it took.

    Attributes
    ----------
    count : int
        Distinct PMIDs over every part and date range: the search's true total.
    pmids : list of str
        Those PMIDs, numerically sorted.
    date_ranges : list of dict
        ``{"mindate", "maxdate", "count"}`` per configured range (one with both ``None`` when the
        search has no date limits); ``count`` is PubMed's total for the range.
    parts : list of SearchPart
        The ESearch requests whose PMIDs make up the search, in range then date order.
    split : bool
        Whether any range had to be split.
    """

    query: str
    datetype: str
    limit: int
    date_ranges: list[dict[str, Any]]
    parts: list[SearchPart]
    pmids: list[str]
    query_translation: str | None = None
    phrases_not_found: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.pmids)

    @property
    def split(self) -> bool:
        return len(self.parts) > len(self.date_ranges)


def _parse_date(value: str, name: str, end: bool) -> _dt.date:
    match = _DATE.fullmatch(value or "")
    if not match:
        raise ValueError(f"{name}: {value!r} is not YYYY, YYYY/MM or YYYY/MM/DD")
    year, month, day = match.group(1), match.group(2), match.group(3)
    try:
        if day:
            return _dt.date(int(year), int(month), int(day))
        if month:
            first = _dt.date(int(year), int(month), 1)
            if not end:
                return first
            nxt = _dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)
            return nxt - _dt.timedelta(days=1)
        return _dt.date(int(year), 12, 31) if end else _dt.date(int(year), 1, 1)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a calendar date") from None


def _fmt(day: _dt.date) -> str:
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}"


def normalise_date_ranges(
    date_ranges: Iterable[Mapping[str, Any] | Sequence[str | None]] | None,
    argument: str = "date_ranges",
) -> list[tuple[str | None, str | None]]:
    """Check date ranges and return them as ``(mindate, maxdate)`` pairs (``[(None, None)]`` for none).

    Each range is ``{"mindate": ..., "maxdate": ...}`` or a pair, dates as ``YYYY``, ``YYYY/MM`` or
    ``YYYY/MM/DD`` (E-utilities' forms), both given. Raises ``ValueError`` naming ``argument[i]``.
    """
    out: list[tuple[str | None, str | None]] = []
    for i, item in enumerate(date_ranges or []):
        if isinstance(item, Mapping):
            extra = sorted(set(item) - {"mindate", "maxdate"})
            if extra:
                raise ValueError(f"{argument}[{i}]: unknown key {extra[0]!r} (expected mindate, maxdate)")
            lo, hi = item.get("mindate"), item.get("maxdate")
        else:
            lo, hi = item
        if lo is None or hi is None:
            raise ValueError(f"{argument}[{i}]: mindate and maxdate must be given together")
        lo, hi = str(lo).strip(), str(hi).strip()
        if _parse_date(lo, f"{argument}[{i}].mindate", end=False) > _parse_date(hi, f"{argument}[{i}].maxdate", end=True):
            raise ValueError(f"{argument}[{i}]: mindate {lo} is after maxdate {hi}")
        out.append((lo, hi))
    return out or [(None, None)]


def _bisect(
    client: EutilsClient, query: str, index: int, lo: _dt.date, hi: _dt.date, datetype: str, limit: int,
) -> list[SearchPart]:
    """Search ``[lo, hi]``, halving it while a part matches more than ``limit`` records (date order)."""
    parts: list[SearchPart] = []
    stack = [(lo, hi)]
    while stack:
        a, b = stack.pop()
        try:
            res = client.esearch(query, mindate=_fmt(a), maxdate=_fmt(b), datetype=datetype, limit=limit)
        except SearchTooLargeError as big:
            if a == b:
                raise SearchTooLargeError(
                    f"the search matches {big.count} records with {datetype} {_fmt(a)} alone; PubMed ESearch "
                    f"returns at most {limit} per search and a day cannot be split: narrow the query",
                    big.count, limit,
                ) from None
            mid = a + (b - a) // 2
            log.info("%s-%s matches %d records (> %d): splitting", _fmt(a), _fmt(b), big.count, limit)
            stack.append((mid + _dt.timedelta(days=1), b))  # popped second: parts stay in date order
            stack.append((a, mid))
            continue
        parts.append(SearchPart(index, _fmt(a), _fmt(b), res.count, tuple(res.pmids)))
    return parts


def search_pubmed(
    client: EutilsClient,
    query: str,
    date_ranges: Iterable[Mapping[str, Any] | Sequence[str | None]] | None = None,
    *,
    datetype: str = "pdat",
    limit: int = ESEARCH_MAX_RESULTS,
) -> PubmedSearch:
    """Run ``query`` over each date range (or none), splitting any range past ``limit`` records by date.

    Parameters
    ----------
    client : EutilsClient
    query : str
        PubMed query.
    date_ranges : iterable, optional
        ``[{"mindate": ..., "maxdate": ...}, ...]``; ranges may overlap (PMIDs are counted once).
    datetype : {"pdat", "edat", "mdat"}
        Date field the ranges (and any split) apply to.
    limit : int
        Most records per ESearch (PubMed: 10,000).

    Returns
    -------
    PubmedSearch

    Raises
    ------
    SearchTooLargeError
        One day alone matches more than ``limit`` records.
    EutilsPermanentError
        Requests kept failing, or the parts of a split range do not add up to the range's count
        (PubMed changed during the search: rerun it).
    ValueError
        Bad date range or ``datetype`` (named).
    """
    if datetype not in DATETYPES:
        raise ValueError(f"datetype: {datetype!r} is not one of {', '.join(DATETYPES)}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    ranges = normalise_date_ranges(date_ranges)
    parts: list[SearchPart] = []
    summaries: list[dict[str, Any]] = []
    first: SearchResult | SearchTooLargeError | None = None
    for index, (lo, hi) in enumerate(ranges):
        try:
            res = client.esearch(query, mindate=lo, maxdate=hi, datetype=datetype, limit=limit)
        except SearchTooLargeError as big:
            first = first or big
            start = UNBOUNDED_MIN if lo is None else _parse_date(lo, "mindate", end=False)
            end = UNBOUNDED_MAX if hi is None else _parse_date(hi, "maxdate", end=True)
            found = _bisect(client, query, index, start, end, datetype, limit)
            distinct = len({p for part in found for p in part.pmids})
            if distinct != big.count:
                where = f"{lo}-{hi}" if lo else "the search"
                raise EutilsPermanentError(
                    f"{where} counts {big.count} records but its {len(found)} date parts hold {distinct} distinct "
                    "PMIDs (PubMed changed during the search, or records lie outside the split dates): rerun"
                ) from None
            log.info("search split into %d date parts (%d records)", len(found), big.count)
            parts.extend(found)
            summaries.append({"mindate": lo, "maxdate": hi, "count": big.count})
            continue
        first = first or res
        parts.append(SearchPart(index, lo, hi, res.count, tuple(res.pmids)))
        summaries.append({"mindate": lo, "maxdate": hi, "count": res.count})
    pmids = sorted({p for part in parts for p in part.pmids}, key=int)
    return PubmedSearch(
        query=query,
        datetype=datetype,
        limit=limit,
        date_ranges=summaries,
        parts=parts,
        pmids=pmids,
        query_translation=getattr(first, "query_translation", None),
        phrases_not_found=list(getattr(first, "phrases_not_found", []) or []),
    )
