"""Shared by the portability tests: build the models on DuckDB from generated demo data, run dbt on
another engine, and compare every KPI mart between the two engines."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.contract import OBJECTS
from orchestration.ingestion.loader import ensure_raw_schema, list_extract_dates, load_batches
from orchestration.settings import PROJECT_ROOT
from orchestration.tooling.demo_data import generate
from orchestration.warehouse import connect_warehouse

NUMERIC_PREFIXES = ("DOUBLE", "DECIMAL", "BIGINT", "INTEGER", "HUGEINT", "FLOAT")


def kpi_tables() -> list[str]:
    """Every KPI mart of the dbt project (models/marts/kpi/kpi_*.sql)."""
    return sorted(p.stem for p in (PROJECT_ROOT / "models" / "marts" / "kpi").glob("kpi_*.sql"))


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
    run_dbt(["build", "--target", "duckdb"], {"SALES_WH_WAREHOUSE": str(warehouse)}, tmp_path / "t_duckdb")
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


def mart_fingerprints(warehouse: Path) -> dict[str, tuple[str, list[str], tuple]]:
    """Per KPI mart: the fingerprint query (row count and the sum of every numeric column), the names of
    its values, and its answer on DuckDB."""
    duck = duckdb.connect(str(warehouse), read_only=True)
    out = {}
    try:
        for table in kpi_tables():
            cols = duck.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            assert cols, f"marts.{table} missing in DuckDB"
            numeric = [c for c, t in cols if t.startswith(NUMERIC_PREFIXES)]
            aggs = ", ".join(["count(*)"] + [f"round(cast(sum({c}) as decimal(38, 6)), 4)" for c in numeric])
            sql = f"select {aggs} from marts.{table}"
            out[table] = (sql, ["count", *numeric], duck.execute(sql).fetchone())
    finally:
        duck.close()
    return out


def assert_same_marts(warehouse: Path, query_other: Callable[[list[str]], list[tuple]]) -> None:
    """Every KPI mart has the same row count and column sums on DuckDB and on the other engine
    (``query_other(queries)`` answers each single-row query there)."""
    expected = mart_fingerprints(warehouse)
    answers = query_other([sql for sql, _, _ in expected.values()])
    for (table, (_, names, duck_vals)), other_vals in zip(expected.items(), answers, strict=True):
        for name, d, o in zip(names, duck_vals, other_vals, strict=True):
            if d is None or o is None:
                assert d is None and o is None, f"{table}.{name}: DuckDB {d} vs {o}"
            else:
                same = float(d) == pytest.approx(float(o), rel=1e-6, abs=1e-3)
                assert same, f"{table}.{name}: DuckDB {d} vs {o}"
