"""The whole pipeline on PostgreSQL (``SALES_WH_DBT_TARGET=postgres``), through Dagster, against the
same pipeline on DuckDB.

Demo extracts of 31 days: a 30-day run, then one more day, on each engine. On PostgreSQL the raw loads
reach the ``raw`` schema through the lake, dbt builds and tests there, the mart checks read there and
publish swaps in the ``published`` schema. Every published KPI mart (and the daily pipeline fact) equals
DuckDB's published file row by row and column by column, and every published table has the same row
count; a second run of the same day loads, builds and publishes nothing. While the one-more-day run
publishes, a reader queries the published schema in a loop and never sees tables of two runs at once.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.settings import postgres_conninfo
from orchestration.tooling.pipeline import PipelineResult, run_pipeline
from orchestration.tooling.report import read_postgres_summary, read_summary
from tests.conftest import DemoLanding, PipelineEnv
from tests.portability import assert_same_marts, assert_same_summary, scratch_pg_database

pytestmark = pytest.mark.e2e

START = date(2025, 1, 1)
DAYS = 31
DAY_30 = START + timedelta(days=29)
DAY_31 = START + timedelta(days=30)
SCHEMA = "published"
#: Tables the reader compares with the run history's row counts: they all grow with one more day.
READ_TABLES = {"core.fct_activities": "fct_activities", "core.fct_pipeline_daily": "fct_pipeline_daily"}


def _pg_env(mp: pytest.MonkeyPatch, params: dict[str, str], base: Path) -> None:
    mp.setenv("SALES_WH_DBT_TARGET", "postgres")
    mp.setenv("SALES_WH_PG_HOST", params["host"])
    mp.setenv("SALES_WH_PG_PORT", params["port"])
    mp.setenv("SALES_WH_PG_USER", params["user"])
    mp.setenv("SALES_WH_PG_PASSWORD", params["password"])
    mp.setenv("SALES_WH_PG_DATABASE", params["dbname"])
    mp.setenv("SALES_WH_LAKE_DIR", str(base / "lake"))
    mp.delenv("SALES_WH_PG_PUBLISHED_SCHEMA", raising=False)


def _connect(params: dict[str, str]) -> Any:
    import psycopg2

    return psycopg2.connect(**params)


def _query(params: dict[str, str], sql: str) -> list[tuple[Any, ...]]:
    pg = _connect(params)
    try:
        with pg.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        pg.close()


def _models_materialized(result: PipelineResult) -> int:
    assert result.result is not None
    return sum(
        1 for e in result.result.all_events if e.is_step_materialization and e.step_key == "dbt_models"
    )


class Reader(threading.Thread):
    """Reads the published schema in a loop: the last run's recorded row counts and the tables' own
    counts, in one statement (odd reads) or in one repeatable-read transaction of two statements (even
    reads). Every observation is kept; errors are kept too (a table missing mid-swap would be one)."""

    def __init__(self, params: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.params = params
        self.stop = threading.Event()
        self.seen: list[tuple[str, dict[str, int], dict[str, int]]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        import psycopg2

        pg = _connect(self.params)
        counts = ", ".join(f"(select count(*) from {SCHEMA}.{t})" for t in READ_TABLES.values())
        history = f"select run_id, row_counts from {SCHEMA}.run_history order by published_at desc limit 1"
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                try:
                    with pg.cursor() as cur:
                        if n % 2:
                            cur.execute(f"select h.run_id, h.row_counts, {counts} from ({history}) as h")
                            run_id, recorded, *actual = cur.fetchone()
                        else:
                            cur.execute("set transaction isolation level repeatable read")
                            cur.execute(history)
                            run_id, recorded = cur.fetchone()
                            cur.execute(f"select {counts}")
                            actual = list(cur.fetchone())
                    pg.commit()
                    wanted = {t: json.loads(recorded)[k] for k, t in READ_TABLES.items()}
                    self.seen.append((run_id, wanted, dict(zip(READ_TABLES.values(), actual, strict=True))))
                except psycopg2.Error as exc:
                    pg.rollback()
                    self.errors.append(f"{exc.__class__.__name__}: {str(exc).strip()[:200]}")
                time.sleep(0.005)
        finally:
            pg.close()


@pytest.fixture(scope="module")
def engines(
    tmp_path_factory: pytest.TempPathFactory, demo_landing: DemoLanding, pipeline_env: PipelineEnv
) -> Iterator[dict[str, Any]]:
    """The DuckDB reference runs (30 days, then day 31) done; the PostgreSQL folder and database ready."""
    base = tmp_path_factory.mktemp("pg-run")
    duck, pg = base / "duckdb", base / "postgres"
    demo_landing(days=DAYS, seed=13, start=START, into=duck / "landing")
    pg.mkdir()
    (pg / "landing").symlink_to(duck / "landing")
    with pipeline_env(duck, partition_start=START):
        for first, last in ((START, DAY_30), (DAY_31, DAY_31)):
            assert run_pipeline(first, last).success
    with scratch_pg_database("sales_wh_run") as params, pipeline_env(pg, partition_start=START):
        mp = pytest.MonkeyPatch()
        try:
            _pg_env(mp, params, pg)
            yield {"duckdb": duck, "postgres": pg, "params": params, "runs": {}}
        finally:
            mp.undo()


def test_thirty_days_publish_on_postgres(engines: dict[str, Any]) -> None:
    result = run_pipeline(START, DAY_30)
    assert result.success, result.failed_steps
    engines["runs"]["first"] = result.run_id
    params = engines["params"]
    # raw came through the lake; dbt built in PostgreSQL; publish swapped in the published schema.
    assert (engines["postgres"] / "lake" / "opportunity").is_dir()
    assert _query(params, "select count(distinct extract_date) from raw._load_audit")[0][0] == 30
    assert _query(params, f"select run_id from {SCHEMA}.run_history") == [(result.run_id,)]
    # The mart checks ran on PostgreSQL and passed, and are in the published check results.
    checks = _query(params, f"select count(*) from {SCHEMA}.check_results where check_name = 'not_empty'")
    assert checks[0][0] == 3
    assert not (engines["postgres"] / "published.duckdb").exists()


def test_one_more_day_publishes_while_a_reader_never_sees_a_mix(engines: dict[str, Any]) -> None:
    reader = Reader(engines["params"])
    reader.start()
    try:
        while len(reader.seen) < 3 and reader.is_alive():
            time.sleep(0.05)
        result = run_pipeline(DAY_31, DAY_31)
        time.sleep(0.5)
    finally:
        reader.stop.set()
        reader.join(30)
    assert result.success, result.failed_steps
    engines["runs"]["second"] = result.run_id
    runs = [run for run, _, _ in reader.seen]
    # The reader read before and after the swap (so it could have seen a mix) ...
    assert runs[0] == engines["runs"]["first"] and runs[-1] == result.run_id, (runs[0], runs[-1])
    # ... and every read saw the tables of the run whose history row it read, never another run's.
    mixed = [(run, wanted, actual) for run, wanted, actual in reader.seen if wanted != actual]
    assert not mixed, mixed[:3]
    first = next(w for r, w, _ in reader.seen if r == engines["runs"]["first"])
    second = next(w for r, w, _ in reader.seen if r == result.run_id)
    assert all(second[t] > first[t] for t in READ_TABLES.values()), (first, second)
    # A reader may have been chosen as a deadlock victim or waited; it never read a missing table.
    assert not [e for e in reader.errors if "UndefinedTable" in e or "does not exist" in e], reader.errors


def test_published_tables_equal_the_duckdb_run(engines: dict[str, Any]) -> None:
    params = engines["params"]
    published = engines["duckdb"] / "published.duckdb"

    def query_postgres(queries: list[str]) -> list[tuple[list[str], list[tuple[Any, ...]]]]:
        pg = _connect(params)
        out = []
        try:
            with pg.cursor() as cur:
                for sql in queries:
                    cur.execute(
                        sql.replace(" from marts.", f" from {SCHEMA}.").replace(
                            " from core.", f" from {SCHEMA}."
                        )
                    )
                    out.append(([d[0] for d in cur.description], cur.fetchall()))
        finally:
            pg.close()
        return out

    assert_same_marts(published, query_postgres, "PostgreSQL (published schema)")
    with duckdb.connect(str(published), read_only=True) as con:
        duck_counts = {
            t: con.execute(f"select count(*) from {s}.{t}").fetchone()[0]  # type: ignore[index]
            for s, t in con.execute(
                "select schema_name, table_name from duckdb_tables() where schema_name in ('marts', 'core')"
            ).fetchall()
        }
    pg_tables = [
        t
        for (t,) in _query(params, f"select tablename from pg_tables where schemaname = '{SCHEMA}'")
        if t not in {"run_history", "check_results", "build_state"}
    ]
    pg_counts = {t: _query(params, f"select count(*) from {SCHEMA}.{t}")[0][0] for t in pg_tables}
    assert pg_counts == duck_counts
    assert duck_counts["fct_activities"] > 0 and duck_counts["kpi_bookings"] > 0


def test_the_kpi_summary_reads_the_same_on_both_engines(engines: dict[str, Any]) -> None:
    params = engines["params"]
    conninfo = postgres_conninfo(params["host"], int(params["port"]), params["user"], params["dbname"])
    on_pg = read_postgres_summary(conninfo, SCHEMA, "pg")
    assert_same_summary(read_summary(engines["duckdb"] / "published.duckdb"), on_pg)


def test_the_same_day_again_changes_nothing(engines: dict[str, Any]) -> None:
    params = engines["params"]
    oids = "select c.relname, c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace "
    oids += f"where n.nspname = '{SCHEMA}' order by 1"
    before = (_query(params, oids), _query(params, "select * from raw._load_audit order by 1, 2"))
    history = _query(params, f"select run_id from {SCHEMA}.run_history order by published_at")
    assert [r for (r,) in history] == [engines["runs"]["first"], engines["runs"]["second"]]
    result = run_pipeline(DAY_31, DAY_31)
    assert result.success
    assert _models_materialized(result) == 0
    assert (_query(params, oids), _query(params, "select * from raw._load_audit order by 1, 2")) == before
    assert _query(params, f"select run_id from {SCHEMA}.run_history order by published_at") == history
    assert os.environ["SALES_WH_DBT_TARGET"] == "postgres"
