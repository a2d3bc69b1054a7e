# evsynth — the README's commands. `make report` and `make test` build .venv first when it is
# missing or older than pyproject.toml.
SHELL := /bin/bash
.DEFAULT_GOAL := report

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.evsynth-installed
CORES ?= 2
# make report MODE=live: run on a live PubMed search (pubmed.mode: live) instead of the shipped snapshot.
# make report UPDATE=1 (implies MODE=live): search PubMed again first (`make update`), then build the report.
UPDATE ?=
MODE ?= $(if $(filter 1 yes true,$(UPDATE)),live)
RUN_CONFIG := $(if $(MODE),--config 'pubmed={mode: $(MODE)}')

# Tool caches live inside the project (git-ignored).
export XDG_CACHE_HOME := $(ROOT)/.cache
export MPLCONFIGDIR := $(ROOT)/.cache/matplotlib
export UV_CACHE_DIR := $(ROOT)/.cache/uv
export JUPYTER_CONFIG_DIR := $(ROOT)/.cache/jupyter/config
export JUPYTER_DATA_DIR := $(ROOT)/.cache/jupyter/data
export JUPYTER_RUNTIME_DIR := $(ROOT)/.cache/jupyter/runtime
export IPYTHONDIR := $(ROOT)/.cache/ipython
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PATH := $(VENV)/bin:$(PATH)

.PHONY: setup sysdeps report test reference bench clean validate update snapshot

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
	uv venv -q --allow-existing --python python3 $(VENV)
	uv pip install -q --python $(PY) --compile-bytecode -e '.[dev]'
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	@touch $(STAMP)

# Debian packages: Chromium for the report's browser test. Installed only when missing;
# needs root (CI and developer machines here run as root).
sysdeps:
	@bash tools/install-sysdeps.sh chromium

report: setup $(if $(filter 1 yes true,$(UPDATE)),update)
	@$(VENV)/bin/evsynth run --cores $(CORES) $(RUN_CONFIG)

# Living review: search PubMed again (pubmed.* in config.yaml), keep the dated search history
# (pubmed.history_dir) and write data/processed/screening_queue.csv. A failed search changes nothing.
update: setup
	$(VENV)/bin/evsynth update

# Refresh the shipped snapshot (data/raw/pubmed) from a new live search.
snapshot: update
	$(VENV)/bin/evsynth snapshot-refresh

test: setup sysdeps
	CORES=$(CORES) $(PY) -m pytest -n $(CORES) --dist loadfile -q

validate: setup
	$(VENV)/bin/evsynth validate data/raw/extraction

# Reference values from R's metafor (Debian r-cran-metafor); the tests do not need R.
reference: setup
	@bash tools/install-sysdeps.sh r
	for f in tests/reference/*.R; do echo "Rscript $$f"; Rscript "$$f" tests/reference || exit 1; done

bench: setup
	$(PY) bench/parse.py
	$(PY) bench/pooling.py
	$(PY) bench/pipeline.py
	$(PY) bench/dedup.py
	$(PY) bench/multiverse.py

clean:
	rm -rf data/processed results .snakemake
