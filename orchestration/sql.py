"""SQL helpers shared by the loader, the landing checks, the mart checks and publishing: quoting, and
the two small queries every one of them would otherwise write again."""

from __future__ import annotations

from typing import Any

import duckdb


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """An SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple[Any, ...]:
    """The one row of a query that always returns one (an aggregate, ``current_setting``)."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise RuntimeError(f"query returned no row: {sql[:200]}")
    return row


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """The columns of ``schema.table`` in the current database, in table order (none if it is missing)."""
    rows = con.execute(
        """SELECT column_name FROM information_schema.columns
           WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?
           ORDER BY ordinal_position""",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]
