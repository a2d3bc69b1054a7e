# evsynth — the README's commands. `make report` and `make test` build .venv first when it is
# missing or older than pyproject.toml.
SHELL := /bin/bash
.DEFAULT_GOAL := report

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.evsynth-installed
CORES ?= 2

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

.PHONY: setup sysdeps report test reference bench clean validate

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

report: setup
	$(VENV)/bin/snakemake --cores $(CORES) --quiet progress rules all

test: setup sysdeps
	$(PY) -m pytest -n $(CORES) --dist loadfile -q

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

clean:
	rm -rf data/processed results .snakemake
