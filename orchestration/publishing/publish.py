"""Publish: an atomic, read-only copy of the marts and the core tables for BI tools.

The publish asset is downstream of every mart and core table, so Dagster runs it only after the dbt
tests, the landing checks and the mart checks (all blocking) passed in the same run. It builds a NEW
DuckDB file next to ``SALES_WH_PUBLISHED`` and moves it onto the published path with ``os.replace``
(atomic on one filesystem): a BI tool holding the old file open keeps reading the old snapshot, a new
reader sees the complete new one, and a failed check or a crash leaves the previous file untouched.

Published tables: ``marts.kpi_*``, ``core.dim_*``, ``core.dq_*``, ``core.fct_*`` (the facts are cheap to
copy and let BI drill down from a KPI to its deals and activities), ``main.run_history`` (one row per
publish, carried forward from the previous file) and ``main.check_results`` (the run's asset checks,
also carried forward).
"""

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.contract import OBJECTS, RAW_SCHEMA
from orchestration.defs.resources import WarehouseResource, retry_on_warehouse_lock
from orchestration.warehouse import connect_warehouse

RUN_HISTORY = "run_history"
CHECK_RESULTS = "check_results"

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


def temp_path_for(published: Path, run_id: str) -> Path:
    # Same folder as the target: os.replace is only atomic within one filesystem.
    return published.with_name(f".{published.name}.{run_id[:12]}.tmp")


def _remove_quietly(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def _copy_tables(con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for qualified in tables:
        schema, table = qualified.split(".")
        con.execute(f"create schema if not exists {schema}")
        con.execute(f"create table {schema}.{table} as select * from wh.{schema}.{table}")
        counts[qualified] = con.execute(f"select count(*) from {schema}.{table}").fetchone()[0]
    return counts


def _carry_forward(con: duckdb.DuckDBPyConnection, previous: Path) -> None:
    """Copy the previous file's history tables (when it has them) into the new file."""
    if not previous.exists():
        return
    con.execute(f"attach '{previous}' as prev (read_only)")
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


def _write_history(
    con: duckdb.DuckDBPyConnection, request: PublishRequest, counts: Mapping[str, int], at: datetime
) -> None:
    failed = sum(not c.passed for c in request.checks)
    con.execute(
        f"insert into main.{RUN_HISTORY} values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            request.run_id,
            at,
            request.partition_range,
            len(counts),
            json.dumps(dict(counts), sort_keys=True),
            len(request.checks) - failed,
            failed,
            json.dumps(sorted(request.objects_not_found)),
        ],
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
) -> dict[str, int]:
    """Build the new published file beside ``published_path`` and move it into place atomically.

    Returns the row count of each published table. On any error the temporary file is removed and the
    published file is left as it was. ``before_replace`` is a test hook called with the finished
    temporary file just before the move.
    """
    published_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(published_path, request.run_id)
    _remove_quietly(tmp)
    at = datetime.now(UTC).replace(tzinfo=None)
    try:
        con = connect_warehouse(tmp)
        try:
            con.execute(f"attach '{warehouse_path}' as wh (read_only)")
            counts = _copy_tables(con, request.tables)
            con.execute("detach wh")
            con.execute(_RUN_HISTORY_DDL)
            con.execute(_CHECK_RESULTS_DDL)
            _carry_forward(con, published_path)
            _write_history(con, request, counts, at)
            con.execute("checkpoint")
        finally:
            con.close()
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, published_path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    return counts


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
    found = existing_tables(con, ["marts", "core"])
    core = [t for t in found["core"] if t.startswith(("dim_", "fct_", "dq_"))]
    return [f"marts.{t}" for t in found["marts"]] + [f"core.{t}" for t in core]


def run_check_records(instance: dg.DagsterInstance, run_id: str) -> list[CheckRecord]:
    """The asset check evaluations of this run (landing, dbt tests, mart checks)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=100_000
    ).records
    out = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        out.append(
            CheckRecord(
                asset_key=evaluation.asset_key.to_user_string(),
                check_name=evaluation.check_name,
                passed=bool(evaluation.passed),
                severity=evaluation.severity.value,
                description=evaluation.description,
                evaluated_at=datetime.fromtimestamp(record.event_log_entry.timestamp, UTC).replace(
                    tzinfo=None
                ),
            )
        )
    return out


def _partition_range(context: dg.AssetExecutionContext) -> str:
    tags = context.run.tags
    start = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition", "")
    end = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition", "")
    return f"{start}..{end}" if start else ""


def build_publish_asset(upstream: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """The publish asset, downstream of every mart and core table (``upstream``)."""

    @dg.asset(
        key=dg.AssetKey(["published"]),
        group_name="publish",
        deps=list(upstream),
        kinds={"duckdb"},
        description="Atomic read-only copy of marts, core dims and facts, run history and check results.",
    )
    def published(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with retry_on_warehouse_lock(context), warehouse.connect(read_only=True) as con:
            tables = tables_to_publish(con)
            missing = objects_not_found(con)
        if missing:
            context.log.warning(f"objects not found in landing (their KPIs are empty): {', '.join(missing)}")
        request = PublishRequest(
            run_id=context.run.run_id,
            tables=tables,
            partition_range=_partition_range(context),
            checks=run_check_records(context.instance, context.run.run_id),
            objects_not_found=missing,
        )
        with retry_on_warehouse_lock(context):
            counts = publish(Path(warehouse.warehouse_path), Path(warehouse.published_path), request)
        context.log.info(f"published {len(counts)} tables to {warehouse.published_path}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(warehouse.published_path),
                "tables": len(counts),
                "row_counts": dg.MetadataValue.json(counts),
                "checks_in_run": len(request.checks),
                "objects_not_found": dg.MetadataValue.json(missing),
            }
        )

    return published
