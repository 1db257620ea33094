# codecbench: `make run` runs the default experiment, `make test` the test suite. Both create .venv first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all

# Every cache inside the project: nothing is written to $HOME.
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export XDG_CACHE_HOME := $(CURDIR)/.cache/xdg
export TORCH_HOME := $(CURDIR)/.cache/torch
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip

.PHONY: setup run report dry-run test lint format bench lock clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

report: run
	$(BIN)/snakemake --report results/report.html

dry-run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --dry-run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

test: lint
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile rules

bench: $(STAMP)
	$(BIN)/python benchmarks/jpeg_vs_compressai.py $(or $(IMAGES),../shared/data/kodak)
	$(BIN)/python benchmarks/learned_vs_eval_model.py $(or $(IMAGES),../shared/data/kodak)

lock: $(STAMP)
	head -2 requirements.lock > requirements.lock.new
	$(BIN)/python -m pip freeze --exclude-editable | grep -iv '^codecbench' >> requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf results .snakemake
