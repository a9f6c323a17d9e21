"""The ``raw`` schema the loader writes: one table per contract object plus ``raw._rejects`` and
``raw._load_audit``. Created idempotently and widened in place, so an older warehouse keeps loading
when the contract gains a column."""

from __future__ import annotations

import duckdb

from orchestration.contract import (
    LINEAGE_COLUMNS,
    LOAD_AUDIT_TABLE,
    OBJECTS,
    RAW_SCHEMA,
    REJECTS_TABLE,
    LandingObject,
)
from orchestration.sql import q, table_columns

#: ``committed`` is false for the rejects of a load that was refused (a failed blocking check, or a
#: batch error): they are written after the rollback, so a blocked batch still shows why.
REJECTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{REJECTS_TABLE} (
    object VARCHAR, extract_date DATE, source_file VARCHAR, source_line BIGINT,
    column_name VARCHAR, value VARCHAR, reason VARCHAR, loaded_at TIMESTAMP, committed BOOLEAN DEFAULT true
)"""
REJECT_COLUMNS = "object, extract_date, source_file, source_line, column_name, value, reason, loaded_at"
AUDIT_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{LOAD_AUDIT_TABLE} (
    object VARCHAR, extract_date DATE, source_files BIGINT, source_rows BIGINT,
    loaded_rows BIGINT, rejected_rows BIGINT, loaded_at TIMESTAMP, landing_signature VARCHAR
)"""


def raw_table(obj: LandingObject) -> str:
    return f"{RAW_SCHEMA}.{q(obj.table)}"


def existing_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return table_columns(con, RAW_SCHEMA, table)


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema ``raw``, every contract table (empty), ``raw._rejects`` and ``raw._load_audit``.

    Contract columns added to the contract after a table was created are added to it, so an older
    warehouse keeps loading.
    """
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    for obj in OBJECTS:
        columns = {**obj.columns, **LINEAGE_COLUMNS}
        ddl = ", ".join(f"{q(c)} {t}" for c, t in columns.items())
        con.execute(f"CREATE TABLE IF NOT EXISTS {raw_table(obj)} ({ddl})")
        existing = set(existing_columns(con, obj.table))
        for c, t in columns.items():
            if c not in existing:
                con.execute(f"ALTER TABLE {raw_table(obj)} ADD COLUMN {q(c)} {t}")
    con.execute(REJECTS_DDL)
    if "committed" not in existing_columns(con, REJECTS_TABLE):  # warehouses from before the column
        con.execute(f"ALTER TABLE {RAW_SCHEMA}.{REJECTS_TABLE} ADD COLUMN committed BOOLEAN DEFAULT true")
    con.execute(AUDIT_DDL)
    if "landing_signature" not in existing_columns(con, LOAD_AUDIT_TABLE):  # from before the column
        con.execute(f"ALTER TABLE {RAW_SCHEMA}.{LOAD_AUDIT_TABLE} ADD COLUMN landing_signature VARCHAR")
