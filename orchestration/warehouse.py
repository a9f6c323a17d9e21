"""The project's DuckDB connection: one place that sets memory, threads, spilling and time zone."""

from __future__ import annotations

from pathlib import Path

import duckdb


def connect_warehouse(
    path: Path | str,
    *,
    memory_limit: str = "4GB",
    threads: int = 2,
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
    config = {"memory_limit": memory_limit, "threads": threads}
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    if str(path) != ":memory:":
        temp_dir = path.with_name(path.name + ".tmp")
        con.execute("SET temp_directory = ?", [str(temp_dir)])
    con.execute("SET TimeZone = 'UTC'")
    return con
