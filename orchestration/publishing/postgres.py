"""Publish on PostgreSQL: the checked marts and core tables as ONE schema that BI tools read
(``SALES_WH_PG_PUBLISHED_SCHEMA``, default ``published``), replaced whole by each publish.

dbt builds in the working schemas (``staging``, ``core``, ``marts``...), which change while a run works.
Publish copies what the run built into a private staging schema (``<published>__next``): every
published table (``kpi_*``, ``dim_*``, ``fct_*``, ``dq_*``: table names are unique across marts and
core), ``run_history`` and ``check_results`` (the previous publish's rows carried forward, this run's
added) and ``build_state``. Then ONE short transaction swaps it in:

1. ``LOCK TABLE`` every table of the published schema ``IN ACCESS EXCLUSIVE MODE``: queries already
   reading them finish first (a reader's transaction holds its locks to its end, so a reader never reads
   one table before the swap and another after it), new ones wait;
2. rename the published schema to ``<published>__previous`` and the staging schema to ``<published>``;
3. commit. Waiting queries then resolve the names again and read the new tables.

A lock that cannot be had within ``LOCK_TIMEOUT`` (a long report) or a deadlock with a reader that
locks tables in another order aborts the swap, which is retried (``SWAP_ATTEMPTS``); the staging schema
is complete meanwhile, and the published schema is untouched until a swap commits. The previous schema
is dropped after the swap. ``SALES_WH_PG_READER_ROLE`` (optional) is granted ``USAGE`` and ``SELECT`` on
the new schema before the swap, so a BI role keeps its access across publishes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from orchestration.publishing.publish import (
    BUILD_STATE,
    CHECK_RESULTS,
    PUBLISHED_CORE_PREFIXES,
    RUN_HISTORY,
    PublishRequest,
    history_row,
)
from orchestration.sql import q
from orchestration.warehouse import CORE_SCHEMA, MARTS_SCHEMA

#: How long the swap waits for the published tables' readers before it gives up and tries again.
LOCK_TIMEOUT = "10s"
SWAP_ATTEMPTS = 6
READER_ROLE_ENV = "SALES_WH_PG_READER_ROLE"

_log = logging.getLogger(__name__)

_HISTORY_DDL = {
    RUN_HISTORY: "run_id text, published_at timestamp, partition_range text, tables_published integer, "
    "row_counts text, checks_passed integer, checks_failed integer, objects_not_found text",
    CHECK_RESULTS: "run_id text, asset_key text, check_name text, passed boolean, severity text, "
    "description text, evaluated_at timestamp",
    BUILD_STATE: "project_fingerprint text, raw_state text, run_id text, published_at timestamp",
}


class PostgresPublishError(RuntimeError):
    """The swap could not get its locks or was chosen as a deadlock victim on every attempt."""


def staging_schema(schema: str) -> str:
    return f"{schema}__next"


def previous_schema(schema: str) -> str:
    return f"{schema}__previous"


def _tables(cur: Any, schema: str) -> list[str]:
    cur.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
        [schema],
    )
    return [r[0] for r in cur.fetchall()]


def postgres_tables_to_publish(cur: Any) -> list[str]:
    """``marts.*`` plus ``core.dim_*``, ``core.fct_*`` and ``core.dq_*`` as dbt built them on PostgreSQL."""
    marts = [f"{MARTS_SCHEMA}.{t}" for t in _tables(cur, MARTS_SCHEMA)]
    core = [f"{CORE_SCHEMA}.{t}" for t in _tables(cur, CORE_SCHEMA) if t.startswith(PUBLISHED_CORE_PREFIXES)]
    return marts + core


def _schema_exists(cur: Any, schema: str) -> bool:
    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
    return cur.fetchone() is not None


def _build_staging(
    cur: Any, schema: str, request: PublishRequest, at: datetime, reader_role: str | None
) -> dict[str, int]:
    """The new published schema, complete, under its staging name. Returns the row count per table."""
    staging = staging_schema(schema)
    names = [t.split(".", 1)[1] for t in request.tables]
    clash = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(_HISTORY_DDL)))
    if clash:
        raise ValueError(f"tables published to one PostgreSQL schema must have unique names: {clash}")
    cur.execute(f"DROP SCHEMA IF EXISTS {q(staging)} CASCADE")
    cur.execute(f"CREATE SCHEMA {q(staging)}")
    counts: dict[str, int] = {}
    for qualified in request.tables:
        source_schema, table = qualified.split(".", 1)
        cur.execute(f"CREATE TABLE {q(staging)}.{q(table)} AS TABLE {q(source_schema)}.{q(table)}")
        counts[qualified] = cur.rowcount
    for table, ddl in _HISTORY_DDL.items():
        cur.execute(f"CREATE TABLE {q(staging)}.{q(table)} ({ddl})")
    previous = set(_tables(cur, schema)) if _schema_exists(cur, schema) else set()
    for table in (RUN_HISTORY, CHECK_RESULTS):
        if table in previous:
            cur.execute(f"INSERT INTO {q(staging)}.{q(table)} SELECT * FROM {q(schema)}.{q(table)}")
    cur.execute(
        f"INSERT INTO {q(staging)}.{RUN_HISTORY} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        history_row(request, counts, at),
    )
    if request.checks:
        cur.executemany(
            f"INSERT INTO {q(staging)}.{CHECK_RESULTS} VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (run, c.asset_key, c.check_name, c.passed, c.severity, c.description, c.evaluated_at)
                for run in [request.run_id]
                for c in request.checks
            ],
        )
    if request.build_state is not None:
        cur.execute(
            f"INSERT INTO {q(staging)}.{BUILD_STATE} VALUES (%s, %s, %s, %s)",
            [*request.build_state, request.run_id, at],
        )
    for table in _tables(cur, staging):
        cur.execute(f"ANALYZE {q(staging)}.{q(table)}")
    if reader_role:
        cur.execute(f"GRANT USAGE ON SCHEMA {q(staging)} TO {q(reader_role)}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {q(staging)} TO {q(reader_role)}")
    return counts


def _swap(pg: Any, schema: str) -> None:
    """One transaction: lock the published tables, rename the published schema aside and the staging
    schema into its place."""
    import psycopg2

    staging, previous = staging_schema(schema), previous_schema(schema)
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            with pg.cursor() as cur:
                cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                cur.execute(f"DROP SCHEMA IF EXISTS {q(previous)} CASCADE")
                if _schema_exists(cur, schema):
                    tables = _tables(cur, schema)
                    if tables:
                        names = ", ".join(f"{q(schema)}.{q(t)}" for t in tables)
                        cur.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
                    cur.execute(f"ALTER SCHEMA {q(schema)} RENAME TO {q(previous)}")
                cur.execute(f"ALTER SCHEMA {q(staging)} RENAME TO {q(schema)}")
            pg.commit()
            return
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.DeadlockDetected) as exc:
            pg.rollback()
            if attempt == SWAP_ATTEMPTS:
                raise PostgresPublishError(
                    f"could not swap {staging} in as {schema} after {attempt} attempts: readers held the "
                    f"published tables ({exc.__class__.__name__}); {schema} is unchanged"
                ) from exc
            _log.warning(f"publish swap {attempt} gave way to readers ({exc.__class__.__name__}); retrying")
            time.sleep(min(2.0 * attempt, 10.0))


def publish_postgres(
    conninfo: str,
    schema: str,
    request: PublishRequest,
    *,
    before_swap: Callable[[], None] | None = None,
    log: Callable[[str], object] | None = None,
) -> dict[str, int]:
    """Publish ``request.tables`` (``schema.table`` as dbt built them) to the schema ``schema``: build
    the staging schema, then swap it in (module docstring). Returns the row count of each published
    table. On any error before the swap commits, the published schema is as it was. ``before_swap``
    is a test hook called between the two."""
    import psycopg2

    say = log or _log.info
    at = datetime.now(UTC).replace(tzinfo=None)
    pg = psycopg2.connect(conninfo)
    try:
        with pg.cursor() as cur:
            role = os.environ.get(READER_ROLE_ENV, "").strip() or None
            counts = _build_staging(cur, schema, request, at, role)
        pg.commit()
        if before_swap is not None:
            before_swap()
        _swap(pg, schema)
        try:
            with pg.cursor() as cur:
                cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                cur.execute(f"DROP SCHEMA IF EXISTS {q(previous_schema(schema))} CASCADE")
            pg.commit()
        except psycopg2.Error as exc:  # a reader still on the old tables: the next publish drops them
            pg.rollback()
            say(
                f"publish: {previous_schema(schema)} kept ({exc.__class__.__name__}); "
                "the next publish drops it"
            )
    except BaseException:
        if not pg.closed:
            pg.rollback()
        raise
    finally:
        pg.close()
    return counts


def postgres_build_state(conninfo: str, schema: str) -> tuple[str, str] | None:
    """The (dbt project fingerprint, raw state) of the published schema; None when there is none or it
    cannot be read now (the run then builds)."""
    import psycopg2

    try:
        pg = psycopg2.connect(conninfo, connect_timeout=10)
    except psycopg2.Error:
        return None
    try:
        with pg.cursor() as cur:
            cur.execute(f"SELECT project_fingerprint, raw_state FROM {q(schema)}.{BUILD_STATE}")
            row = cur.fetchone()
    except psycopg2.Error:
        return None
    finally:
        pg.close()
    return (row[0], row[1]) if row else None
