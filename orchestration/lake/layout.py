"""Where each raw table lives in the lake folder (``SALES_WH_LAKE_DIR``), and the type of each column on
the other engines.

Hive-style folders, readable by DuckDB (``read_parquet(..., hive_partitioning = true)``), Spark and
anything that reads Parquet::

    <lake>/<table>/_extract_date=YYYY-MM-DD/part-0.parquet           one file per object and extract date
    <lake>/_rejects/object=<Object>/extract_date=YYYY-MM-DD/part-0.parquet
    <lake>/_load_audit/object=<Object>/extract_date=YYYY-MM-DD/part-0.parquet
    <lake>/<table>/_schema.parquet                                    no rows: every column, in table order

The rejects and the load audit are partitioned by object *and* extract date, the unit the loader
replaces, so a load rewrites only its own files. A partition file holds every column but the partition
columns (their values are in the path, as Hive and Spark expect). ``_schema.parquet`` carries the
table's columns and types in the DuckDB table's order, partition columns included, so an engine can
create the table before any partition exists and keep the DuckDB column order; Spark ignores files whose
name starts with ``_`` or ``.``, and the partition globs below never match it or the writer's ``.tmp-*``
and ``.old-*`` leftovers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from orchestration.contract import LOAD_AUDIT_TABLE, REJECTS_TABLE

PART_FILE = "part-0.parquet"
SCHEMA_FILE = "_schema.parquet"
#: Prefixes of the writer's temporary and set-aside entries (hidden from Spark; removed by the next write).
TMP_PREFIX, OLD_PREFIX = ".tmp-", ".old-"


@dataclass(frozen=True)
class LakeTable:
    """One raw table in the lake: its folder and its partition columns (outermost first)."""

    table: str
    partition_by: tuple[str, ...]

    @property
    def date_column(self) -> str:
        return self.partition_by[-1]

    @property
    def object_column(self) -> str | None:
        """The object column of the rejects and the audit (None for an object's own table)."""
        return self.partition_by[0] if len(self.partition_by) > 1 else None

    def folder(self, lake_dir: Path) -> Path:
        return Path(lake_dir) / self.table

    def schema_file(self, lake_dir: Path) -> Path:
        return self.folder(lake_dir) / SCHEMA_FILE

    def partition(self, lake_dir: Path, extract_date: date, object_name: str | None = None) -> Path:
        """The folder of one partition (the object's, for the rejects and the audit)."""
        return self.folder(lake_dir) / self.relative_partition(extract_date, object_name)

    def relative_partition(self, extract_date: date, object_name: str | None = None) -> Path:
        parts = [f"{self.date_column}={extract_date.isoformat()}"]
        if self.object_column is not None:
            if not object_name or not re.fullmatch(r"[A-Za-z0-9_]+", object_name):
                raise ValueError(f"{self.table}: partitions need an object name, got {object_name!r}")
            parts.insert(0, f"{self.object_column}={object_name}")
        return Path(*parts)

    def glob(self, lake_dir: Path) -> str:
        """Every partition file of the table (never the schema file or a leftover)."""
        return str(self.folder(lake_dir) / Path(*(f"{c}=*" for c in self.partition_by)) / "*.parquet")

    def partitions(self, lake_dir: Path) -> list[Path]:
        """The partition files there are now, in path order."""
        pattern = "/".join([*(f"{c}=*" for c in self.partition_by), "*.parquet"])
        return sorted(self.folder(lake_dir).glob(pattern))


def lake_table(table: str) -> LakeTable:
    """The layout of ``raw.<table>``: an object's table by ``_extract_date``, the rejects and the load
    audit by ``object`` and ``extract_date``."""
    if table in (REJECTS_TABLE, LOAD_AUDIT_TABLE):
        return LakeTable(table, ("object", "extract_date"))
    return LakeTable(table, ("_extract_date",))


def _decimal(duckdb_type: str) -> str | None:
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duckdb_type.upper())
    return f"{m[1]}, {m[2]}" if m else None


#: DuckDB type of a raw column -> PostgreSQL type (DECIMAL(p,s) is handled apart).
_POSTGRES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "BOOLEAN": "boolean",
}
#: DuckDB type -> Spark SQL type. DuckDB writes TIMESTAMP as a Parquet timestamp not adjusted to UTC
#: (naive, UTC by convention), which is Spark's TIMESTAMP_NTZ (what Spark infers from such a file).
_SPARK = {
    "VARCHAR": "STRING",
    "BIGINT": "BIGINT",
    "INTEGER": "INT",
    "DOUBLE": "DOUBLE",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP_NTZ",
    "BOOLEAN": "BOOLEAN",
}


def postgres_type(duckdb_type: str) -> str:
    if (ps := _decimal(duckdb_type)) is not None:
        return f"numeric({ps})"
    try:
        return _POSTGRES[duckdb_type.upper()]
    except KeyError:
        raise ValueError(f"no PostgreSQL type for the raw column type {duckdb_type}") from None


def spark_type(duckdb_type: str) -> str:
    if (ps := _decimal(duckdb_type)) is not None:
        return f"DECIMAL({ps})"
    try:
        return _SPARK[duckdb_type.upper()]
    except KeyError:
        raise ValueError(f"no Spark type for the raw column type {duckdb_type}") from None
