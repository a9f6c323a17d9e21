"""Raw tables on Spark: external tables ``USING parquet`` over the lake's folders (nothing copied).

Needs the ``spark`` extra. The table's columns come from the lake's ``_schema.parquet`` (so a table
exists, empty, before any partition does); Spark lists partition columns last. After every write of the
lake the table is registered again: ``MSCK REPAIR TABLE ... SYNC PARTITIONS`` adds the partitions that
appeared and drops those that were removed, and ``REFRESH TABLE`` drops Spark's cached file listings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from orchestration.contract import LOAD_AUDIT_TABLE, RAW_SCHEMA, REJECTS_TABLE, LandingObject
from orchestration.lake.layout import lake_table, spark_type
from orchestration.lake.read import lake_columns, lake_view_sql
from orchestration.lake.write import write_load

#: The audit columns that tell one load of a date from another (as orchestration/lake/postgres.py).
AUDIT_COLUMNS = ("extract_date", "loaded_at", "landing_signature", "loaded_rows")


def audit_by_date(rows: Iterable[Sequence[Any]]) -> dict[date, set[tuple[Any, ...]]]:
    out: dict[date, set[tuple[Any, ...]]] = {}
    for d, *rest in rows:
        out.setdefault(d, set()).add(tuple(rest))
    return out


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


# The same through a SQL connection (a DB-API connection to a Spark Thrift server: PyHive), for the
# pipeline's ``spark`` engine, whose process holds no SparkSession (the Thrift server owns the catalog).


def spark_execute(con: Any, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql``; the rows of a query (``SELECT``, ``SHOW``, ``DESCRIBE``), none for a statement (the
    Thrift server answers DDL with a result set without columns, which PyHive cannot fetch)."""
    cur = con.cursor()
    try:
        cur.execute(sql)
        query = sql.lstrip().split(None, 1)[0].upper() in ("SELECT", "SHOW", "DESCRIBE", "WITH")
        return list(cur.fetchall()) if query else []
    finally:
        cur.close()


def sql_table_columns(con: Any, name: str) -> list[tuple[str, str]] | None:
    """``(column, Spark type)`` of the table ``schema.table`` in Spark's order (data columns, then the
    partition columns), from ``DESCRIBE TABLE``; None when the table does not exist."""
    schema, table = name.split(".", 1)
    if not spark_execute(con, f"SHOW TABLES IN {_ident(schema)} LIKE '{table}'"):
        return None
    columns: list[tuple[str, str]] = []
    for col, data_type, *_ in spark_execute(con, f"DESCRIBE TABLE {_ident(schema)}.{_ident(table)}"):
        if not col or col.startswith("#"):  # "# Partition Information": partition columns again
            break
        columns.append((col, data_type.lower()))
    return columns


def _partition_spec(relative: str) -> str:
    """``object=Account/extract_date=2025-01-01`` -> ``PARTITION (`object` = 'Account', ...)``."""
    pairs = [part.split("=", 1) for part in relative.split("/")]
    return "PARTITION (" + ", ".join(f"{_ident(k)} = '{v}'" for k, v in pairs) + ")"


def _sync_partitions(con: Any, lake_dir: Path, table: str, schema: str, object_name: str | None) -> bool:
    """Add the partitions the lake has and Spark does not, drop those Spark has and the lake no longer
    does (only the object's own, for ``_rejects`` and ``_load_audit``): what ``MSCK REPAIR ... SYNC
    PARTITIONS`` does, without listing every object's folders (2.9 s for the audit at 30 days). Returns
    whether any changed."""
    layout = lake_table(table)
    name = f"{_ident(schema)}.{_ident(table)}"
    folder = layout.folder(lake_dir)
    lake = {f.parent.relative_to(folder).as_posix() for f in layout.partitions(lake_dir)}
    show = f"SHOW PARTITIONS {name}"
    if layout.object_column is not None and object_name is not None:
        lake = {p for p in lake if p.startswith(f"{layout.object_column}={object_name}/")}
        show += f" PARTITION ({_ident(layout.object_column)} = '{object_name}')"
    spark = {r[0] for r in spark_execute(con, show)}
    missing, extra = sorted(lake - spark), sorted(spark - lake)
    if missing:
        specs = " ".join(_partition_spec(p) for p in missing)
        spark_execute(con, f"ALTER TABLE {name} ADD IF NOT EXISTS {specs}")
    if extra:
        specs = ", ".join(_partition_spec(p) for p in extra)
        spark_execute(con, f"ALTER TABLE {name} DROP IF EXISTS {specs}")
    return bool(missing or extra)


def register_spark_raw_sql(
    con: Any,
    lake_dir: Path,
    table: str,
    schema: str = RAW_SCHEMA,
    *,
    object_name: str | None = None,
    written: bool = True,
) -> None:
    """:func:`register_spark_raw` through a SQL connection to Spark (the columns from ``DESCRIBE``).

    A table created (or re-created: its columns changed) gets every partition (``MSCK REPAIR``); an
    existing one has its partitions synchronised with the lake's folders (``object_name``: only that
    object's, for ``_rejects`` and ``_load_audit``), and its cached file listings dropped (``REFRESH``)
    when partitions changed or files were ``written``."""
    name = f"{_ident(schema)}.{_ident(table)}"
    spark_execute(con, f"CREATE DATABASE IF NOT EXISTS {_ident(schema)}")
    layout = lake_table(table)
    wanted = [(c, spark_type(t).lower()) for c, t in lake_columns(lake_dir, table)]
    wanted = [c for c in wanted if c[0] not in layout.partition_by] + [
        c for p in layout.partition_by for c in wanted if c[0] == p
    ]
    current = sql_table_columns(con, f"{schema}.{table}")
    if current is not None and [(c, t.replace(" ", "")) for c, t in current] != [
        (c, t.replace(" ", "")) for c, t in wanted
    ]:
        spark_execute(con, f"DROP TABLE IF EXISTS {name}")
        current = None
    if current is None:
        spark_execute(con, spark_table_ddl(lake_dir, table, schema))
        spark_execute(con, f"MSCK REPAIR TABLE {name} SYNC PARTITIONS")
        written = True
    elif _sync_partitions(con, lake_dir, table, schema, object_name):
        written = True
    if written:
        spark_execute(con, f"REFRESH TABLE {name}")


def _lake_audit(lake_dir: Path, object_name: str) -> dict[date, set[tuple[Any, ...]]]:
    """``raw._load_audit`` rows of one object as the lake holds them (what Spark's table reads)."""
    if not lake_table(LOAD_AUDIT_TABLE).schema_file(lake_dir).exists():
        return {}
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM ({lake_view_sql(lake_dir, LOAD_AUDIT_TABLE)}) "
            "WHERE object = ?",
            [object_name],
        ).fetchall()
    finally:
        con.close()
    return audit_by_date(rows)


def lake_dates_out_of_step(duck: duckdb.DuckDBPyConnection, lake_dir: Path, obj: LandingObject) -> list[date]:
    """Extract dates whose load audit differs between DuckDB and the lake (a lake write that failed
    after DuckDB's load committed, or a new lake): the dates the next sync writes again."""
    here = audit_by_date(
        duck.execute(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM {RAW_SCHEMA}.{LOAD_AUDIT_TABLE} WHERE object = ?",
            [obj.name],
        ).fetchall()
    )
    there = _lake_audit(lake_dir, obj.name)
    return sorted(d for d in here.keys() | there.keys() if here.get(d) != there.get(d))


def sync_object_to_spark(
    duck: duckdb.DuckDBPyConnection,
    con: Any,
    lake_dir: Path,
    obj: LandingObject,
    loaded_dates: Iterable[date],
) -> list[date]:
    """Bring Spark's raw tables of ``obj`` level with DuckDB's after a load: the lake partitions of the
    dates the load wrote and of every date whose audit differs between DuckDB and the lake are written
    (:func:`orchestration.lake.write.write_load`), then the object's table, ``raw._rejects`` and
    ``raw._load_audit`` are registered again over the lake (every time, also when no date was written:
    the tables must exist for dbt's sources, and Spark's partitions are compared with the lake's
    folders, so a registration that failed last time is redone).
    Returns the dates written. Spark sees each partition swap as it happens (no transaction across
    tables or dates, as for the lake itself)."""
    dates = sorted(set(loaded_dates) | set(lake_dates_out_of_step(duck, lake_dir, obj)))
    write_load(duck, obj, dates, lake_dir)  # with no date, still each table's schema file
    register_spark_raw_sql(con, lake_dir, obj.table, written=bool(dates))
    for table in (REJECTS_TABLE, LOAD_AUDIT_TABLE):
        register_spark_raw_sql(con, lake_dir, table, object_name=obj.name, written=bool(dates))
    return dates
