"""Record de-duplication for screening: which records are the same publication, and which one is kept.

PRISMA 2020 (Page et al. 2021, BMJ 372:n71, item 16a and the flow diagram's "duplicate records
removed") counts records removed as duplicates before screening. Two records are the same
publication when they share a PMID, a DOI (:func:`normalise_doi`) or a title (:func:`normalise_title`,
long enough to be distinctive) with compatible years. Matching is transitive.

The work is near-linear in the number of records: records are grouped by each key (a dict lookup),
groups are merged with a union-find (disjoint-set forest with path halving; Tarjan 1975), and each
record's own link into its group is found by a breadth-first search that visits every key group
once instead of comparing every pair of records inside it. A title group is split by year, since a
title match needs the years to agree or one of them to be missing.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

__all__ = ["DEDUP_COLUMNS", "KEY_PRIORITY", "find_duplicates", "normalise_doi", "normalise_title"]

#: Columns of the duplicate table (``data/processed/records_duplicates.csv`` holds its dropped rows).
DEDUP_COLUMNS = ["record_id", "source_db", "group", "kept", "match", "matched_to", "reason"]
#: Match keys in order of strength: a pair matching on several is reported with the first.
KEY_PRIORITY = ("pmid", "doi", "title")
#: Fields counted to choose the most complete record of a group.
COMPLETENESS_FIELDS = ("pmid", "doi", "abstract", "mesh", "authors", "year", "journal")
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


def normalise_doi(doi: str | None) -> str | None:
    """Lower-case DOI without ``https://doi.org/``, ``http://dx.doi.org/`` or ``doi:`` prefix.

    DOIs are case-insensitive (DOI Handbook, section 2.4), so lower-casing loses nothing.
    """
    if not doi:
        return None
    value = _DOI_PREFIX.sub("", doi.strip()).strip().lower()
    return value or None


def normalise_title(title: str | None) -> str | None:
    """Title case-folded, accents removed, every non-alphanumeric character (punctuation, spaces) dropped."""
    if not title:
        return None
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    value = "".join(ch for ch in decomposed if ch.isalnum())
    return value or None


def _pmid_key(value) -> str | None:
    """A PMID as a string whether the column holds strings or (nullable) integers."""
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, str):
        return value.strip() or None
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return None


def _completeness(df: pd.DataFrame) -> list[int]:
    """Per row, how many of :data:`COMPLETENESS_FIELDS` hold a value (missing columns count as empty)."""
    total = pd.Series(0, index=df.index)
    for col in COMPLETENESS_FIELDS:
        if col not in df.columns:
            continue
        values = df[col]
        filled = values.notna() & values.map(lambda v: not (isinstance(v, str) and v == ""))
        total = total + filled.astype(int)
    return total.tolist()


class _DisjointSets:
    """Union-find over ``0..n-1`` (path halving, union by linking to the larger root index)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union_all(self, members: list[int]) -> None:
        if len(members) < 2:
            return
        root = self.find(members[-1])
        for i in members[:-1]:
            r = self.find(i)
            if r != root:
                self.parent[r] = root


def find_duplicates(df: pd.DataFrame, min_title_length: int = 20) -> pd.DataFrame:
    """Find records that are the same publication, across and within sources.

    Two records match on the same PMID, the same DOI (:func:`normalise_doi`), or the same title
    (:func:`normalise_title`, at least ``min_title_length`` characters) when their years agree or one
    is missing. Matches are transitive. In each group the kept record is the PubMed one if any, then
    the most complete (PMID, DOI, abstract, MeSH, authors, year, journal), then the smallest
    ``record_id``. Each dropped record is linked to the record through which a breadth-first search
    from the kept record first reached it (records in table order), with the strongest key the two share.

    Parameters
    ----------
    df : pandas.DataFrame
        The records table (:data:`evsynth.records.COLUMNS`; at least ``record_id``, ``source_db``,
        ``pmid``, ``doi``, ``title``, ``year``). PMIDs may be strings or integers.
    min_title_length : int
        Shortest normalised title that may match on its own.

    Returns
    -------
    pandas.DataFrame
        One row per input record, sorted by ``record_id``: ``record_id``, ``source_db``, ``group``
        (the kept record's id), ``kept`` (bool), ``match`` (``pmid``/``doi``/``title`` for a dropped
        record, empty when kept), ``matched_to`` (the record it matched), ``reason`` (plain words).
    """
    n = len(df)
    record_ids = df["record_id"].tolist()
    sources = df["source_db"].tolist()
    years = [None if pd.isna(y) else int(y) for y in df["year"]]
    keys = {
        "pmid": [_pmid_key(p) for p in df["pmid"]],
        "doi": [normalise_doi(d) if isinstance(d, str) else None for d in df["doi"]],
        "title": [normalise_title(t) if isinstance(t, str) else None for t in df["title"]],
    }

    # Key groups. pmid/doi groups are cliques; a title group is split into year buckets (None = year
    # unknown): bucket y is linked to itself and to bucket None, and bucket None to every bucket.
    groups_of: dict[str, dict[str, list[int]]] = {kind: {} for kind in KEY_PRIORITY}
    for kind in KEY_PRIORITY:
        seen = groups_of[kind]
        for i, key in enumerate(keys[kind]):
            if key and (kind != "title" or len(key) >= min_title_length):
                seen.setdefault(key, []).append(i)
    title_buckets: dict[str, dict[int | None, list[int]]] = {}
    for key, members in groups_of["title"].items():
        if len(members) > 1:
            buckets: dict[int | None, list[int]] = {}
            for i in members:
                buckets.setdefault(years[i], []).append(i)
            title_buckets[key] = buckets

    sets = _DisjointSets(n)
    for kind in ("pmid", "doi"):
        for members in groups_of[kind].values():
            sets.union_all(members)
    for key, buckets in title_buckets.items():
        if None in buckets:
            sets.union_all(groups_of["title"][key])
        else:
            for members in buckets.values():
                sets.union_all(members)

    components: dict[int, list[int]] = {}
    for i in range(n):
        components.setdefault(sets.find(i), []).append(i)

    completeness = _completeness(df)
    # Key groups still holding unvisited records; each is emptied the first time it is expanded.
    open_groups = {kind: {k: list(m) for k, m in groups_of[kind].items() if len(m) > 1} for kind in ("pmid", "doi")}
    open_titles = {k: {y: list(m) for y, m in b.items()} for k, b in title_buckets.items()}

    def neighbours(i: int, how: dict[int, tuple[str, str]]) -> list[tuple[int, str]]:
        """Unvisited records linked to ``i``, each with the strongest key they share, in table order."""
        found: dict[int, str] = {}
        for kind in ("pmid", "doi"):
            key = keys[kind][i]
            members = open_groups[kind].pop(key, None) if key else None
            for j in members or ():
                if j not in how and j not in found:
                    found[j] = kind
        key = keys["title"][i]
        buckets = open_titles.get(key) if key else None
        if buckets:
            year = years[i]
            take = list(buckets) if year is None else [b for b in (year, None) if b in buckets]
            for b in take:
                for j in buckets.pop(b):
                    if j not in how and j not in found:
                        found[j] = "title"
        return sorted(found.items())

    out = []
    for members in components.values():
        ranked = sorted(members, key=lambda i: (sources[i] != "pubmed", -completeness[i], record_ids[i]))
        kept = ranked[0]
        kept_id = record_ids[kept]
        how: dict[int, tuple[str, str]] = {kept: ("", "")}
        frontier = [kept]
        while frontier:  # breadth-first from the kept record: each record's own link into the group
            nxt = []
            for i in frontier:
                for j, kind in neighbours(i, how):
                    how[j] = (kind, record_ids[i])
                    nxt.append(j)
            frontier = nxt
        for i in members:
            kind, matched = how[i]
            if i == kept:
                reason = "only record" if len(members) == 1 else (
                    "kept: PubMed record" if sources[i] == "pubmed" else "kept: most complete record")
            else:
                reason = f"duplicate: same {kind} as {matched}"
            out.append((record_ids[i], sources[i], kept_id, i == kept, kind, matched, reason))
    return pd.DataFrame(out, columns=DEDUP_COLUMNS).sort_values("record_id", kind="stable").reset_index(drop=True)
