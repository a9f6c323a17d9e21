"""Shared by the portability tests: build the models on DuckDB from generated demo data, run dbt on
another engine, and compare every KPI mart (and the core facts of CORE_TABLES) between the two engines:
every row and every column."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import yaml

from orchestration.contract import OBJECTS
from orchestration.ingestion.loader import ensure_raw_schema, list_extract_dates, load_batches
from orchestration.settings import PROJECT_ROOT
from orchestration.tooling.demo_data import generate
from orchestration.tooling.report import KpiSummary
from orchestration.warehouse import connect_warehouse


def pg_params() -> dict[str, str]:
    """The test PostgreSQL server's connection settings (``.ci/postgres.sh start`` prints them)."""
    return {
        "host": os.environ.get("SALES_WH_PG_HOST", "127.0.0.1"),
        "port": os.environ.get("SALES_WH_PG_PORT", "54329"),
        "user": os.environ.get("SALES_WH_PG_USER", "postgres"),
        "password": os.environ.get("SALES_WH_PG_PASSWORD", ""),
    }


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[dict[str, str]]:
    """A new PostgreSQL database ``<prefix>_<pid>`` (dropped afterwards); its connection settings. Skips
    the test without a server, or fails it when SALES_WH_REQUIRE_POSTGRES=1 (CI)."""
    import psycopg2
    import pytest

    params = pg_params()
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=3, **params)
    except psycopg2.OperationalError as exc:
        if os.environ.get("SALES_WH_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but not reachable: {exc}")
        pytest.skip(f"no PostgreSQL server ({exc.__class__.__name__}); run .ci/postgres.sh start")
    admin.autocommit = True
    name = f"{prefix}_{os.getpid()}"
    try:
        with admin.cursor() as cur:
            cur.execute(f"drop database if exists {name} with (force)")
            cur.execute(f"create database {name}")
        yield {**params, "dbname": name}
        with admin.cursor() as cur:
            cur.execute(f"drop database if exists {name} with (force)")
    finally:
        admin.close()


def kpi_tables() -> list[str]:
    """Every KPI mart of the dbt project (models/marts/kpi/kpi_*.sql)."""
    return sorted(p.stem for p in (PROJECT_ROOT / "models" / "marts" / "kpi").glob("kpi_*.sql"))


#: Core models compared like the marts, by their grain: their SQL is as engine-sensitive as a mart's
#: (the daily pipeline rebuilds every past day from windows and date arithmetic). Lineage columns
#: (`_built_at`, the build's time) are left out.
CORE_TABLES: dict[str, list[str]] = {"fct_pipeline_daily": ["as_of_date", "opportunity_id"]}


def build_duckdb_warehouse(tmp_path: Path, *, days: int = 60, seed: int = 11) -> Path:
    """Generate demo extracts, load them into a fresh DuckDB warehouse and `dbt build` it there."""
    landing = tmp_path / "landing"
    generate(landing, scale="S", days=days, seed=seed, start=date(2025, 1, 1), progress=False)
    warehouse = tmp_path / "warehouse.duckdb"
    con = connect_warehouse(warehouse)
    ensure_raw_schema(con)
    for obj in OBJECTS:
        load_batches(con, obj, landing, list_extract_dates(landing, obj))
    con.close()
    # Unit tests on DuckDB run in test_checks_bite; here the data is what is compared.
    build = ["build", "--target", "duckdb", "--exclude-resource-type", "unit_test"]
    run_dbt(build, {"SALES_WH_WAREHOUSE": str(warehouse)}, tmp_path / "t_duckdb")
    return warehouse


def run_dbt(args: list[str], env: dict[str, str], target_path: Path) -> None:
    cmd = [
        str(Path(sys.executable).parent / "dbt"),
        *args,
        "--profiles-dir",
        str(PROJECT_ROOT / "dbt_project"),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path / "logs"),
    ]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    assert proc.returncode == 0, f"dbt {' '.join(args)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"


#: Relative and absolute tolerance of a floating-point or decimal value (about 6 significant digits;
#: amounts are decimal(18, 2) now, but intermediate and exact-sum columns are numeric(28, 6), whose last
#: digit may round differently after a double computation).
REL_TOL, ABS_TOL = 1e-6, 1e-6

Rows = list[tuple[Any, ...]]
#: ``query_other(queries)``: for each query, the column names of its answer and all its rows.
QueryOther = Callable[[list[str]], list[tuple[list[str], Rows]]]


def mart_query(table: str, key: list[str], schema: str = "marts", columns: list[str] | None = None) -> str:
    """The same query on every engine: every column of the mart (or ``columns``), ordered by its grain."""
    select = ", ".join(columns) if columns else "*"
    return f"select {select} from {schema}.{table} order by {', '.join(key)}"


@dataclass(frozen=True)
class Mart:
    """A KPI mart as DuckDB built it: columns, DuckDB types, the grain (sort key) and all its rows."""

    table: str
    columns: list[str]
    types: list[str]
    key: list[str]
    rows: Rows
    schema: str = "marts"

    @property
    def query(self) -> str:
        return mart_query(self.table, self.key, self.schema, self.columns)


def mart_key(table: str, columns: list[str]) -> list[str]:
    """The grain of a KPI mart: the columns of its ``unique_combination_of_columns`` test
    (models/marts/kpi/_<table>.yml, else whichever YAML of the folder declares the model, as when one
    file holds two marts); every column when it has none."""
    folder = PROJECT_ROOT / "models" / "marts" / "kpi"
    own = folder / f"_{table}.yml"
    for path in [own] if own.exists() else sorted(folder.glob("_*.yml")):
        spec = yaml.safe_load(path.read_text()) or {}
        for model in spec.get("models", []):
            for test in model.get("data_tests", []) if model.get("name") == table else []:
                if isinstance(test, dict) and "unique_combination_of_columns" in test:
                    return list(test["unique_combination_of_columns"]["arguments"]["combination_of_columns"])
    return columns


def duckdb_marts(warehouse: Path) -> list[Mart]:
    """Every KPI mart and every table of CORE_TABLES of the DuckDB warehouse, every row, without lineage
    columns (`_built_at` of an incremental mart: the build's time differs by engine)."""
    duck = duckdb.connect(str(warehouse), read_only=True)
    marts = []
    try:
        for table in kpi_tables():
            cols = [
                (c, t)
                for c, t in duck.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                    [table],
                ).fetchall()
                if not c.startswith("_")
            ]
            assert cols, f"marts.{table} missing in DuckDB"
            names = [c for c, _ in cols]
            key = mart_key(table, names)
            rows = duck.execute(mart_query(table, key, "marts", names)).fetchall()
            marts.append(Mart(table, names, [t for _, t in cols], key, rows))
        for table, key in CORE_TABLES.items():
            cols = [
                (c, t)
                for c, t in duck.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = 'core' and table_name = ? order by ordinal_position",
                    [table],
                ).fetchall()
                if not c.startswith("_")
            ]
            assert cols, f"core.{table} missing in DuckDB"
            names = [c for c, _ in cols]
            rows = duck.execute(mart_query(table, key, "core", names)).fetchall()
            marts.append(Mart(table, names, [t for _, t in cols], key, rows, "core"))
    finally:
        duck.close()
    return marts


def normalise(value: Any, duckdb_type: str) -> Any:
    """One comparable form per DuckDB column type, whatever the engine's driver returns (Decimal or
    float, date or ISO text, bool or 'true'): floats for DOUBLE / DECIMAL, ints, bools, ISO text for
    dates (a timestamp in a DATE column stays a timestamp, so it differs) and timestamps, else text."""
    if value is None:
        return None
    kind = duckdb_type.upper()
    if kind.startswith(("DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")):
        return float(value)
    if kind.endswith("INT") or kind in {"BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT"}:
        return int(value)
    if kind == "BOOLEAN":
        return value.strip().lower() in {"true", "t", "1"} if isinstance(value, str) else bool(value)
    if kind == "DATE":
        return value.isoformat() if isinstance(value, date) else str(value)
    if kind.startswith("TIMESTAMP"):
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return stamp.isoformat(sep=" ")
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return a == b and type(a) is type(b)


def _sort_key(row: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((v is not None, "" if v is None else v) for v in row)


def compare_mart(mart: Mart, other_columns: list[str], other_rows: Rows, engine: str) -> None:
    """Every row and column of ``mart`` equal on the other engine: the same columns in the same order,
    the same grain keys, and per row every value equal after :func:`normalise` (floats within
    REL_TOL / ABS_TOL). Rows are matched by the grain, sorted in Python (engines order NULLs and text
    differently). The message names the table, the first differing row (its key) and column."""
    where = f"{mart.schema}.{mart.table}"
    other_columns = [c.lower() for c in other_columns]
    assert other_columns == mart.columns, (
        f"{where}: columns on DuckDB {mart.columns}, on {engine} {other_columns}"
    )

    def prepared(rows: Rows) -> list[tuple[tuple[Any, ...], tuple[Any, ...]]]:
        out = []
        for row in rows:
            values = tuple(normalise(v, t) for v, t in zip(row, mart.types, strict=True))
            out.append((tuple(values[mart.columns.index(k)] for k in mart.key), values))
        return sorted(out, key=lambda kv: _sort_key(kv[0]))

    duck, other = prepared(mart.rows), prepared(other_rows)
    duck_keys, other_keys = [k for k, _ in duck], [k for k, _ in other]
    if duck_keys != other_keys:
        only_duck = [k for k in duck_keys if k not in set(other_keys)]
        only_other = [k for k in other_keys if k not in set(duck_keys)]
        raise AssertionError(
            f"{where} ({', '.join(mart.key)}): {len(duck)} rows on DuckDB, {len(other)} on {engine}; "
            f"only on DuckDB: {only_duck[:3]}, only on {engine}: {only_other[:3]}"
            + ("" if only_duck or only_other else " (duplicate keys)")
        )
    for (key, d_row), (_, o_row) in zip(duck, other, strict=True):
        for column, d, o in zip(mart.columns, d_row, o_row, strict=True):
            if not _same(d, o):
                raise AssertionError(
                    f"{where} row {dict(zip(mart.key, key, strict=True))}: {column} is {d!r} on DuckDB, "
                    f"{o!r} on {engine}"
                )


def assert_same_marts(warehouse: Path, query_other: QueryOther, engine: str = "the other engine") -> None:
    """Every KPI mart is the same on DuckDB and on the other engine, row by row and column by column
    (``query_other`` answers each mart's query there with its column names and all its rows)."""
    marts = duckdb_marts(warehouse)
    answers = query_other([mart.query for mart in marts])
    for mart, (columns, rows) in zip(marts, answers, strict=True):
        compare_mart(mart, columns, rows, engine)


def assert_same_summary(on_duck: KpiSummary, on_other: KpiSummary) -> None:
    """The KPI summary (orchestration.tooling.report.KpiSummary) read on another engine equals DuckDB's:
    every figure, the stage names and periods, the objects not found (not where or when it published)."""
    import dataclasses

    import pytest

    for field in dataclasses.fields(on_duck):
        if field.name in {"published_path", "last_published_at"}:
            continue
        d, o = getattr(on_duck, field.name), getattr(on_other, field.name)
        if isinstance(d, float):
            assert o == pytest.approx(d, rel=1e-9), field.name
        elif isinstance(d, tuple):
            assert o is not None and o[0] == d[0] and o[1] == pytest.approx(d[1], rel=1e-9), field.name
        else:
            assert o == d, field.name
    assert on_duck.win_rate is not None and 0 < on_duck.win_rate < 1
    assert on_duck.bookings_total is not None and on_duck.bookings_total > 0
