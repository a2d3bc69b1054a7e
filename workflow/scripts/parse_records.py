"""Snakemake script: PubMed XML (+ other databases' exports) -> records.csv (every record), search record.

De-duplication is part of screening (workflow/scripts/screen.py)."""
from pathlib import Path

from evsynth.errors import InputError
from evsynth.io import read_json, write_json
from evsynth.parsers.medline_xml import MedlineParseError
from evsynth.records import RecordsInputError, read_records, records_table, write_records_csv
from evsynth.steps import step

with step(snakemake):
    pubmed_dir = Path(snakemake.params.pubmed_dir)
    inputs = sorted(pubmed_dir.glob("*.xml")) + [Path(p) for p in snakemake.input.extra]
    try:
        table = records_table(rec for path in inputs for rec in read_records(path))
    except (RecordsInputError, MedlineParseError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(" ".join(str(exc).split())) from None
    try:
        search = read_json(pubmed_dir / "search.json")
    except ValueError as exc:
        raise InputError(f"{pubmed_dir / 'search.json'}: not valid JSON ({exc})") from None
    write_records_csv(table, snakemake.output.records)
    write_json(snakemake.output.search, search | {"mode": snakemake.params.mode, "source_dir": str(pubmed_dir)})
