"""The same dbt models build on PostgreSQL and give the same KPI marts as on DuckDB.

Needs a PostgreSQL server (``.ci/postgres.sh start`` prints the SALES_WH_PG_* variables). Without one the
test is skipped, unless SALES_WH_REQUIRE_POSTGRES=1 (set by CI), where a missing server is a failure.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.contract import OBJECTS, RAW_SCHEMA
from orchestration.demo_data import generate
from orchestration.ingestion.loader import ensure_raw_schema, list_extract_dates, load_batches
from orchestration.settings import PROJECT_ROOT
from orchestration.warehouse import connect_warehouse

psycopg2 = pytest.importorskip("psycopg2")

pytestmark = pytest.mark.e2e

KPI_TABLES = (
    "kpi_bookings",
    "kpi_quota_attainment",
    "kpi_deal_size",
    "kpi_win_rate",
    "kpi_lead_funnel",
    "kpi_pipeline_funnel",
    "kpi_stage_bottlenecks",
    "kpi_pipeline_coverage",
    "kpi_sales_velocity",
    "kpi_rep_activity",
    "kpi_activity_effectiveness",
    "kpi_territory_balance",
)

PG_TYPES = {"DOUBLE": "double precision", "VARCHAR": "text"}


def _pg_params() -> dict[str, str]:
    return {
        "host": os.environ.get("SALES_WH_PG_HOST", "127.0.0.1"),
        "port": os.environ.get("SALES_WH_PG_PORT", "54329"),
        "user": os.environ.get("SALES_WH_PG_USER", "postgres"),
        "password": os.environ.get("SALES_WH_PG_PASSWORD", ""),
    }


@pytest.fixture(scope="module")
def pg_database():
    params = _pg_params()
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=3, **params)
    except psycopg2.OperationalError as exc:
        if os.environ.get("SALES_WH_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but not reachable: {exc}")
        pytest.skip(f"no PostgreSQL server ({exc.__class__.__name__}); run .ci/postgres.sh start")
    admin.autocommit = True
    name = f"sales_wh_test_{os.getpid()}"
    with admin.cursor() as cur:
        cur.execute(f"drop database if exists {name}")
        cur.execute(f"create database {name}")
    yield {**params, "dbname": name}
    with admin.cursor() as cur:
        cur.execute(f"drop database if exists {name} with (force)")
    admin.close()


def _dbt(args: list[str], env: dict[str, str], target_path: Path) -> None:
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
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"


def _copy_raw_to_postgres(con: duckdb.DuckDBPyConnection, pg) -> None:
    """Create schema raw in PostgreSQL with the DuckDB column types and COPY every raw table over."""
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [RAW_SCHEMA]
        ).fetchall()
    ]
    with pg.cursor() as cur:
        cur.execute(f"create schema if not exists {RAW_SCHEMA}")
        for table in tables:
            cols = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [RAW_SCHEMA, table],
            ).fetchall()
            ddl = ", ".join(f'"{c}" {PG_TYPES.get(t, t.lower())}' for c, t in cols)
            cur.execute(f'create table {RAW_SCHEMA}."{table}" ({ddl})')
            buf = io.StringIO()
            con.execute(f'select * from {RAW_SCHEMA}."{table}"').df().to_csv(buf, index=False, header=False)
            buf.seek(0)
            cur.copy_expert(f'copy {RAW_SCHEMA}."{table}" from stdin with (format csv)', buf)
    pg.commit()
    with pg.cursor() as cur:  # fresh tables have no statistics: without them some joins take minutes
        cur.execute("analyze")
    pg.commit()


def test_models_build_on_postgres_with_same_kpis(tmp_path: Path, pg_database) -> None:
    landing = tmp_path / "landing"
    generate(landing, scale="S", days=60, seed=11, start=date(2025, 1, 1))
    warehouse = tmp_path / "warehouse.duckdb"
    con = connect_warehouse(warehouse)
    ensure_raw_schema(con)
    for obj in OBJECTS:
        load_batches(con, obj, landing, list_extract_dates(landing, obj))

    base_env = {**os.environ, "SALES_WH_WAREHOUSE": str(warehouse)}
    pg = psycopg2.connect(**pg_database)
    _copy_raw_to_postgres(con, pg)
    con.close()

    _dbt(["build", "--target", "duckdb"], base_env, tmp_path / "target_duckdb")
    pg_env = {
        **base_env,
        "SALES_WH_DBT_TARGET": "postgres",
        "SALES_WH_PG_HOST": pg_database["host"],
        "SALES_WH_PG_PORT": str(pg_database["port"]),
        "SALES_WH_PG_USER": pg_database["user"],
        "SALES_WH_PG_PASSWORD": pg_database["password"],
        "SALES_WH_PG_DATABASE": pg_database["dbname"],
    }
    _dbt(["build", "--target", "postgres"], pg_env, tmp_path / "target_pg")

    duck = duckdb.connect(str(warehouse), read_only=True)
    for table in KPI_TABLES:
        cols = duck.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
        assert cols, f"marts.{table} missing in DuckDB"
        numeric = [
            c for c, t in cols if t.startswith(("DOUBLE", "DECIMAL", "BIGINT", "INTEGER", "HUGEINT", "FLOAT"))
        ]
        aggs = ", ".join(["count(*)"] + [f'round(cast(sum("{c}") as numeric), 4)' for c in numeric])
        duck_vals = duck.execute(f"select {aggs} from marts.{table}").fetchone()
        with pg.cursor() as cur:
            cur.execute(f"select {aggs} from marts.{table}")
            pg_vals = cur.fetchone()
        assert duck_vals[0] == pg_vals[0], (
            f"{table}: {duck_vals[0]} rows on DuckDB, {pg_vals[0]} on PostgreSQL"
        )
        for name, d, p in zip(["count"] + numeric, duck_vals, pg_vals, strict=True):
            if d is None or p is None:
                assert d is None and p is None, f"{table}.{name}: DuckDB {d} vs PostgreSQL {p}"
            else:
                assert float(d) == pytest.approx(float(p), rel=1e-6, abs=1e-3), (
                    f"{table}.{name}: DuckDB {d} vs PostgreSQL {p}"
                )
    duck.close()
    pg.close()
