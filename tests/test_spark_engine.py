"""The ``spark`` engine's Python side without a JVM: the SQL the raw registration and publish send to a
Spark Thrift server (through a fake DB-API connection that records statements and answers the catalog
queries), the literals and names they build. The real server is exercised by tests/test_spark_run_e2e.py
(opt-in, make test-spark)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from orchestration.engines import SPARK, build_stamp_suffix, run_engine
from orchestration.lake import write_partitions
from orchestration.lake.spark import register_spark_raw_sql, sql_table_columns
from orchestration.publishing.publish import CheckRecord, PublishRequest
from orchestration.publishing.spark import _lit, publish_spark, snapshot_database
from tests.lake_tables import D1, D2, TABLE, make_warehouse


class FakeCursor:
    def __init__(self, con: FakeSpark) -> None:
        self.con = con
        self.rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str) -> None:
        self.con.statements.append(sql)
        self.rows = self.con.answer(sql)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def close(self) -> None:
        pass


class FakeSpark:
    """Answers SHOW TABLES / DESCRIBE / SHOW PARTITIONS / SHOW DATABASES / count(*) from ``catalog``."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.tables: dict[str, list[tuple[str, str]]] = {}
        self.partitions: dict[str, set[str]] = {}
        self.databases: set[str] = set()

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def answer(self, sql: str) -> list[tuple[Any, ...]]:
        if m := re.fullmatch(r"SHOW TABLES IN `(\w+)` LIKE '(\w+)'", sql):
            name = f"{m[1]}.{m[2]}"
            return [(m[1], m[2], False)] if name in self.tables else []
        if m := re.fullmatch(r"SHOW TABLES IN `(\w+)`", sql):
            return [(m[1], t.split(".")[1], False) for t in self.tables if t.startswith(m[1] + ".")]
        if m := re.fullmatch(r"DESCRIBE TABLE `(\w+)`\.`(\w+)`", sql):
            cols = self.tables[f"{m[1]}.{m[2]}"]
            return [(c, t, None) for c, t in cols] + [("# Partition Information", "", ""), ("x", "int", None)]
        if m := re.fullmatch(r"SHOW PARTITIONS `(\w+)`\.`(\w+)`.*", sql):
            return [(p,) for p in sorted(self.partitions.get(f"{m[1]}.{m[2]}", set()))]
        if m := re.fullmatch(r"SHOW DATABASES LIKE '([\w*]+)'", sql):
            pattern = m[1].replace("*", ".*")
            return [(d,) for d in sorted(self.databases) if re.fullmatch(pattern, d)]
        if sql.startswith("SELECT count(*)"):
            return [(7,)]
        return []


def test_spark_is_a_run_engine_with_its_own_build_stamp() -> None:
    assert run_engine(SPARK) == SPARK
    one, other = build_stamp_suffix(SPARK, "a", 10009, ""), build_stamp_suffix(SPARK, "b", 10009, "")
    assert one.startswith(".spark-") and one != other


def test_describe_gives_the_data_then_partition_columns_once() -> None:
    con = FakeSpark()
    assert sql_table_columns(con, "raw.sample") is None
    con.tables["raw.sample"] = [("id", "string"), ("_extract_date", "date")]
    assert sql_table_columns(con, "raw.sample") == [("id", "string"), ("_extract_date", "date")]


def test_registration_creates_then_only_syncs_the_partitions_that_differ(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    duck = duckdb.connect()
    make_warehouse(duck)
    write_partitions(duck, TABLE, [D1, D2], lake)
    con = FakeSpark()
    register_spark_raw_sql(con, lake, TABLE)
    assert any(s.startswith("CREATE TABLE `raw`.`sample`") for s in con.statements)
    assert "MSCK REPAIR TABLE `raw`.`sample` SYNC PARTITIONS" in con.statements
    # Now the table exists with the lake's columns (Spark's order: partition column last).
    from orchestration.lake.layout import spark_type
    from orchestration.lake.read import lake_columns

    cols = [(c, spark_type(t).lower()) for c, t in lake_columns(lake, TABLE)]
    con.tables["raw.sample"] = [c for c in cols if c[0] != "_extract_date"] + [("_extract_date", "date")]
    con.partitions["raw.sample"] = {f"_extract_date={D1}", "_extract_date=2024-12-31"}
    con.statements.clear()
    register_spark_raw_sql(con, lake, TABLE, written=False)
    assert not any("MSCK" in s or s.startswith("CREATE TABLE") for s in con.statements)
    assert (
        f"ALTER TABLE `raw`.`sample` ADD IF NOT EXISTS PARTITION (`_extract_date` = '{D2}')" in con.statements
    )
    assert (
        "ALTER TABLE `raw`.`sample` DROP IF EXISTS PARTITION (`_extract_date` = '2024-12-31')"
        in con.statements
    )
    assert con.statements[-1] == "REFRESH TABLE `raw`.`sample`"
    # In step with the lake and nothing written: no change, no refresh.
    con.partitions["raw.sample"] = {f"_extract_date={D1}", f"_extract_date={D2}"}
    con.statements.clear()
    register_spark_raw_sql(con, lake, TABLE, written=False)
    assert not [s for s in con.statements if s.startswith(("ALTER", "REFRESH", "DROP", "CREATE TABLE"))]


def test_literals_and_snapshot_names() -> None:
    assert _lit("it's a \\ back\nslash") == "'it\\'s a \\\\ back\\nslash'"
    assert _lit(None) == "NULL" and _lit(True) == "true" and _lit(3) == "3"
    assert _lit(datetime(2025, 1, 2, 3, 4, 5)) == "TIMESTAMP '2025-01-02 03:04:05'"
    early = snapshot_database("AB-cd-12", datetime(2025, 1, 2, 3, 4, 5))
    later = snapshot_database("00-ff", datetime(2025, 1, 2, 3, 4, 6))
    assert early == "published__20250102030405_abcd12" and early < later


def test_publish_copies_into_a_snapshot_then_points_the_views_and_drops_older_snapshots() -> None:
    con = FakeSpark()
    con.databases = {
        "published",
        "published__20200101000000_old",
        "published__20200102000000_prev",
    }
    con.tables["published.kpi_gone"] = []
    check = CheckRecord("marts/kpi_x", "not_empty", True, "ERROR", "it's fine", datetime(2025, 1, 1))
    request = PublishRequest(
        run_id="run-1", tables=["marts.kpi_x", "core.fct_y"], checks=[check], build_state=("f", "s")
    )
    counts = publish_spark(con, request)
    assert counts == {"marts.kpi_x": 7, "core.fct_y": 7}
    statements = con.statements
    ctas = [s for s in statements if " USING parquet AS SELECT * FROM " in s]
    assert [s.split(" FROM ")[1] for s in ctas] == ["`marts`.`kpi_x`", "`core`.`fct_y`"]
    views = [s for s in statements if s.startswith("CREATE OR REPLACE VIEW")]
    assert [v.split()[4] for v in views] == [
        "published.`kpi_x`",
        "published.`fct_y`",
        "published.`check_results`",
        "published.`run_history`",
        "published.`build_state`",
    ]
    assert "DROP VIEW IF EXISTS published.`kpi_gone`" in statements
    # The snapshot just replaced is kept for readers in flight; older ones are dropped.
    dropped = [s for s in statements if s.startswith("DROP DATABASE IF EXISTS") and "CASCADE" in s]
    assert any("published__20200101000000_old" in s for s in dropped)
    assert not any("published__20200102000000_prev" in s for s in dropped)
    assert any("'it\\'s fine'" in s for s in statements if s.startswith("INSERT INTO"))
