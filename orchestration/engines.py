"""The engine a run builds, checks and publishes on: ``SALES_WH_DBT_TARGET`` (docs/ARCHITECTURE.md:
Engines).

Whatever the engine, the loader parses, rejects and audits in the DuckDB warehouse (``SALES_WH_WAREHOUSE``):
it is the run's source of truth for raw, its signatures and its raw state. What differs:

- ``duckdb``: dbt builds in that same file; publish writes a new DuckDB file and renames it into place.
- ``postgres``: each raw load is exported to the lake and copied into PostgreSQL's ``raw`` schema
  (:mod:`orchestration.lake.postgres`); dbt builds and tests there; the mart checks read PostgreSQL;
  publish builds a staging schema and swaps it for the published one in one transaction
  (:mod:`orchestration.publishing.postgres`).
- ``spark``: a Spark Thrift server (``SALES_WH_SPARK_METHOD=thrift``; .ci/spark.sh starts a local one)
  owns the catalog; each raw load is exported to the lake and its external tables registered over it
  (:mod:`orchestration.lake.spark`); dbt builds and tests through the server; the mart checks read
  through it; publish copies the tables into a per-run database and points the views of the published
  database at it (:mod:`orchestration.publishing.spark`).

The mart checks read through a :class:`MartReader`, one per engine, so the same SQL checks every engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import duckdb

from orchestration.settings import Settings, postgres_conninfo
from orchestration.sql import table_columns

DUCKDB, POSTGRES, SPARK = "duckdb", "postgres", "spark"
#: Engines a whole run works on (load, build, checks, publish).
RUN_ENGINES = (DUCKDB, POSTGRES, SPARK)


class EngineNotSupported(RuntimeError):
    """The target is not one a whole pipeline run can use."""


def run_engine(target: str) -> str:
    """The engine of ``target`` for a pipeline run, or :class:`EngineNotSupported` naming what works."""
    if target in RUN_ENGINES:
        return target
    raise EngineNotSupported(f"SALES_WH_DBT_TARGET={target!r}: expected one of {', '.join(RUN_ENGINES)}")


def settings_conninfo(settings: Settings) -> str:
    """The PostgreSQL connection string of ``settings`` (password from the environment)."""
    return postgres_conninfo(settings.pg_host, settings.pg_port, settings.pg_user, settings.pg_database)


def engine_label(target: str, host: str, port: int, database: str) -> str:
    """Where a target's tables are, for logs and run output (no password)."""
    return f"postgresql://{host}:{port}/{database}" if target == POSTGRES else target


def spark_label(host: str, port: int) -> str:
    return f"spark://{host}:{port}"


def published_where(settings: Settings) -> str:
    """Where a run publishes, for people: the DuckDB file, the PostgreSQL schema or the Spark database."""
    if settings.dbt_target == POSTGRES:
        location = engine_label(POSTGRES, settings.pg_host, settings.pg_port, settings.pg_database)
        return f"schema {settings.pg_published_schema} on {location}"
    if settings.dbt_target == SPARK:
        from orchestration.publishing.spark import SPARK_PUBLISHED_DATABASE

        return (
            f"database {SPARK_PUBLISHED_DATABASE} on {spark_label(settings.spark_host, settings.spark_port)}"
        )
    return str(settings.published_path)


def build_stamp_suffix(target: str, host: str, port: int, database: str) -> str:
    """What tells one built warehouse from another for the dbt project's fingerprint stamp: nothing for
    DuckDB (the stamp sits next to its file), the server and database for PostgreSQL, the Thrift server
    for Spark (``database`` is then ignored)."""
    if target == DUCKDB:
        return ""
    if target not in (POSTGRES, SPARK):
        return f".{target}"
    where = f"{host}:{port}/{database}" if target == POSTGRES else f"{host}:{port}"
    return f".{target}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"


class MartReader(Protocol):
    """Read-only queries the mart checks make, on any engine."""

    def one(self, sql: str) -> tuple[Any, ...]: ...

    def columns(self, schema: str, table: str) -> list[str]: ...


class DuckDBReader:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def one(self, sql: str) -> tuple[Any, ...]:
        row = self._con.execute(sql).fetchone()
        if row is None:
            raise RuntimeError(f"query returned no row: {sql[:200]}")
        return row

    def columns(self, schema: str, table: str) -> list[str]:
        return table_columns(self._con, schema, table)


class PostgresReader:
    def __init__(self, con: Any) -> None:
        self._con = con

    def one(self, sql: str) -> tuple[Any, ...]:
        with self._con.cursor() as cur:
            cur.execute(sql)
            row = cur.fetchone()
        if row is None:
            raise RuntimeError(f"query returned no row: {sql[:200]}")
        return tuple(row)

    def columns(self, schema: str, table: str) -> list[str]:
        with self._con.cursor() as cur:
            cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = %s ORDER BY ordinal_position",
                [schema, table],
            )
            return [r[0] for r in cur.fetchall()]


class SparkReader:
    """The mart checks' queries through a Spark Thrift server (a PyHive connection). The checks quote
    identifiers the SQL way (``"column"``), which Spark reads as identifiers only in ANSI mode with
    ``doubleQuotedIdentifiers``: both are set for this reader's session."""

    def __init__(self, con: Any) -> None:
        self._con = con
        cur = con.cursor()
        try:
            for setting in ("spark.sql.ansi.enabled=true", "spark.sql.ansi.doubleQuotedIdentifiers=true"):
                cur.execute(f"SET {setting}")
        finally:
            cur.close()

    def one(self, sql: str) -> tuple[Any, ...]:
        cur = self._con.cursor()
        try:
            cur.execute(sql)
            row = cur.fetchone()
        finally:
            cur.close()
        if row is None:
            raise RuntimeError(f"query returned no row: {sql[:200]}")
        return tuple(row)

    def columns(self, schema: str, table: str) -> list[str]:
        from orchestration.lake.spark import sql_table_columns

        return [c for c, _ in sql_table_columns(self._con, f"{schema}.{table}") or []]


@contextmanager
def spark_connection(host: str, port: int, user: str = "sales_wh") -> Iterator[Any]:
    """A PyHive connection to a Spark Thrift server (the ``spark`` extra with PyHive), closed at the end.
    Its session's time zone is UTC, as dbt's."""
    from pyhive import hive

    con = hive.connect(
        host=host, port=port, username=user, configuration={"spark.sql.session.timeZone": "UTC"}
    )
    try:
        yield con
    finally:
        con.close()


@contextmanager
def postgres_connection(conninfo: str, *, read_only: bool = False) -> Iterator[Any]:
    """A psycopg2 connection (the ``postgres`` extra), closed at the end; ``read_only`` sessions cannot
    write."""
    import psycopg2

    con = psycopg2.connect(conninfo)
    try:
        if read_only:
            con.set_session(readonly=True, autocommit=True)
        yield con
    finally:
        con.close()
