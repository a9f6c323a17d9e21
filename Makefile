# The two commands of the README: `make run` and `make test`. Everything else is a convenience.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

SCALE ?= S
DAYS ?= 365
SEED ?= 7
START ?= 2025-01-01
export SALES_WH_PARTITION_START ?= $(START)
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: install run test test-fast lint format ui bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,postgres]"
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

## Generate demo data, run the whole pipeline through Dagster, publish, print a KPI summary.
run: install
	@mkdir -p $(DAGSTER_HOME)
	$(BIN)/sales-wh demo --scale $(SCALE) --days $(DAYS) --seed $(SEED) --start $(START)

## Lint, then the whole test suite (unit, dbt, Dagster end-to-end, PostgreSQL portability when a server is up).
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not e2e"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Dagster UI with the asset graph, checks, schedule and sensor (http://127.0.0.1:3000).
ui: install
	@mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

## dbt documentation site of the models (target/index.html).
docs: install
	$(BIN)/dbt docs generate --profiles-dir dbt_project

## Benchmarks at SCALE=S|M|L, written to docs/BENCHMARKS.md.
bench: install
	$(BIN)/python -m orchestration.bench --scale $(SCALE)

clean:
	rm -rf data target logs .pytest_cache .ruff_cache
