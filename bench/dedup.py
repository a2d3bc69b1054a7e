"""Benchmark: de-duplication when many records share one key (the worst case for pairwise matching).

Builds a records table of ``--records`` RIS-style records that all carry the same DOI (distinct
titles), runs :func:`evsynth.dedup.find_duplicates` in a fresh subprocess, and prints the time and
the peak memory of that subprocess (``ru_maxrss`` of the child, which includes the interpreter and
pandas). With ``--old N`` it also runs the previous pairwise algorithm (kept here, not in evsynth)
on ``N`` records for comparison; it is quadratic in time and memory, so keep N modest.

Goal (printed, not asserted): 10,000 records sharing one DOI in under 5 s and 300 MB.

Usage: ``python bench/dedup.py [--records 10000] [--old 3000]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

GOAL_SECONDS, GOAL_MB = 5.0, 300.0


def make_table(n: int):
    import pandas as pd

    from evsynth.records import COLUMNS

    rows = [{"record_id": f"ris:{i:06d}", "source_db": "ris", "doi": "10.9999/one.doi",
             "title": f"Record number {i} of a benchmark that shares one DOI", "year": 2020,
             "authors": "Doe J", "journal": "Bench J"} for i in range(n)]
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["year"] = pd.array(df["year"].tolist(), dtype="Int64")
    return df


def old_find_duplicates(df, min_title_length=20):
    """The pairwise algorithm evsynth used before evsynth.dedup (edges for every pair in a key group)."""
    import pandas as pd

    from evsynth.dedup import normalise_doi, normalise_title

    n = len(df)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    keys = {"pmid": [p if isinstance(p, str) and p else None for p in df["pmid"]],
            "doi": [normalise_doi(d) if isinstance(d, str) else None for d in df["doi"]],
            "title": [normalise_title(t) if isinstance(t, str) else None for t in df["title"]]}
    years = [None if pd.isna(y) else int(y) for y in df["year"]]
    edges = {}
    for kind in ("pmid", "doi", "title"):
        seen = {}
        for i, key in enumerate(keys[kind]):
            if key and (kind != "title" or len(key) >= min_title_length):
                seen.setdefault(key, []).append(i)
        for members in seen.values():
            for a_pos, a in enumerate(members):
                for b in members[a_pos + 1:]:
                    if kind == "title" and None not in (years[a], years[b]) and years[a] != years[b]:
                        continue
                    edges.setdefault((a, b), kind)
                    parent[find(a)] = find(b)
    groups = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    for members in groups.values():
        kept = members[0]
        how, frontier = {kept: ""}, [kept]
        while frontier:
            nxt = []
            for i in frontier:
                for j in members:
                    if j not in how and edges.get((min(i, j), max(i, j))):
                        how[j] = i
                        nxt.append(j)
            frontier = nxt
    return len(groups)


def child(which: str, n: int) -> None:
    import resource

    df = make_table(n)
    t0 = time.perf_counter()
    if which == "new":
        from evsynth.dedup import find_duplicates

        out = find_duplicates(df)
        groups = int(out.kept.sum())
    else:
        groups = old_find_duplicates(df)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"which": which, "records": n, "groups": groups, "seconds": seconds, "peak_mb": peak_mb}))


def run(which: str, n: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", which, "--records", str(n)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--old", type=int, default=3000, help="records for the old pairwise algorithm (0: skip)")
    parser.add_argument("--child", choices=["new", "old"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.records)
        return 0
    new = run("new", args.records)
    ok = new["seconds"] < GOAL_SECONDS and new["peak_mb"] < GOAL_MB
    print(f"evsynth.dedup  {new['records']:>6} records, one DOI: {new['seconds']:.2f} s, peak {new['peak_mb']:.0f} MB "
          f"(goal < {GOAL_SECONDS:g} s and < {GOAL_MB:g} MB: {'met' if ok else 'NOT met'})")
    if args.old:
        old = run("old", args.old)
        small = run("new", args.old)
        print(f"pairwise (old) {old['records']:>6} records, one DOI: {old['seconds']:.2f} s, peak {old['peak_mb']:.0f} MB; "
              f"evsynth.dedup on the same: {small['seconds']:.2f} s, peak {small['peak_mb']:.0f} MB "
              f"(ratio old/new time {old['seconds'] / max(small['seconds'], 1e-9):.0f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
