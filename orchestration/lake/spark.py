"""Raw tables on Spark: external tables ``USING parquet`` over the lake's folders (nothing copied).

Needs the ``spark`` extra. The table's columns come from the lake's ``_schema.parquet`` (so a table
exists, empty, before any partition does); Spark lists partition columns last. After every write of the
lake the table is registered again: ``MSCK REPAIR TABLE ... SYNC PARTITIONS`` adds the partitions that
appeared and drops those that were removed, and ``REFRESH TABLE`` drops Spark's cached file listings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestration.contract import RAW_SCHEMA
from orchestration.lake.layout import lake_table, spark_type
from orchestration.lake.read import lake_columns


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def spark_table_ddl(lake_dir: Path, table: str, schema: str = RAW_SCHEMA) -> str:
    """``CREATE TABLE <schema>.<table> (...) USING parquet PARTITIONED BY (...) LOCATION '<folder>'``."""
    layout = lake_table(table)
    columns = ", ".join(f"{_ident(c)} {spark_type(t)}" for c, t in lake_columns(lake_dir, table))
    location = layout.folder(lake_dir).absolute().as_uri()
    return (
        f"CREATE TABLE {_ident(schema)}.{_ident(table)} ({columns}) USING parquet "
        f"PARTITIONED BY ({', '.join(_ident(c) for c in layout.partition_by)}) LOCATION '{location}'"
    )


def _current_columns(spark: Any, name: str) -> list[tuple[str, str]] | None:
    if not spark.catalog.tableExists(name):
        return None
    return [(f.name, f.dataType.simpleString()) for f in spark.table(name).schema.fields]


def register_spark_raw(spark: Any, lake_dir: Path, table: str, schema: str = RAW_SCHEMA) -> None:
    """Create, or bring up to date, the external table ``<schema>.<table>`` over ``<lake>/<table>``.

    Re-created (dropping an external table keeps its files) when the lake's columns changed; otherwise
    its partitions are synchronised with the folders and its file listings refreshed."""
    name = f"{_ident(schema)}.{_ident(table)}"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {_ident(schema)}")
    layout = lake_table(table)
    wanted = [(c, spark_type(t).lower()) for c, t in lake_columns(lake_dir, table)]
    # Spark's own order: data columns, then the partition columns.
    wanted = [c for c in wanted if c[0] not in layout.partition_by] + [
        c for p in layout.partition_by for c in wanted if c[0] == p
    ]
    if _current_columns(spark, f"{schema}.{table}") != wanted:
        spark.sql(f"DROP TABLE IF EXISTS {name}")
        spark.sql(spark_table_ddl(lake_dir, table, schema))
    spark.sql(f"MSCK REPAIR TABLE {name} SYNC PARTITIONS")
    spark.sql(f"REFRESH TABLE {name}")
