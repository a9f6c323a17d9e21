"""Publish: an atomic, read-only copy of the marts and the core tables for BI tools.

This module is the library (no Dagster); the asset that calls it is ``orchestration.defs.publish_asset``.
The publish asset is downstream of every mart and core table, so Dagster runs it only after the dbt
tests, the landing checks and the mart checks (all blocking) passed in the same run. It builds a NEW
DuckDB file next to ``SALES_WH_PUBLISHED`` and moves it onto the published path with ``os.replace``
(atomic on one filesystem): a BI tool holding the old file open keeps reading the old snapshot, a new
reader sees the complete new one, and a failed check or a crash leaves the previous file untouched.

Published tables: ``marts.kpi_*``, ``core.dim_*``, ``core.dq_*``, ``core.fct_*`` (the facts are cheap to
copy and let BI drill down from a KPI to its deals and activities), ``main.run_history`` (one row per
publish, carried forward from the previous file) and ``main.check_results`` (the run's asset checks,
also carried forward).

A publish that cannot write (a full disk, a read-only or unwritable folder) raises :class:`PublishError`,
one sentence naming the folder, the system's reason and that the previous published file is unchanged.

Housekeeping: a publish killed part-way leaves its temporary file (and ``.wal``) behind; the next publish
removes the temporary files of this naming pattern that no live process holds, and says so in the log.
The new file takes the previous published file's permission bits (and group, when the process may set
it), so a ``chmod 600`` on the published file survives the next publish.
"""

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from orchestration.contract import LOAD_AUDIT_TABLE, OBJECTS, RAW_SCHEMA, REJECTS_TABLE
from orchestration.faults import fault_point
from orchestration.sql import lit, q
from orchestration.warehouse import CORE_SCHEMA, MARTS_SCHEMA, connect_warehouse

#: Core tables published beside every mart: dimensions, facts and data-quality findings.
PUBLISHED_CORE_PREFIXES = ("dim_", "fct_", "dq_")
RUN_HISTORY = "run_history"
CHECK_RESULTS = "check_results"
#: What the published tables were built from (one row, this file's own): the dbt project's fingerprint
#: and the raw state (:func:`raw_state`). A run whose project and raw state equal it has nothing to
#: build or publish (orchestration/defs/dbt_assets.py).
BUILD_STATE = "build_state"

_RUN_HISTORY_DDL = f"""
create table main.{RUN_HISTORY} (
    run_id varchar, published_at timestamp, partition_range varchar, tables_published integer,
    row_counts varchar, checks_passed integer, checks_failed integer, objects_not_found varchar
)"""
_CHECK_RESULTS_DDL = f"""
create table main.{CHECK_RESULTS} (
    run_id varchar, asset_key varchar, check_name varchar, passed boolean, severity varchar,
    description varchar, evaluated_at timestamp
)"""


@dataclass(frozen=True)
class CheckRecord:
    asset_key: str
    check_name: str
    passed: bool
    severity: str
    description: str | None
    evaluated_at: datetime


@dataclass(frozen=True)
class PublishRequest:
    run_id: str
    tables: Sequence[str]  # "schema.table" in the warehouse
    partition_range: str = ""
    checks: Sequence[CheckRecord] = field(default_factory=tuple)
    objects_not_found: Sequence[str] = field(default_factory=tuple)
    #: (dbt project fingerprint, raw state) the tables were built from; None: not recorded.
    build_state: tuple[str, str] | None = None
    #: Incremental tables ("schema.table") -> their key (a column or several): in a publish that starts
    #: from a copy of the previous file, only their key values whose rows changed are replaced
    #: (:func:`_apply_delta`).
    incremental_keys: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


class PublishError(RuntimeError):
    """The new published file could not be written or moved into place (no space left, a read-only or
    unwritable folder); the previous published file is unchanged."""


def temp_path_for(published: Path, run_id: str) -> Path:
    # Same folder as the target: os.replace is only atomic within one filesystem.
    return published.with_name(f".{published.name}.{run_id[:12]}.tmp")


_log = logging.getLogger(__name__)


def _remove_quietly(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(OSError):
            p.unlink(missing_ok=True)  # a read-only folder refuses even this: nothing to remove there
    # DuckDB's spill folder for the temporary file (connect_warehouse: ``<file>.tmp/``).
    shutil.rmtree(path.with_name(path.name + ".tmp"), ignore_errors=True)


def _stale_pattern(published: Path) -> re.Pattern[str]:
    """Names :func:`temp_path_for` gives for ``published`` (any run), with the ``.wal`` and spill folder."""
    return re.compile(rf"\.{re.escape(published.name)}\.[\w-]+?\.tmp(\.wal|\.tmp)?")


def _held_by_a_live_process(db_file: Path) -> bool:
    """Whether a process has ``db_file`` open in DuckDB, which holds a POSIX (fcntl) lock on it while it
    does. Probing with a lock of our own is safe: this process never has a stale temp file open."""
    try:
        fd = os.open(db_file, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return True
        raise
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def remove_stale_temp_files(published: Path, *, keep: Path | None = None) -> list[Path]:
    """Remove temporary files of earlier publishes to ``published`` left by a killed run: only names of
    :func:`temp_path_for`'s pattern, only when no live process holds the database file. Returns what was
    removed."""
    pattern = _stale_pattern(published)
    removed: list[Path] = []
    if not published.parent.is_dir():
        return removed
    for entry in sorted(published.parent.iterdir()):
        match = pattern.fullmatch(entry.name)
        if not match or (keep is not None and entry.name.startswith(keep.name)):
            continue
        db_file = entry.with_name(entry.name[: len(entry.name) - len(match.group(1) or "")])
        if _held_by_a_live_process(db_file):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _take_mode_of(previous: Path, new: Path) -> None:
    """Give ``new`` the permission bits (and, if allowed, the group) of ``previous``, when it exists."""
    try:
        st = os.stat(previous)
    except FileNotFoundError:
        return
    os.chmod(new, st.st_mode & 0o7777)
    if os.stat(new).st_gid != st.st_gid:
        try:
            os.chown(new, -1, st.st_gid)
        except OSError:  # not a member of that group: keep ours, the mode still applies
            _log.warning("could not give %s the group %s of %s", new, st.st_gid, previous)


def _columns(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where database_name = ? and schema_name = ? and table_name = ? order by column_index",
        [database, schema, table],
    ).fetchall()


#: The column every incremental model stamps on the rows a build writes (its invocation's start).
BUILT_AT = "_built_at"
#: Buckets of a key's hash in which publish compares an incremental table with the warehouse's.
DELTA_BUCKETS = 4096


@dataclass(frozen=True)
class Delta:
    """Key values of an incremental table publish replaced: ``written`` from the rows the warehouse wrote
    since the previous publish (a later ``_built_at``), ``compared`` found different by comparison."""

    written: int = 0
    compared: int = 0

    def __add__(self, other: "Delta") -> "Delta":
        return Delta(self.written + other.written, self.compared + other.compared)


def _apply_delta(con: duckdb.DuckDBPyConnection, schema: str, table: str, key: Sequence[str]) -> Delta:
    """Make ``schema.table`` (the previous publish's copy) equal to the warehouse's, key value by key
    value (``key``: one or more columns), in two passes:

    1. The key values of the warehouse rows with a later ``_built_at`` than any row of the copy (rows
       written since: new, rebuilt, restated) are replaced. A zone-map read: at L a daily run's 52,657
       new activities of 18.6 M are found in 0.01 s. Skipped for a table without ``_built_at``.
    2. Both sides are then compared in ``DELTA_BUCKETS`` buckets of the key's hash (row count and sum of
       row hashes); in the buckets that still differ (a key value the warehouse no longer has, a row
       changed without a new ``_built_at``), the key values whose rows differ are replaced (a key value
       the warehouse no longer has is deleted).

    Pass 2 alone makes the copy equal; pass 1 only leaves it little to do, so that it compares a few
    thousand buckets instead of grouping every key value on both sides (at L 12.2 s for fct_activities)
    and replaces changed rows instead of every row of a changed as-of date (20 s for 225 days of
    fct_pipeline_daily)."""
    name = f"{q(schema)}.{q(table)}"
    keys = [q(c) for c in key]
    same_key = " and ".join(f"c.{k} is not distinct from t.{k}" for k in keys)
    bucket = f"hash({', '.join(f't.{k}' for k in keys)}) % {DELTA_BUCKETS}"

    def replace(changed: str) -> None:
        """Replace the rows of the key values in the temp table ``changed``."""
        of_changed = f"where exists (select 1 from {changed} as c where {same_key})"
        con.execute(f"delete from {name} as t {of_changed}")
        con.execute(f"insert into {name} select * from wh.{name} as t {of_changed}")

    def count(temp: str) -> int:
        (n,) = con.execute(f"select count(*) from {temp}").fetchone() or (0,)
        return int(n)

    columns = ", ".join(f"t.{k}" for k in keys)
    written = 0
    here = con.execute("select current_database()").fetchone()[0]  # type: ignore[index]
    if BUILT_AT in {c for c, _ in _columns(con, here, schema, table)}:
        con.execute(
            f"create or replace temp table _publish_written as select distinct {columns} from"
            f" wh.{name} as t where t.{BUILT_AT} > (select max({BUILT_AT}) from {name})"
        )
        written = count("_publish_written")
        if written:
            replace("_publish_written")
        con.execute("drop table _publish_written")

    def grouped(source: str, by: str, where: str = "") -> str:
        return f"select {by}, count(*) as n, sum(hash(t)) as h from {source} as t {where} group by all"

    con.execute(
        f"""create or replace temp table _publish_buckets as
            select coalesce(w.b, p.b) as b
            from ({grouped("wh." + name, f"{bucket} as b")}) as w
            full join ({grouped(name, f"{bucket} as b")}) as p on w.b = p.b
            where w.n is distinct from p.n or w.h is distinct from p.h"""
    )
    compared = 0
    if count("_publish_buckets"):
        in_buckets = f"where {bucket} in (select b from _publish_buckets)"
        con.execute(
            f"""create or replace temp table _publish_changed as
                select {", ".join(f"coalesce(w.{k}, p.{k}) as {k}" for k in keys)}
                from ({grouped("wh." + name, columns, in_buckets)}) as w
                full join ({grouped(name, columns, in_buckets)}) as p
                    on {" and ".join(f"w.{k} is not distinct from p.{k}" for k in keys)}
                where w.n is distinct from p.n or w.h is distinct from p.h"""
        )
        compared = count("_publish_changed")
        if compared:
            replace("_publish_changed")
        con.execute("drop table _publish_changed")
    con.execute("drop table _publish_buckets")
    return Delta(written, compared)


def _copy_tables(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[str],
    incremental_keys: Mapping[str, str | Sequence[str]] | None = None,
    say: Callable[[str], object] | None = None,
) -> dict[str, int]:
    """Copy ``tables`` from the attached warehouse ``wh``. When the file already holds a table (a copy of
    the previous publish) with the same columns and the table is incremental, only its changed keys
    are replaced; every other table is copied whole. Tables of the published schemas that are not in
    ``tables`` any more are dropped."""
    counts: dict[str, int] = {}
    incremental_keys = incremental_keys or {}
    wanted = set(tables)
    for schema, table in con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
        f"and schema_name in ({lit(MARTS_SCHEMA)}, {lit(CORE_SCHEMA)})"
    ).fetchall():
        if f"{schema}.{table}" not in wanted:
            con.execute(f"drop table {q(schema)}.{q(table)}")
    here = con.execute("select current_database()").fetchone()[0]  # type: ignore[index]
    replaced = Delta()
    for qualified in tables:
        schema, table = qualified.split(".")
        name = f"{q(schema)}.{q(table)}"
        con.execute(f"create schema if not exists {q(schema)}")
        previous = _columns(con, here, schema, table)
        key = incremental_keys.get(qualified)
        if key and previous and previous == _columns(con, "wh", schema, table):
            replaced += _apply_delta(con, schema, table, (key,) if isinstance(key, str) else tuple(key))
        else:
            con.execute(f"create or replace table {name} as select * from wh.{name}")
        (counts[qualified],) = con.execute(f"select count(*) from {name}").fetchall()[0]
        fault_point("publish_copy")  # the temporary file half written (reliability suite)
    if say is not None and any(k in wanted for k in incremental_keys):
        total = replaced.written + replaced.compared
        say(
            f"publish: {total} key value(s) of the incremental tables replaced ({replaced.written} written "
            f"since the last publish, {replaced.compared} found by comparison), the rest kept"
        )
    return counts


def _carry_forward(con: duckdb.DuckDBPyConnection, previous: Path) -> None:
    """Copy the previous file's history tables (when it has them) into the new file."""
    if not previous.exists():
        return
    con.execute(f"attach {lit(str(previous))} as prev (read_only)")
    try:
        prev_tables = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where database_name = 'prev' and schema_name = 'main'"
            ).fetchall()
        }
        for table in (RUN_HISTORY, CHECK_RESULTS):
            if table in prev_tables:
                con.execute(f"insert into main.{table} by name select * from prev.main.{table}")
    finally:
        con.execute("detach prev")


def history_row(request: PublishRequest, counts: Mapping[str, int], at: datetime) -> list[Any]:
    """The ``run_history`` row of a publish, in the table's column order (every engine's publish)."""
    failed = sum(not c.passed for c in request.checks)
    return [
        request.run_id,
        at,
        request.partition_range,
        len(counts),
        json.dumps(dict(counts), sort_keys=True),
        len(request.checks) - failed,
        failed,
        json.dumps(sorted(request.objects_not_found)),
    ]


def _write_history(
    con: duckdb.DuckDBPyConnection, request: PublishRequest, counts: Mapping[str, int], at: datetime
) -> None:
    con.execute(
        f"insert into main.{RUN_HISTORY} values (?, ?, ?, ?, ?, ?, ?, ?)", history_row(request, counts, at)
    )
    if request.build_state is not None:
        con.execute(
            f"create table main.{BUILD_STATE} (project_fingerprint varchar, raw_state varchar, "
            "run_id varchar, published_at timestamp)"
        )
        con.execute(
            f"insert into main.{BUILD_STATE} values (?, ?, ?, ?)", [*request.build_state, request.run_id, at]
        )
    if request.checks:
        con.executemany(
            f"insert into main.{CHECK_RESULTS} values (?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    request.run_id,
                    c.asset_key,
                    c.check_name,
                    c.passed,
                    c.severity,
                    c.description,
                    c.evaluated_at,
                ]
                for c in request.checks
            ],
        )


def publish(
    warehouse_path: Path,
    published_path: Path,
    request: PublishRequest,
    *,
    before_replace: Callable[[Path], None] | None = None,
    log: Callable[[str], object] | None = None,
) -> dict[str, int]:
    """Build the new published file beside ``published_path`` and move it into place atomically.

    Returns the row count of each published table. On any error the temporary file is removed and the
    published file is left as it was; an error writing the published folder (no space left, read-only
    or unwritable) is raised as :class:`PublishError`, which says so in one sentence. Temporary files
    a killed publish left are removed first, and ``log`` (default: this module's logger) says which.
    ``before_replace`` is a test hook called with the finished temporary file just before the move.
    """
    say = log or _log.info
    tmp = temp_path_for(published_path, request.run_id)
    try:
        published_path.parent.mkdir(parents=True, exist_ok=True)
        stale = remove_stale_temp_files(published_path, keep=tmp)
    except OSError as exc:
        raise _publish_error(published_path, exc) from exc
    if stale:
        say(
            f"removed {len(stale)} temporary file(s) a killed publish left in {published_path.parent}: "
            + ", ".join(p.name for p in stale)
        )
    _remove_quietly(tmp)
    at = datetime.now(UTC).replace(tzinfo=None)
    try:
        # An incremental publish starts from a byte copy of the previous file (never written after it
        # was moved into place) and replaces what changed; the copy is as atomic as a new file.
        from_previous = bool(request.incremental_keys) and published_build_state(published_path) is not None
        if from_previous:
            shutil.copyfile(published_path, tmp)
        con = connect_warehouse(tmp)
        try:
            con.execute(f"attach {lit(str(warehouse_path))} as wh (read_only)")
            counts = _copy_tables(
                con, request.tables, request.incremental_keys if from_previous else None, _log.info
            )
            con.execute("detach wh")
            if from_previous:
                con.execute(f"drop table if exists main.{BUILD_STATE}")
                con.execute(_RUN_HISTORY_DDL.replace("create table", "create table if not exists"))
                con.execute(_CHECK_RESULTS_DDL.replace("create table", "create table if not exists"))
            else:
                con.execute(_RUN_HISTORY_DDL)
                con.execute(_CHECK_RESULTS_DDL)
                _carry_forward(con, published_path)
            _write_history(con, request, counts, at)
            con.execute("checkpoint")
        finally:
            con.close()
        _take_mode_of(published_path, tmp)
        if before_replace is not None:
            before_replace(tmp)
        fault_point("publish_rename")  # written, not yet renamed (reliability suite)
        os.replace(tmp, published_path)
    except (OSError, duckdb.IOException) as exc:
        _remove_quietly(tmp)
        if _is_folder_error(exc, published_path, tmp):
            raise _publish_error(published_path, exc) from exc
        raise
    except BaseException:
        _remove_quietly(tmp)
        raise
    fault_point("publish_done")
    return counts


#: DuckDB's message when another process holds a database file (a lock is waited out by the caller).
_LOCK_ERROR_TEXT = "Could not set lock on file"


def _is_folder_error(exc: BaseException, published: Path, tmp: Path) -> bool:
    """Whether ``exc`` is about writing the published folder (not the warehouse being read, nor its lock)."""
    if isinstance(exc, OSError):
        return True
    message = str(exc)
    return _LOCK_ERROR_TEXT not in message and (str(tmp) in message or str(published) in message)


def _publish_error(published: Path, exc: BaseException) -> PublishError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).strip()
    kept = f"the previous {published} is unchanged" if published.exists() else f"{published} was not created"
    return PublishError(
        f"Could not publish to {published.parent}: {reason}. Nothing was published and {kept}; free space "
        "or make the folder writable for this user, then rerun (the run's warehouse is complete)."
    )


def raw_state(con: duckdb.DuckDBPyConnection) -> str:
    """A fingerprint of what the raw schema holds: every committed load writes its audit rows (a batch
    not reloaded writes none) and a refused one its rejects, each stamped with the load's time, so a
    load of any batch changes it and a run that loaded nothing leaves it as it was."""
    present = set(existing_tables(con, [RAW_SCHEMA])[RAW_SCHEMA])
    parts = []
    for table in (LOAD_AUDIT_TABLE, REJECTS_TABLE):
        if table in present:
            row = con.execute(
                f"select count(*), max(loaded_at)::varchar, sum(hash(object, extract_date, loaded_at)) "
                f"from {RAW_SCHEMA}.{table}"
            ).fetchone()
            parts.append(f"{table}:{row}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def published_build_state(published: Path) -> tuple[str, str] | None:
    """The (dbt project fingerprint, raw state) the published file was built from; None when there is
    no published file, it has no record of it, or it cannot be read now (then the run builds)."""
    if not published.exists():
        return None
    try:
        con = duckdb.connect(str(published), read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute(f"select project_fingerprint, raw_state from main.{BUILD_STATE}").fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return (row[0], row[1]) if row else None


def existing_tables(con: duckdb.DuckDBPyConnection, schemas: Sequence[str]) -> dict[str, list[str]]:
    rows = con.execute(
        "select schema_name, table_name from duckdb_tables() where schema_name in "
        f"({', '.join('?' for _ in schemas)}) order by 1, 2",
        list(schemas),
    ).fetchall()
    out: dict[str, list[str]] = {s: [] for s in schemas}
    for schema, table in rows:
        out[schema].append(table)
    return out


def objects_not_found(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Landing objects whose raw table is empty: their KPIs are empty, and the run says so."""
    present = {t for t in existing_tables(con, [RAW_SCHEMA])[RAW_SCHEMA]}
    missing = []
    for obj in OBJECTS:
        if (
            obj.table not in present
            or not con.execute(f"select 1 from {RAW_SCHEMA}.{obj.table} limit 1").fetchone()
        ):
            missing.append(obj.name)
    return missing


def tables_to_publish(con: duckdb.DuckDBPyConnection) -> list[str]:
    """``marts.*`` plus ``core.dim_*``, ``core.fct_*`` and ``core.dq_*`` (data-quality findings and
    unmapped values) as they exist in the warehouse."""
    found = existing_tables(con, [MARTS_SCHEMA, CORE_SCHEMA])
    core = [t for t in found[CORE_SCHEMA] if t.startswith(PUBLISHED_CORE_PREFIXES)]
    return [f"{MARTS_SCHEMA}.{t}" for t in found[MARTS_SCHEMA]] + [f"{CORE_SCHEMA}.{t}" for t in core]
