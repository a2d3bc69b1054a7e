"""Merge per-extractor staging folders into the extraction tables and the snapshot bibliography.

Used once per extraction round:  python tools/merge_staging.py STAGING_DIR EXTRACTION_DIR PUBMED_DIR SCREENING_DIR

* concatenates studies/arms/outcomes/contrasts/adverse_events from every STAGING_DIR/*/ folder
  (header rows must match the schema's column order) into EXTRACTION_DIR;
* concatenates the bibliography.csv files into PUBMED_DIR/bibliography.csv (one row per PMID);
* writes SCREENING_DIR/decisions.csv: the staged exclusion decisions plus an ``include`` row for each
  included study's primary and secondary PubMed records.
Studies with neither a PMID nor a DOI are left out (a study must be identified on a PubMed or
journal page); the script prints them.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

TABLES = ["studies", "arms", "outcomes", "contrasts", "adverse_events"]


def read(path: Path) -> tuple[list[str], list[dict]]:
    if not path.is_file():
        return [], []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write(path: Path, header: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n", extrasaction="raise")
        w.writeheader()
        w.writerows(rows)


def main(staging: Path, extraction: Path, pubmed: Path, screening: Path) -> int:
    groups = sorted(p for p in staging.iterdir() if p.is_dir())
    merged: dict[str, tuple[list[str], list[dict]]] = {}
    dropped: set[str] = set()
    for group in groups:
        header, rows = read(group / "studies.csv")
        for r in rows:
            if not r["pmid"].strip() and not r["doi"].strip():
                dropped.add(r["study_id"])
                print(f"{group.name}: {r['study_id']} left out: neither PMID nor DOI confirmed")
    for name in TABLES:
        header_all: list[str] = []
        rows_all: list[dict] = []
        for group in groups:
            header, rows = read(group / f"{name}.csv")
            if not header:
                continue
            if header_all and header != header_all:
                raise SystemExit(f"{group / (name + '.csv')}: header differs from the other groups")
            header_all = header
            rows_all += [r for r in rows if r["study_id"] not in dropped]
        merged[name] = (header_all, rows_all)
        write(extraction / f"{name}.csv", header_all, rows_all)
    bib_rows: dict[str, dict] = {}
    bib_header: list[str] = []
    for group in groups:
        header, rows = read(group / "bibliography.csv")
        bib_header = header or bib_header
        for r in rows:
            if r.get("study_id") in dropped or not r["pmid"].strip():
                continue
            bib_rows.setdefault(r["pmid"], r)
    write(pubmed / "bibliography.csv", bib_header, sorted(bib_rows.values(), key=lambda r: int(r["pmid"])))
    decisions: dict[str, dict] = {}
    studies = {r["study_id"] for r in merged["studies"][1]}
    for group in groups:
        for r in read(group / "decisions.csv")[1]:
            if r.get("study_id") and r["study_id"] not in studies:  # linked study not extracted: keep, unlink
                r = r | {"study_id": "", "notes": f"linked study {r['study_id']} not extracted (see notes)"}
            decisions[r["pmid"]] = {"pmid": r["pmid"], "decision": r["decision"], "reason": r["reason"],
                                    "study_id": r.get("study_id", ""), "notes": r.get("notes", "")}
    for r in bib_rows.values():
        if r.get("study_id") in studies and r["pmid"] not in decisions:
            reason = "primary_report" if r.get("role") == "primary" else "linked_report"
            decisions[r["pmid"]] = {"pmid": r["pmid"], "decision": "include", "reason": reason,
                                    "study_id": r["study_id"], "notes": ""}
    write(screening / "decisions.csv", ["pmid", "decision", "reason", "study_id", "notes"],
          sorted(decisions.values(), key=lambda r: int(r["pmid"])))
    print(f"merged {len(groups)} groups: {len(studies)} studies, {len(bib_rows)} PubMed records, "
          f"{len(decisions)} decisions")
    return 0


if __name__ == "__main__":
    sys.exit(main(*map(Path, sys.argv[1:5])))
