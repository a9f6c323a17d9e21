"""The project's DuckDB connection (one place that sets memory, threads, spilling and time zone) and the
warehouse's schema names as Python code refers to them.

The schemas of the dbt layers are set by folder in ``dbt_project.yml`` (``+schema``) and the raw schema by
the landing contract; these constants name them for the Python side (publish, checks, definitions), and
tests/test_configuration.py checks that dbt_project.yml still builds each of them.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.contract import RAW_SCHEMA
from orchestration.settings import DEFAULT_MEMORY_LIMIT, DEFAULT_THREADS

STAGING_SCHEMA = "staging"
INTERMEDIATE_SCHEMA = "intermediate"
CORE_SCHEMA = "core"
MARTS_SCHEMA = "marts"
#: Every schema a pipeline run writes, in build order.
WAREHOUSE_SCHEMAS = (RAW_SCHEMA, STAGING_SCHEMA, INTERMEDIATE_SCHEMA, CORE_SCHEMA, MARTS_SCHEMA)


def connect_warehouse(
    path: Path | str,
    *,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    threads: int = DEFAULT_THREADS,
    read_only: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open (or create) the warehouse file with the project's settings.

    Spilling goes to ``<file>.tmp/`` next to the database, so a large load or dbt build that exceeds
    ``memory_limit`` writes to the same disk as the warehouse rather than failing. The session time
    zone is UTC because every timestamp in the warehouse is naive UTC.
    """
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit,
        "threads": threads,
    }
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    if str(path) != ":memory:":
        temp_dir = path.with_name(path.name + ".tmp")
        con.execute("SET temp_directory = ?", [str(temp_dir)])
    con.execute("SET TimeZone = 'UTC'")
    return con
