# evsynth pipeline. Thin by design: every rule calls a function of the evsynth package.
# Run: `make report` (or `snakemake --cores 2`). Config: config.yaml, checked against
# its schema (evsynth/schemas/config.schema.yaml), then turned once into the typed analysis plan
# (evsynth.analyses.options) that every analysis step receives.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from evsynth import processed
from evsynth.analyses.options import load_plan
from evsynth.config import ConfigError, validate_config
from evsynth.extraction.vocabulary import outcome_kinds, study_ids, table_files


configfile: "config.yaml"


try:
    validate_config(config, source="config")
except ConfigError as err:
    raise WorkflowError(f"invalid configuration:\n{err}")

MODE = config["pubmed"]["mode"]
PUBMED_DIR = config["pubmed"]["snapshot_dir"] if MODE == "snapshot" else config["pubmed"].get("live_dir", "data/raw/pubmed-live")
EXTRACTION = config["extraction"]["dir"]
# Every curated table is a real input: a typo in extraction.dir or a deleted table stops the run
# here, naming it, instead of letting Snakemake reuse results built from the old tables.
EXTRACTION_TABLES = table_files(EXTRACTION)
_missing = [p for p in EXTRACTION_TABLES.values() if not Path(p).is_file()]
if not Path(EXTRACTION).is_dir():
    raise WorkflowError(f"config: extraction.dir: folder {EXTRACTION!r} not found")
if _missing:
    raise WorkflowError(f"config: extraction.dir: table file {_missing[0]} not found"
                        + (f" (and {len(_missing) - 1} more)" if len(_missing) > 1 else ""))
try:
    PLAN = load_plan(config["analysis"], outcomes=outcome_kinds(EXTRACTION), study_ids=study_ids(EXTRACTION))
except (ConfigError, ValueError) as err:
    raise WorkflowError(f"invalid configuration:\n{err}")
# The included studies' extraction tables (written by the extract rule): everything after
# screening reads these, never the curated folder.
INCLUDED = table_files(processed.PROCESSED_DIR / "extraction")
INCLUDED_OUTPUTS = {f"included_{name}": path for name, path in INCLUDED.items()}

# A derived file emptied or corrupted in place keeps its time stamp: remove it (rule all requests every
# registered table), so that it and everything built from it is rebuilt in this run.
REBUILD = processed.remove_corrupt()
for _message in REBUILD.values():
    print(f"evsynth: {_message}", file=sys.stderr)

P = processed.path_of
FIGURES = ["onset", "duration", "side_effects", "prisma", "risk_of_bias"]
NOTEBOOKS = ["01_records", "02_meta_analysis", "03_figures"]
NOTEBOOK_OUTPUTS = (
    expand("results/notebooks/{nb}.html", nb=NOTEBOOKS) if config.get("report", {}).get("notebooks", True) else []
)


rule all:
    input:
        "results/report.html",
        "data/processed/exports/included.ris",
        "data/processed/exports/included.bib",
        P("effects_metafor"),
        NOTEBOOK_OUTPUTS,
        # every registered processed table: a missing or removed one is rebuilt, with what depends on it
        processed.pipeline_paths(),


include: "workflow/rules/retrieve.smk"
include: "workflow/rules/screen.smk"
include: "workflow/rules/extract.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/benchmarks.smk"
include: "workflow/rules/multiverse.smk"
include: "workflow/rules/report.smk"
