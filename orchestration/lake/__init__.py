"""The lake: raw tables as Parquet files partitioned by extract date (``SALES_WH_LAKE_DIR``), written
from DuckDB after each load and read by the other engines (PostgreSQL by ``COPY``, Spark as external
tables). Layout and atomicity: :mod:`orchestration.lake.layout`, :mod:`orchestration.lake.write`."""

from orchestration.lake.layout import LakeTable, lake_table
from orchestration.lake.read import create_lake_view, lake_columns, lake_view_sql
from orchestration.lake.write import WriteHook, remove_leftovers, write_all, write_load, write_partitions

__all__ = [
    "LakeTable",
    "WriteHook",
    "create_lake_view",
    "lake_columns",
    "lake_table",
    "lake_view_sql",
    "remove_leftovers",
    "write_all",
    "write_load",
    "write_partitions",
]
