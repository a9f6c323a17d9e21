"""The same dbt models build on Apache Spark (dbt-spark, session method: an in-process local Spark) and
give the same KPI marts as on DuckDB.

Opt-in, because a local Spark takes several minutes for the whole project: ``make test-spark`` installs
the ``spark`` extra (pyspark, dbt-spark; Java 17 must be on the machine) and sets SALES_WH_SPARK_TESTS=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.contract import LINEAGE_COLUMNS, LOAD_AUDIT_TABLE, OBJECTS, RAW_SCHEMA, REJECTS_TABLE
from tests.portability import assert_same_marts, build_duckdb_warehouse, run_dbt

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.environ.get("SALES_WH_SPARK_TESTS") != "1", reason="opt-in: make test-spark"),
]

# Spark work runs in child Pythons: the embedded Derby metastore admits one JVM at a time, and dbt's
# session adapter starts its own JVM in between. Both children open the same catalog as dbt's profile.
_SESSION = """
import json, sys
from pyspark.sql import SparkSession
spark_dir, metastore = sys.argv[1], sys.argv[2]
spark = (
    SparkSession.builder.enableHiveSupport()
    .config("spark.sql.warehouse.dir", spark_dir)
    .config("spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore};create=true")
    .config("spark.sql.session.timeZone", "UTC")
    .getOrCreate()
)
"""

_COPY_RAW = (
    _SESSION
    + f"""
import duckdb
warehouse, tables = sys.argv[3], sys.argv[4:]
con = duckdb.connect(warehouse, read_only=True)
con.execute("set TimeZone = 'UTC'")
spark.sql("create database if not exists {RAW_SCHEMA}")
for spec in tables:
    table, columns = spec.split(":")
    path = f"{{spark_dir}}/copy-{{table}}.parquet"  # Spark ignores files named _* or .*
    con.execute(f"copy (select {{columns}} from {RAW_SCHEMA}.{{table}}) to '{{path}}' (format parquet)")
    spark.read.parquet(path).write.mode("overwrite").saveAsTable(f"{RAW_SCHEMA}.{{table}}")
spark.stop()
"""
)

_QUERY = (
    _SESSION
    + """
answers = []
for q in json.loads(sys.argv[3]):
    frame = spark.sql(q)
    answers.append([frame.columns, [list(row) for row in frame.collect()]])
# dates, timestamps and decimals as text (tests/portability.py normalises them)
print(json.dumps(answers, default=str))
spark.stop()
"""
)


def _spark_child(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def raw_copy_specs() -> list[str]:
    """``table:columns`` of every raw table copied to Spark: the objects' contract and lineage columns,
    and every column of the loader's bookkeeping tables (sources of the staging models: the audit also of
    the incremental base models and their unit tests, the rejects of stg_salesforce__load_rejects)."""
    specs = [f"{o.table}:{','.join([*o.columns, *LINEAGE_COLUMNS])}" for o in OBJECTS]
    return [*specs, f"{LOAD_AUDIT_TABLE}:*", f"{REJECTS_TABLE}:*"]


def test_models_build_on_spark_with_same_kpis(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    warehouse = build_duckdb_warehouse(tmp_path, days=45)
    catalog = [str(tmp_path / "spark-warehouse"), str(tmp_path / "spark-metastore")]
    _spark_child(_COPY_RAW, *catalog, str(warehouse), *raw_copy_specs())
    env = {
        "SALES_WH_DBT_TARGET": "spark",
        "SALES_WH_SPARK_METHOD": "session",  # dbt's in-process Spark, whatever the shell exported
        "SALES_WH_SPARK_WAREHOUSE_DIR": catalog[0],
        "SALES_WH_SPARK_METASTORE": catalog[1],
    }
    run_dbt(["build", "--target", "spark"], env, tmp_path / "t_spark")

    def query_spark(queries: list[str]) -> list[tuple[list[str], list[tuple]]]:
        out = _spark_child(_QUERY, *catalog, json.dumps(queries))
        answers = json.loads(out.strip().splitlines()[-1])
        return [(columns, [tuple(row) for row in rows]) for columns, rows in answers]

    assert_same_marts(warehouse, query_spark, "Spark")
