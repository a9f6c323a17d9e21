"""Raw tables on Spark as external tables over the lake (orchestration/lake/spark.py): the same rows as
DuckDB, and partitions written or removed after a registration show up when it is registered again.

Skipped unless pyspark (the ``spark`` extra) and Java are installed. Spark runs in child Pythons, one
after the other, on one catalog (an embedded Derby metastore admits one JVM at a time), as dbt's
session target does.
"""

from __future__ import annotations

import base64
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.lake import write_partitions
from orchestration.settings import PROJECT_ROOT
from tests.lake_tables import D1, D2, D3, TABLE, make_warehouse, put_rows, sample_rows

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
]
pytest.importorskip("pyspark")

_CHILD = """
import base64, pickle, sys
from pathlib import Path
from pyspark.sql import SparkSession
from orchestration.lake.spark import register_spark_raw
spark_dir, metastore, lake, tables = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4:]
spark = (
    SparkSession.builder.master("local[1]").enableHiveSupport()
    .config("spark.sql.warehouse.dir", spark_dir)
    .config("spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore};create=true")
    .config("spark.sql.session.timeZone", "UTC")
    .config("spark.ui.enabled", "false")
    .getOrCreate()
)
answers = {}
for table in tables:
    register_spark_raw(spark, lake, table)
    frame = spark.table(f"raw.{table}")
    answers[table] = (frame.columns, [tuple(r) for r in frame.collect()])
spark.stop()
print(base64.b64encode(pickle.dumps(answers)).decode())
"""


def _spark(tmp_path: Path, lake: Path, *tables: str) -> dict[str, tuple[list[str], list[tuple]]]:
    args = [str(tmp_path / "spark-warehouse"), str(tmp_path / "metastore"), str(lake), *tables]
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return pickle.loads(base64.b64decode(proc.stdout.strip().splitlines()[-1]))


def _in_spark_order(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], where: str = "true"
) -> list:
    select = ", ".join(f'"{c}"' for c in columns)
    return sorted(con.execute(f'SELECT {select} FROM raw."{table}" WHERE {where}').fetchall(), key=repr)


def test_spark_external_tables_show_the_lake_and_follow_its_partitions(tmp_path: Path) -> None:
    con = duckdb.connect()
    make_warehouse(con)
    lake = tmp_path / "lake"
    write_partitions(con, TABLE, [D1, D2], lake)
    write_partitions(con, "_rejects", [D1, D2], lake, object_name="Opportunity")
    write_partitions(con, "_rejects", [D1], lake, object_name="Task")
    write_partitions(con, "lead_status", [], lake)  # never landed: the schema file only
    first = _spark(tmp_path, lake, TABLE, "_rejects", "lead_status")
    columns, rows = first[TABLE]
    assert columns[-1] == "_extract_date" and sorted(columns) == sorted(
        r[0] for r in con.execute(f"DESCRIBE raw.{TABLE}").fetchall()
    )
    assert sorted(rows, key=repr) == _in_spark_order(con, TABLE, columns)  # exact values and Python types
    assert [type(v) for v in sorted(rows, key=repr)[0]] == [
        type(v) for v in _in_spark_order(con, TABLE, columns)[0]
    ]
    r_columns, r_rows = first["_rejects"]
    assert r_columns[-2:] == ["object", "extract_date"]
    assert sorted(r_rows, key=repr) == _in_spark_order(
        con, "_rejects", r_columns, f"object = 'Opportunity' OR extract_date = '{D1}'"
    )
    assert first["lead_status"][1] == [] and "_extract_date" in first["lead_status"][0]

    # A partition added, one replaced, one removed: registering again shows the lake as it is now.
    put_rows(con, D1, sample_rows(D1, "c", n=3))
    put_rows(con, D2, [])
    put_rows(con, D3, sample_rows(D3, "d", n=2))
    write_partitions(con, TABLE, [D1, D2, D3], lake)
    second = _spark(tmp_path, lake, TABLE)
    assert sorted(second[TABLE][1], key=repr) == _in_spark_order(con, TABLE, columns)
    assert {r[-1] for r in second[TABLE][1]} == {D1, D3}

    # A column added later: the table is re-created with it, NULL in the older partitions.
    con.execute(f"ALTER TABLE raw.{TABLE} ADD COLUMN extra_note VARCHAR")
    put_rows(con, D2, [(*r, "note") for r in sample_rows(D2, "e", n=2)])
    write_partitions(con, TABLE, [D2], lake)
    third = _spark(tmp_path, lake, TABLE)
    assert "extra_note" in third[TABLE][0]
    assert sorted(third[TABLE][1], key=repr) == _in_spark_order(con, TABLE, third[TABLE][0])
    con.close()
