"""The same dbt models build on PostgreSQL and give the same KPI marts as on DuckDB.

Needs a PostgreSQL server (``.ci/postgres.sh start`` prints the SALES_WH_PG_* variables). Without one the
test is skipped, unless SALES_WH_REQUIRE_POSTGRES=1 (set by CI), where a missing server is a failure.
"""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pytest

from orchestration.contract import RAW_SCHEMA
from tests.portability import assert_same_marts, build_duckdb_warehouse, run_dbt, scratch_pg_database

psycopg2 = pytest.importorskip("psycopg2")

pytestmark = pytest.mark.e2e

PG_TYPES = {"DOUBLE": "double precision", "VARCHAR": "text"}


@pytest.fixture(scope="module")
def pg_database():
    with scratch_pg_database("sales_wh_test") as params:
        yield params


def _copy_raw_to_postgres(warehouse: Path, pg) -> None:
    """Create schema raw in PostgreSQL with the DuckDB column types and COPY every raw table over."""
    con = duckdb.connect(str(warehouse), read_only=True)
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
        cur.execute("analyze")  # fresh tables have no statistics: without them some joins take minutes
    pg.commit()
    con.close()


def test_models_build_on_postgres_with_same_kpis(tmp_path: Path, pg_database) -> None:
    warehouse = build_duckdb_warehouse(tmp_path)
    pg = psycopg2.connect(**pg_database)
    _copy_raw_to_postgres(warehouse, pg)
    pg_env = {
        "SALES_WH_DBT_TARGET": "postgres",
        "SALES_WH_PG_HOST": pg_database["host"],
        "SALES_WH_PG_PORT": str(pg_database["port"]),
        "SALES_WH_PG_USER": pg_database["user"],
        "SALES_WH_PG_PASSWORD": pg_database["password"],
        "SALES_WH_PG_DATABASE": pg_database["dbname"],
    }
    run_dbt(["build", "--target", "postgres"], pg_env, tmp_path / "t_pg")

    def query_pg(queries: list[str]) -> list[tuple[list[str], list[tuple]]]:
        with pg.cursor() as cur:
            answers = []
            for sql in queries:
                cur.execute(sql)
                answers.append(([d[0] for d in cur.description], cur.fetchall()))
            return answers

    try:
        assert_same_marts(warehouse, query_pg, "PostgreSQL")
        # The incremental path on PostgreSQL: mark the last extract date of every big object as
        # reloaded and build again (delete+insert, the deletion post-hook); the marts must not change.
        with pg.cursor() as cur:
            for table in ("lead", "lead_history", "opportunity", "opportunity_history", "task", "event"):
                cur.execute(
                    f"update raw.{table} set _loaded_at = _loaded_at + interval '1 day' "
                    f"where _extract_date = (select max(_extract_date) from raw.{table})"
                )
            cur.execute(
                "update raw._load_audit set loaded_at = loaded_at + interval '1 day' "
                "where extract_date = (select max(extract_date) from raw._load_audit)"
            )
        pg.commit()
        # The unit tests passed on PostgreSQL in the first build; this one is about the data.
        data_only = ["build", "--target", "postgres", "--exclude-resource-type", "unit_test"]
        run_dbt(data_only, pg_env, tmp_path / "t_pg")
        with pg.cursor() as cur:
            cur.execute("select count(distinct _built_at) from staging.base_salesforce__tasks")
            assert cur.fetchone()[0] == 2, "the second build rewrote the reloaded Tasks only"
        assert_same_marts(warehouse, query_pg, "PostgreSQL")
    finally:
        pg.close()
