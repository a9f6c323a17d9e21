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
# Instance config (one warehouse-writing run at a time); copied into DAGSTER_HOME when it has none.
DAGSTER_YAML := orchestration/dagster.yaml

.PHONY: install dagster-home run test test-spark test-fast lint format twins ui bench docs reliability clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# setuptools' notice that every editable install prints ("Editable installation... be careful with
	@# folders in your working directory"): the repo *is* the working directory by design. Only that one
	@# message is silenced; any other build warning still shows.
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q -e ".[dev,postgres]"
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

dagster-home:
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || cp $(DAGSTER_YAML) $(DAGSTER_HOME)/dagster.yaml
	@grep -q 'sales_wh/warehouse_writer' $(DAGSTER_HOME)/dagster.yaml || echo "warning: $(DAGSTER_HOME)/dagster.yaml has no run limit on sales_wh/warehouse_writer (see $(DAGSTER_YAML))"

## Generate demo data, run the whole pipeline through Dagster, publish, print a KPI summary.
run: install dagster-home
	$(BIN)/sales-wh demo --scale $(SCALE) --days $(DAYS) --seed $(SEED) --start $(START)

## Lint, then the whole test suite (unit, dbt, Dagster end-to-end, PostgreSQL portability when a server is up),
## in TEST_WORKERS processes (pytest-xdist; a test file stays in one process, so its fixtures are built once).
TEST_WORKERS ?= 2
test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

## dbt models on a local Apache Spark (dbt-spark session; needs Java 17), compared with DuckDB, then the
## whole pipeline on Spark through a local Thrift server (.ci/spark.sh, started by the test). Slow.
test-spark: install
	$(BIN)/python -m pip install -q -e ".[dev,postgres,spark]"
	SALES_WH_SPARK_TESTS=1 $(BIN)/pytest tests/test_portability_spark.py tests/test_spark_run_e2e.py

test-fast: install
	$(BIN)/pytest -m "not e2e"

## ruff, SQLFluff (dbt templater), mypy, and the generated twins (sources YAML, KPI_DEFINITIONS.md) up to date.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SALES_WH_WAREHOUSE=:memory: $(BIN)/sqlfluff lint models dbt_project --processes 2
	$(BIN)/mypy --config-file mypy.ini
	$(BIN)/python -m orchestration.tooling.twins all --check

## Regenerate the twins: dbt sources YAML from orchestration/contract.py, docs/KPI_DEFINITIONS.md from the doc blocks.
twins: install
	$(BIN)/python -m orchestration.tooling.twins all --write

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	SALES_WH_WAREHOUSE=:memory: $(BIN)/sqlfluff fix models dbt_project --processes 2

## Dagster UI with the asset graph, checks, schedule and sensor (http://127.0.0.1:3000).
ui: install dagster-home
	$(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

## Reliability suites, full sets (every kill point, full disk, unwritable folder, readers, corpus), written to docs/RELIABILITY.md.
reliability: install
	$(BIN)/python -m orchestration.tooling.reliability

## dbt documentation site: models, columns, tests, lineage and exposures (target/index.html, and
## target/static_index.html that opens as a file). The catalog (column types, row counts) is read from the
## warehouse (SALES_WH_WAREHOUSE, default data/warehouse.duckdb) when it exists, else from an empty in-memory
## DuckDB: a fresh clone gets the site without a run (types from the models' contracts, no row counts).
## Not while a run holds the warehouse (DuckDB lets one process open it). DBT_TARGET_PATH moves target/.
docs: install
	@warehouse="$${SALES_WH_WAREHOUSE:-data/warehouse.duckdb}"; \
	if [ "$$warehouse" != ":memory:" ] && [ ! -f "$$warehouse" ]; then \
		echo "No warehouse at $$warehouse yet (make run builds it): catalog from an empty DuckDB."; \
		warehouse=":memory:"; \
	fi; \
	SALES_WH_WAREHOUSE="$$warehouse" $(BIN)/dbt docs generate --profiles-dir dbt_project --static
	@target="$${DBT_TARGET_PATH:-target}"; \
	echo "dbt docs site: $$target/static_index.html (open it in a browser), or serve $$target/index.html:"; \
	echo "  $(BIN)/dbt docs serve --profiles-dir dbt_project --port 8080   # http://localhost:8080"

## Benchmarks at SCALE=S|M|L, written to docs/BENCHMARKS.md; PART=pipeline|dialects|engines (engines: the same runs
## on each of ENGINES side by side; postgres needs a server, SALES_WH_PG_*; spark needs the spark extra and Java 17).
PART ?= all
ENGINES ?= duckdb,postgres
bench: install
	$(BIN)/python -m orchestration.tooling.bench --scale $(SCALE) --part $(PART) --engines $(ENGINES)

clean:
	rm -rf data target logs .pytest_cache .ruff_cache
