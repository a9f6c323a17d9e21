"""Temp tables of one load, declared by name and dropped together when the load ends.

Each module declares the temp tables it creates with :func:`temp_table`; :func:`temp_tables` drops every
declared one on exit, whatever happened, so adding a table cannot leave it behind on a long-lived
connection. The tables several steps share are declared here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from orchestration.sql import q

_DECLARED: list[str] = []


def temp_table(name: str) -> str:
    """Declare a temp table of the load (dropped by :func:`temp_tables`); returns its name."""
    if name not in _DECLARED:
        _DECLARED.append(name)
    return name


@contextmanager
def temp_tables(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run a load; on exit drop every declared temp table on ``con`` (those it created, if any)."""
    try:
        yield
    finally:
        for name in _DECLARED:
            con.execute(f"DROP TABLE IF EXISTS temp.{q(name)}")


#: The load's files: id, path, relative path, extract date, header count, format and ``line_base``.
FILES = temp_table("_load_files")
#: Every record read, as text, with its file and physical line (see ``readers.stage_insert``).
STAGE = temp_table("_load_stage")
#: Source rows per file, counted from the files themselves (not from the stage).
COUNTS = temp_table("_load_source_counts")
#: CSV records with the wrong number of fields: whole-row rejects.
RAGGED = temp_table("_load_ragged")
#: The staged rows cast once, with ``_ok`` (no bad cell).
TYPED = temp_table("_load_typed")
