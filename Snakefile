# evsynth pipeline. Thin by design: every rule calls a function of the evsynth package.
# Run: `make report` (or `snakemake --cores 2`). Config: config.yaml, checked against
# workflow/schemas/config.schema.yaml before anything runs.
from pathlib import Path

from snakemake.exceptions import WorkflowError

from evsynth.config import ConfigError, validate_config


configfile: "config.yaml"


try:
    validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml", source="config")
except ConfigError as err:
    raise WorkflowError(f"invalid configuration:\n{err}")

MODE = config["pubmed"]["mode"]
PUBMED_DIR = config["pubmed"]["snapshot_dir"] if MODE == "snapshot" else config["pubmed"].get("live_dir", "data/raw/pubmed-live")
EXTRACTION = config["extraction"]["dir"]
EXTRACTION_TABLES = [
    f"{EXTRACTION}/{name}.csv" for name in ("studies", "arms", "outcomes", "contrasts", "adverse_events")
] + [f"{EXTRACTION}/vocabulary/adverse_events.csv"]
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
        "data/processed/exports/effects_metafor.csv",
        NOTEBOOK_OUTPUTS,


include: "workflow/rules/retrieve.smk"
include: "workflow/rules/screen.smk"
include: "workflow/rules/extract.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"

