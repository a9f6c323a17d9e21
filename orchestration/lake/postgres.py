"""Raw tables on PostgreSQL from the lake: each run's extract dates replaced in one transaction with
``COPY ... FROM STDIN``.

Needs the ``postgres`` extra (psycopg2, the driver dbt-postgres uses). DuckDB reads each partition
file and writes it as CSV into a temporary file, which ``copy_expert`` streams to the server in chunks,
so memory stays flat whatever the partition's size. The CSV is PostgreSQL's: every value quoted, a NULL
an unquoted empty field, so an empty string stays an empty string; tabs, newlines, quotes and
backslashes inside a quoted field are data. Timestamps, dates and decimals travel as their ISO and
decimal text (exact); doubles as DuckDB's shortest round-trip text (exact).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from orchestration.contract import LOAD_AUDIT_TABLE, RAW_SCHEMA, REJECTS_TABLE, LandingObject
from orchestration.lake.layout import lake_table, postgres_type
from orchestration.lake.read import lake_columns, partition_select
from orchestration.lake.write import write_load
from orchestration.sql import lit, q


def _ensure_table(cur: Any, table: str, columns: list[tuple[str, str]]) -> None:
    """``raw.<table>`` with the lake's columns; columns the lake gained since are added."""
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    ddl = ", ".join(f"{q(c)} {postgres_type(t)}" for c, t in columns)
    cur.execute(f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{q(table)} ({ddl})")
    for c, t in columns:
        cur.execute(f"ALTER TABLE {RAW_SCHEMA}.{q(table)} ADD COLUMN IF NOT EXISTS {q(c)} {postgres_type(t)}")


def _replace(
    cur: Any,
    duck: duckdb.DuckDBPyConnection,
    lake_dir: Path,
    table: str,
    dates: Sequence[date],
    object_name: str | None,
    scratch: Path,
) -> int:
    """Inside the caller's transaction: delete the dates' rows of ``raw.<table>`` and COPY their
    partitions in. Returns the rows copied."""
    layout = lake_table(table)
    columns = lake_columns(lake_dir, table, duck)
    _ensure_table(cur, table, columns)
    where = f"{q(layout.date_column)} = ANY(%s::date[])"
    params: list[Any] = [list(dates)]
    if layout.object_column is not None:
        where += f" AND {q(layout.object_column)} = %s"
        params.append(object_name)
    cur.execute(f"DELETE FROM {RAW_SCHEMA}.{q(table)} WHERE {where}", params)
    names = [c for c, _ in columns]
    copy = f"COPY {RAW_SCHEMA}.{q(table)} ({', '.join(q(c) for c in names)}) FROM STDIN WITH (FORMAT csv)"
    rows = 0
    for d in dates:
        select = partition_select(lake_dir, table, d, object_name, names)
        if select is None:  # no partition: the date has no rows
            continue
        csv = scratch / f"{table}-{d.isoformat()}.csv"
        duck.execute(f"COPY ({select}) TO {lit(str(csv))} (FORMAT csv, HEADER false, FORCE_QUOTE *)")
        with csv.open("rb") as f:
            cur.copy_expert(copy, f, size=1 << 20)
        rows += cur.rowcount
        csv.unlink()
    return rows


def _connect(conninfo: str) -> Any:
    import psycopg2  # the postgres extra

    return psycopg2.connect(conninfo)


def replace_postgres_tables(
    conninfo: str, lake_dir: Path, tables: Sequence[tuple[str, str | None]], extract_dates: Iterable[date]
) -> dict[str, int]:
    """For each ``(table, object_name)``: replace ``extract_dates`` of ``raw.<table>`` on PostgreSQL with
    the lake's partitions, all in ONE transaction (a failure, mid-COPY included, leaves every table as
    it was). ``object_name`` is None for an object's own table, the API name for ``_rejects`` and
    ``_load_audit``. Tables are created when missing, with the lake's column order and types. Returns the
    rows copied per table; the tables are analysed afterwards (the planner needs statistics)."""
    dates = sorted(set(extract_dates))
    copied: dict[str, int] = {}
    pg = _connect(conninfo)
    duck = duckdb.connect()
    try:
        duck.execute("SET TimeZone = 'UTC'")
        with tempfile.TemporaryDirectory(prefix="sales-wh-pg-copy-") as scratch, pg.cursor() as cur:
            for table, object_name in tables:
                n = _replace(cur, duck, lake_dir, table, dates, object_name, Path(scratch))
                copied[table] = copied.get(table, 0) + n
        pg.commit()
        pg.autocommit = True
        with pg.cursor() as cur:
            for table in dict.fromkeys(t for t, _ in tables):
                cur.execute(f"ANALYZE {RAW_SCHEMA}.{q(table)}")
    except BaseException:
        if not pg.autocommit:
            pg.rollback()
        raise
    finally:
        duck.close()
        pg.close()
    return copied


def load_postgres_raw(
    conninfo: str,
    lake_dir: Path,
    table: str,
    extract_dates: Iterable[date],
    *,
    object_name: str | None = None,
) -> int:
    """Replace ``extract_dates`` of ``raw.<table>`` on PostgreSQL with the lake's partitions, in one
    transaction (``object_name`` for ``_rejects`` / ``_load_audit``). Returns the rows copied."""
    return replace_postgres_tables(conninfo, lake_dir, [(table, object_name)], extract_dates)[table]


def load_postgres_object(
    conninfo: str, lake_dir: Path, obj: LandingObject, extract_dates: Iterable[date]
) -> dict[str, int]:
    """What one load of ``obj`` replaced (its table, rejects and audit rows) in ONE PostgreSQL transaction,
    as the DuckDB load replaced them."""
    tables = [(obj.table, None), (REJECTS_TABLE, obj.name), (LOAD_AUDIT_TABLE, obj.name)]
    return replace_postgres_tables(conninfo, lake_dir, tables, extract_dates)


def _audit(rows: Iterable[Sequence[Any]]) -> dict[date, set[tuple[Any, ...]]]:
    out: dict[date, set[tuple[Any, ...]]] = {}
    for d, *rest in rows:
        out.setdefault(d, set()).add(tuple(rest))
    return out


_AUDIT_SELECT = (
    f"SELECT extract_date, loaded_at, landing_signature, loaded_rows FROM {RAW_SCHEMA}.{LOAD_AUDIT_TABLE}"
)


def postgres_audit(conninfo: str, object_name: str) -> dict[date, set[tuple[Any, ...]]]:
    """``raw._load_audit`` of one object on PostgreSQL by extract date (empty when it has none yet)."""
    pg = _connect(conninfo)
    try:
        with pg.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", [f"{RAW_SCHEMA}.{LOAD_AUDIT_TABLE}"])
            row = cur.fetchone()
            if row is None or row[0] is None:
                return {}
            cur.execute(f"{_AUDIT_SELECT} WHERE object = %s", [object_name])
            return _audit(cur.fetchall())
    finally:
        pg.close()


def dates_out_of_step(duck: duckdb.DuckDBPyConnection, conninfo: str, obj: LandingObject) -> list[date]:
    """Extract dates whose load audit differs between DuckDB and PostgreSQL: loads committed in DuckDB
    that never reached PostgreSQL (its copy failed, or the PostgreSQL database is new) and dates
    PostgreSQL holds that DuckDB no longer does."""
    here = _audit(duck.execute(f"{_AUDIT_SELECT} WHERE object = ?", [obj.name]).fetchall())
    there = postgres_audit(conninfo, obj.name)
    return sorted(d for d in here.keys() | there.keys() if here.get(d) != there.get(d))


def sync_object_to_postgres(
    duck: duckdb.DuckDBPyConnection,
    conninfo: str,
    lake_dir: Path,
    obj: LandingObject,
    loaded_dates: Iterable[date],
) -> tuple[list[date], dict[str, int]]:
    """Bring PostgreSQL's raw tables of ``obj`` level with DuckDB's after a load: the dates the load
    wrote (``loaded_dates``, also a refused load's, whose rejects are kept) and every date whose audit
    rows differ (:func:`dates_out_of_step`) go through the lake and are replaced in ONE PostgreSQL
    transaction. Tables are created even when no date is copied (dbt's sources need them). Returns the
    dates copied and the rows per table."""
    dates = sorted(set(loaded_dates) | set(dates_out_of_step(duck, conninfo, obj)))
    write_load(duck, obj, dates, lake_dir)
    return dates, load_postgres_object(conninfo, lake_dir, obj, dates)
