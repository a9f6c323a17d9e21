"""Reading the lake: a table's columns (from its ``_schema.parquet``), one partition's rows as SQL, and a
DuckDB view over all its partitions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from orchestration.contract import RAW_SCHEMA
from orchestration.lake.layout import LakeTable, lake_table
from orchestration.sql import lit, q


def lake_columns(
    lake_dir: Path, table: str, con: duckdb.DuckDBPyConnection | None = None
) -> list[tuple[str, str]]:
    """Columns of ``raw.<table>`` as the lake holds them: (name, DuckDB type) in the DuckDB table's order."""
    path = lake_table(table).schema_file(lake_dir)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {table} was never written to the lake")
    own = con is None
    con = con or duckdb.connect()
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({lit(str(path))})").fetchall()
    finally:
        if own:
            con.close()
    return [(r[0], r[1]) for r in rows]


def partition_select(
    lake_dir: Path,
    table: str,
    extract_date: date,
    object_name: str | None = None,
    columns: list[str] | None = None,
) -> str | None:
    """SQL (DuckDB) for the rows of one partition, partition columns added as constants, in ``columns``
    order (the schema file's by default); None when the partition has no file."""
    layout = lake_table(table)
    folder = layout.partition(lake_dir, extract_date, object_name)
    files = sorted(folder.glob("*.parquet"))
    if not files:
        return None
    constants = {layout.date_column: f"DATE {lit(extract_date.isoformat())}"}
    if layout.object_column is not None:
        constants[layout.object_column] = lit(object_name or "")
    names = columns or [c for c, _ in lake_columns(lake_dir, table)]
    select = ", ".join(f"{constants[c]} AS {q(c)}" if c in constants else q(c) for c in names)
    paths = "[" + ", ".join(lit(str(f)) for f in files) + "]"
    return f"SELECT {select} FROM read_parquet({paths}, union_by_name = true)"


def _hive_types(layout: LakeTable) -> str:
    types = {c: "VARCHAR" for c in layout.partition_by}
    types[layout.date_column] = "DATE"
    return "{" + ", ".join(f"{lit(c)}: {t}" for c, t in types.items()) + "}"


def lake_view_sql(lake_dir: Path, table: str) -> str:
    """A query over every partition of ``table`` with the DuckDB table's columns, types and order.

    Older partitions lack a column added since (``union_by_name``: NULL there). Without any partition the
    query reads the empty schema file, so an object never landed is an empty table, as in DuckDB."""
    layout = lake_table(table)
    columns = lake_columns(lake_dir, table)
    if not layout.partitions(lake_dir):
        return f"SELECT * FROM read_parquet({lit(str(layout.schema_file(lake_dir)))})"
    select = ", ".join(f"CAST({q(c)} AS {t}) AS {q(c)}" for c, t in columns)
    return (
        f"SELECT {select} FROM read_parquet({lit(layout.glob(lake_dir))}, hive_partitioning = true, "
        f"union_by_name = true, hive_types = {_hive_types(layout)})"
    )


def create_lake_view(
    con: duckdb.DuckDBPyConnection, lake_dir: Path, table: str, schema: str = RAW_SCHEMA
) -> None:
    """``CREATE OR REPLACE VIEW <schema>.<table>`` over the lake (re-create it when partitions come or go:
    a view over no partition reads the schema file only)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
    con.execute(f"CREATE OR REPLACE VIEW {q(schema)}.{q(table)} AS {lake_view_sql(lake_dir, table)}")
