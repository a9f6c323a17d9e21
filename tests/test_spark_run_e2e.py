"""The whole pipeline on Spark (``SALES_WH_DBT_TARGET=spark``), through Dagster, against the same
pipeline on DuckDB.

Demo extracts of 31 days: a 30-day run, then one more day, on each engine. On Spark a local Thrift
server (.ci/spark.sh, started and stopped by this module) owns the catalog: the raw loads reach it
through the lake (external tables), dbt builds and tests through it, the mart checks read through it and
publish points the ``published`` views at a new snapshot database. Every published KPI mart (and the
daily pipeline fact) equals DuckDB's published file row by row and column by column, every published
table has the same row count, and a second run of the same day loads, builds and publishes nothing.

Opt-in, like tests/test_portability_spark.py (SALES_WH_SPARK_TESTS=1; Java 17 and the ``spark`` extra
with PyHive): a local Spark takes minutes for the whole project. The wall time of each Spark run is
printed (``pytest -s``) and, with SALES_WH_SPARK_TIMINGS=<file>, written there as JSON.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.tooling.pipeline import PipelineResult, run_pipeline
from orchestration.tooling.spark_server import local_spark_server
from tests.conftest import DemoLanding, PipelineEnv
from tests.portability import assert_same_marts, assert_same_summary

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.environ.get("SALES_WH_SPARK_TESTS") != "1", reason="opt-in: make test-spark"),
]

START = date(2025, 1, 1)
DAYS = 31
DAY_30 = START + timedelta(days=29)
DAY_31 = START + timedelta(days=30)
DATABASE = "published"
HISTORY_TABLES = {"run_history", "check_results", "build_state"}


def _query(params: dict[str, Any], sql: str) -> list[tuple[Any, ...]]:
    from orchestration.engines import spark_connection

    with spark_connection(params["host"], params["port"]) as con:
        cur = con.cursor()
        try:
            cur.execute(sql)
            return list(cur.fetchall())
        finally:
            cur.close()


def _models_materialized(result: PipelineResult) -> int:
    assert result.result is not None
    return sum(
        1 for e in result.result.all_events if e.is_step_materialization and e.step_key == "dbt_models"
    )


def _timed_run(engines: dict[str, Any], name: str, first: date, last: date) -> PipelineResult:
    started = time.monotonic()
    result = run_pipeline(first, last)
    seconds = round(time.monotonic() - started, 1)
    engines["seconds"][name] = seconds
    print(f"\nSpark run {name} ({first}..{last}): {seconds} s, success={result.success}")
    out = os.environ.get("SALES_WH_SPARK_TIMINGS")
    if out:
        Path(out).write_text(json.dumps(engines["seconds"], indent=2))
    return result


@pytest.fixture(scope="module")
def engines(
    tmp_path_factory: pytest.TempPathFactory, demo_landing: DemoLanding, pipeline_env: PipelineEnv
) -> Iterator[dict[str, Any]]:
    """The DuckDB reference runs (30 days, then day 31) done; a Spark Thrift server up for the Spark
    folder (stopped at the end)."""
    pytest.importorskip("pyhive")
    base = tmp_path_factory.mktemp("spark-run")
    duck, spark = base / "duckdb", base / "spark"
    demo_landing(days=DAYS, seed=13, start=START, into=duck / "landing")
    spark.mkdir()
    (spark / "landing").symlink_to(duck / "landing")
    with pipeline_env(duck, partition_start=START):
        for first, last in ((START, DAY_30), (DAY_31, DAY_31)):
            assert run_pipeline(first, last).success
    port = int(os.environ.get("SALES_WH_SPARK_TEST_PORT", "10019"))
    with local_spark_server(spark, port) as exports, pipeline_env(spark, partition_start=START):
        mp = pytest.MonkeyPatch()
        try:
            mp.setenv("SALES_WH_DBT_TARGET", "spark")
            for name, value in exports.items():
                mp.setenv(name, value)
            mp.setenv("SALES_WH_LAKE_DIR", str(spark / "lake"))
            params = {"host": exports["SALES_WH_SPARK_HOST"], "port": int(exports["SALES_WH_SPARK_PORT"])}
            yield {"duckdb": duck, "spark": spark, "params": params, "runs": {}, "seconds": {}}
        finally:
            mp.undo()


def test_thirty_days_publish_on_spark(engines: dict[str, Any]) -> None:
    result = _timed_run(engines, "thirty_days", START, DAY_30)
    assert result.success, result.failed_steps
    engines["runs"]["first"] = result.run_id
    params = engines["params"]
    # raw came through the lake; dbt built through the Thrift server; publish pointed the views.
    assert (engines["spark"] / "lake" / "opportunity").is_dir()
    assert _query(params, "select count(distinct extract_date) from raw._load_audit")[0][0] == 30
    assert _query(params, f"select run_id from {DATABASE}.run_history") == [(result.run_id,)]
    # The mart checks ran on Spark and passed, and are in the published check results.
    checks = _query(params, f"select count(*) from {DATABASE}.check_results where check_name = 'not_empty'")
    assert checks[0][0] == 3
    assert not (engines["spark"] / "published.duckdb").exists()


def test_one_more_day_publishes_a_new_snapshot(engines: dict[str, Any]) -> None:
    result = _timed_run(engines, "one_more_day", DAY_31, DAY_31)
    assert result.success, result.failed_steps
    engines["runs"]["second"] = result.run_id
    params = engines["params"]
    history = _query(params, f"select run_id from {DATABASE}.run_history order by published_at")
    assert [r for (r,) in history] == [engines["runs"]["first"], result.run_id]
    assert _query(params, "select count(distinct extract_date) from raw._load_audit")[0][0] == 31
    # The previous snapshot is kept (readers that resolved a view before the swap), older ones dropped.
    snapshots = [r[0] for r in _query(params, f"show databases like '{DATABASE}__*'")]
    assert len(snapshots) == 2, snapshots


def test_published_tables_equal_the_duckdb_run(engines: dict[str, Any]) -> None:
    params = engines["params"]
    published = engines["duckdb"] / "published.duckdb"

    def query_spark(queries: list[str]) -> list[tuple[list[str], list[tuple[Any, ...]]]]:
        from orchestration.engines import spark_connection

        out = []
        with spark_connection(params["host"], params["port"]) as con:
            cur = con.cursor()
            try:
                for sql in queries:
                    for schema in ("marts", "core"):
                        sql = sql.replace(f" from {schema}.", f" from {DATABASE}.")
                    cur.execute(sql)
                    rows = cur.fetchall()
                    out.append(([d[0].split(".")[-1] for d in cur.description], [tuple(r) for r in rows]))
            finally:
                cur.close()
        return out

    assert_same_marts(published, query_spark, "Spark (published views)")
    with duckdb.connect(str(published), read_only=True) as con:
        duck_counts = {
            t: con.execute(f"select count(*) from {s}.{t}").fetchone()[0]  # type: ignore[index]
            for s, t in con.execute(
                "select schema_name, table_name from duckdb_tables() where schema_name in ('marts', 'core')"
            ).fetchall()
        }
    spark_tables = [r[1] for r in _query(params, f"show tables in {DATABASE}") if r[1] not in HISTORY_TABLES]
    spark_counts = {t: _query(params, f"select count(*) from {DATABASE}.{t}")[0][0] for t in spark_tables}
    assert spark_counts == duck_counts
    assert duck_counts["fct_activities"] > 0 and duck_counts["kpi_bookings"] > 0


def test_the_kpi_summary_reads_the_same_on_both_engines(engines: dict[str, Any]) -> None:
    """`sales-wh run` and `sales-wh report` print this summary, read from the published views."""
    from orchestration.tooling.report import read_spark_summary, read_summary

    params = engines["params"]
    on_spark = read_spark_summary(params["host"], params["port"], DATABASE, "spark")
    assert_same_summary(read_summary(engines["duckdb"] / "published.duckdb"), on_spark)


def test_the_same_day_again_changes_nothing(engines: dict[str, Any]) -> None:
    params = engines["params"]
    snapshots = f"show databases like '{DATABASE}__*'"
    audit = "select * from raw._load_audit order by 1, 2"
    before = (_query(params, snapshots), _query(params, audit))
    history = _query(params, f"select run_id from {DATABASE}.run_history order by published_at")
    result = _timed_run(engines, "same_day_again", DAY_31, DAY_31)
    assert result.success
    assert _models_materialized(result) == 0
    assert (_query(params, snapshots), _query(params, audit)) == before
    assert _query(params, f"select run_id from {DATABASE}.run_history order by published_at") == history
    assert os.environ["SALES_WH_DBT_TARGET"] == "spark"
