"""Publish on Spark: the checked marts and core tables behind ONE database of views that BI tools read
(``published``), re-pointed by each publish at a new snapshot.

dbt builds in the working databases (``staging``, ``core``, ``marts``...), which change while a run works.
Publish copies what the run built (every ``kpi_*``, ``dim_*``, ``fct_*``, ``dq_*`` table: names are
unique across marts and core) into a database of its own, ``published__<run>``, with ``CREATE TABLE ...
USING parquet AS SELECT``, adds ``run_history`` and ``check_results`` (the previous publish's rows
carried forward, this run's added) and ``build_state``, then points the views of ``published`` at it
(``CREATE OR REPLACE VIEW published.<table> AS SELECT * FROM published__<run>.<table>``) and drops the
views of tables no longer published. Snapshots older than the previous one are dropped afterwards; the
previous one is kept, so a query that resolved a view just before the swap still finds its files.

Spark has no transaction across tables (nor across statements): the views are replaced one after the
other, ``run_history`` and ``build_state`` last. During the swap (a few seconds: one metastore update per
view) a reader that reads several published tables may see some of the new run and others of the
previous one, and a reader of ``run_history`` may see the new run recorded while a table it then reads is
still the previous one's for that moment. Each single view is switched atomically (a query reads one
snapshot's table whole). A publish that fails before the swap leaves ``published`` as it was (its
snapshot database is dropped by the next publish); one that fails during the swap leaves some views on
the new snapshot, and the next successful publish re-points them all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from orchestration.lake.spark import spark_execute as _execute
from orchestration.publishing.publish import (
    BUILD_STATE,
    CHECK_RESULTS,
    PUBLISHED_CORE_PREFIXES,
    RUN_HISTORY,
    PublishRequest,
    history_row,
)
from orchestration.warehouse import CORE_SCHEMA, MARTS_SCHEMA

#: The database of views BI tools read on Spark.
SPARK_PUBLISHED_DATABASE = "published"
#: Snapshot databases are ``published__<run>``.
SNAPSHOT_SEPARATOR = "__"

_log = logging.getLogger(__name__)

_HISTORY_DDL = {
    RUN_HISTORY: "run_id string, published_at timestamp, partition_range string, tables_published int, "
    "row_counts string, checks_passed int, checks_failed int, objects_not_found string",
    CHECK_RESULTS: "run_id string, asset_key string, check_name string, passed boolean, severity string, "
    "description string, evaluated_at timestamp",
    BUILD_STATE: "project_fingerprint string, raw_state string, run_id string, published_at timestamp",
}


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _lit(value: Any) -> str:
    """A Spark SQL literal (strings with backslash escapes, as Spark parses them)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{text}'"


def _tables(con: Any, database: str) -> list[str]:
    """Tables and views of ``database`` (none when it does not exist)."""
    if not _execute(con, f"SHOW DATABASES LIKE '{database}'"):
        return []
    # SHOW TABLES: (namespace, tableName, isTemporary)
    return sorted(r[1] for r in _execute(con, f"SHOW TABLES IN {_ident(database)}") if not r[2])


def spark_tables_to_publish(con: Any) -> list[str]:
    """``marts.*`` plus ``core.dim_*``, ``core.fct_*`` and ``core.dq_*`` as dbt built them on Spark."""
    marts = [f"{MARTS_SCHEMA}.{t}" for t in _tables(con, MARTS_SCHEMA)]
    core = [f"{CORE_SCHEMA}.{t}" for t in _tables(con, CORE_SCHEMA) if t.startswith(PUBLISHED_CORE_PREFIXES)]
    return marts + core


def snapshot_database(run_id: str, at: datetime) -> str:
    """``published__<UTC time>_<run>``: sorts by publish time, unique per run."""
    run = re.sub(r"[^0-9a-z]", "", run_id.lower())[:12]
    return f"{SPARK_PUBLISHED_DATABASE}{SNAPSHOT_SEPARATOR}{at:%Y%m%d%H%M%S}_{run}"


def _snapshots(con: Any) -> list[str]:
    prefix = SPARK_PUBLISHED_DATABASE + SNAPSHOT_SEPARATOR
    rows = _execute(con, f"SHOW DATABASES LIKE '{prefix}*'")
    return sorted(r[0] for r in rows if r[0].startswith(prefix))


def _build_snapshot(con: Any, snapshot: str, request: PublishRequest, at: datetime) -> dict[str, int]:
    """The new snapshot database, complete. Returns the row count per published table."""
    names = [t.split(".", 1)[1] for t in request.tables]
    clash = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(_HISTORY_DDL)))
    if clash:
        raise ValueError(f"tables published to one Spark database must have unique names: {clash}")
    _execute(con, f"DROP DATABASE IF EXISTS {_ident(snapshot)} CASCADE")
    _execute(con, f"CREATE DATABASE {_ident(snapshot)}")
    counts: dict[str, int] = {}
    for qualified in request.tables:
        source, table = qualified.split(".", 1)
        _execute(
            con,
            f"CREATE TABLE {_ident(snapshot)}.{_ident(table)} USING parquet AS "
            f"SELECT * FROM {_ident(source)}.{_ident(table)}",
        )
        counts[qualified] = int(
            _execute(con, f"SELECT count(*) FROM {_ident(snapshot)}.{_ident(table)}")[0][0]
        )
    previous = set(_tables(con, SPARK_PUBLISHED_DATABASE))
    for table, ddl in _HISTORY_DDL.items():
        _execute(con, f"CREATE TABLE {_ident(snapshot)}.{table} ({ddl}) USING parquet")
    rows: dict[str, list[list[Any]]] = {t: [] for t in _HISTORY_DDL}
    rows[RUN_HISTORY].append(history_row(request, counts, at))
    rows[CHECK_RESULTS] = [
        [request.run_id, c.asset_key, c.check_name, c.passed, c.severity, c.description, c.evaluated_at]
        for c in request.checks
    ]
    if request.build_state is not None:
        rows[BUILD_STATE].append([*request.build_state, request.run_id, at])
    for table in (RUN_HISTORY, CHECK_RESULTS):
        if table in previous:  # carried forward (one statement: the previous snapshot's files)
            _execute(
                con,
                f"INSERT INTO {_ident(snapshot)}.{table} SELECT * FROM {SPARK_PUBLISHED_DATABASE}.{table}",
            )
    for table, values in rows.items():
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            tuples = ", ".join("(" + ", ".join(_lit(v) for v in row) + ")" for row in chunk)
            _execute(con, f"INSERT INTO {_ident(snapshot)}.{table} VALUES {tuples}")
    return counts


def _swap(con: Any, snapshot: str, tables: list[str]) -> None:
    """Point every view of the published database at ``snapshot`` (history and build state last), then
    drop the views of tables the snapshot does not have."""
    _execute(con, f"CREATE DATABASE IF NOT EXISTS {SPARK_PUBLISHED_DATABASE}")
    existing = set(_tables(con, SPARK_PUBLISHED_DATABASE))
    order = [t for t in tables if t not in _HISTORY_DDL] + [CHECK_RESULTS, RUN_HISTORY, BUILD_STATE]
    for table in order:
        _execute(
            con,
            f"CREATE OR REPLACE VIEW {SPARK_PUBLISHED_DATABASE}.{_ident(table)} AS "
            f"SELECT * FROM {_ident(snapshot)}.{_ident(table)}",
        )
    for table in sorted(existing - set(order)):
        _execute(con, f"DROP VIEW IF EXISTS {SPARK_PUBLISHED_DATABASE}.{_ident(table)}")


def publish_spark(
    con: Any,
    request: PublishRequest,
    *,
    before_swap: Callable[[], None] | None = None,
    log: Callable[[str], object] | None = None,
) -> dict[str, int]:
    """Publish ``request.tables`` (``schema.table`` as dbt built them) on Spark through ``con`` (a DB-API
    connection to a Thrift server): build the snapshot database, then point the published views at it
    (module docstring). Returns the row count of each published table. ``before_swap`` is a test hook."""
    say = log or _log.info
    at = datetime.now(UTC).replace(tzinfo=None)
    snapshot = snapshot_database(request.run_id, at)
    counts = _build_snapshot(con, snapshot, request, at)
    if before_swap is not None:
        before_swap()
    _swap(con, snapshot, [t.split(".", 1)[1] for t in request.tables])
    # Keep the snapshot just replaced (queries that resolved a view before the swap may still read it).
    snapshots = _snapshots(con)
    keep = {snapshot}
    older = [s for s in snapshots if s < snapshot]
    if older:
        keep.add(older[-1])
    for stale in snapshots:
        if stale not in keep:
            try:
                _execute(con, f"DROP DATABASE IF EXISTS {_ident(stale)} CASCADE")
            except Exception as exc:  # noqa: BLE001 - a leftover is dropped by the next publish
                say(f"publish: snapshot {stale} kept ({exc.__class__.__name__}); the next publish drops it")
    return counts


def spark_build_state(host: str, port: int) -> tuple[str, str] | None:
    """The (dbt project fingerprint, raw state) of the published database; None when there is none or
    it cannot be read now (the run then builds)."""
    from orchestration.engines import spark_connection

    try:
        with spark_connection(host, port) as con:
            if BUILD_STATE not in _tables(con, SPARK_PUBLISHED_DATABASE):
                return None
            rows = _execute(
                con, f"SELECT project_fingerprint, raw_state FROM {SPARK_PUBLISHED_DATABASE}.{BUILD_STATE}"
            )
    except Exception:  # noqa: BLE001 - unreadable: build
        return None
    return (rows[0][0], rows[0][1]) if rows else None
