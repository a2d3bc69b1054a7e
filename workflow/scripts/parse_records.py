"""Snakemake script: PubMed XML (+ other databases' exports) -> records.csv, duplicates, search record."""
import json
from pathlib import Path

from evsynth.io import write_csv, write_json
from evsynth.records import find_duplicates, read_records, records_table, write_records_csv

pubmed_dir = Path(snakemake.params.pubmed_dir)
inputs = sorted(pubmed_dir.glob("*.xml")) + [Path(p) for p in snakemake.input.extra]
table = records_table(rec for path in inputs for rec in read_records(path))
dedup = find_duplicates(table)
kept = set(dedup.loc[dedup.kept, "record_id"])
write_records_csv(table[table.record_id.isin(kept)], snakemake.output.records)
write_csv(dedup[~dedup.kept], snakemake.output.dedup)
search = json.loads((pubmed_dir / "search.json").read_text(encoding="utf-8"))
write_json(snakemake.output.search, search | {"mode": snakemake.params.mode, "source_dir": str(pubmed_dir)})
