"""The publish asset: after every blocking check of the run passed, an atomic read-only copy of the marts
and core tables for BI tools (:func:`orchestration.publishing.publish.publish`), with the run's check
results and history."""

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from orchestration.contract import OBJECTS_BY_NAME
from orchestration.defs.dbt_assets import built_fingerprint
from orchestration.defs.partitions import partition_range
from orchestration.defs.resources import WarehouseResource, retry_on_warehouse_lock
from orchestration.engines import DUCKDB, POSTGRES, SPARK, postgres_connection
from orchestration.publishing.postgres import postgres_tables_to_publish, publish_postgres
from orchestration.publishing.publish import (
    CheckRecord,
    PublishRequest,
    objects_not_found,
    publish,
    raw_state,
    tables_to_publish,
)
from orchestration.publishing.spark import SPARK_PUBLISHED_DATABASE, publish_spark, spark_tables_to_publish
from orchestration.tooling.dashboard import write_after_publish

PUBLISHED_KEY = dg.AssetKey(["published"])
PUBLISH_GROUP = "publish"


def run_check_records(instance: dg.DagsterInstance, run_id: str) -> list[CheckRecord]:
    """The asset check evaluations of this run (landing, dbt tests, mart checks)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=100_000
    ).records
    out = []
    for record in records:
        event = record.event_log_entry.dagster_event
        assert event is not None  # records of an event type always carry their event
        evaluation = event.event_specific_data
        assert isinstance(evaluation, dg.AssetCheckEvaluation)
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


def _engine_result(
    context: dg.AssetExecutionContext, where: str, counts: Mapping[str, int], request: PublishRequest
) -> dg.MaterializeResult:
    """The publish asset's result on an engine other than DuckDB (no published file, no dashboard)."""
    context.log.info(f"published {len(counts)} tables to {where}")
    return dg.MaterializeResult(
        metadata={
            "path": where,
            "tables": len(counts),
            "row_counts": dg.MetadataValue.json(dict(counts)),
            "checks_in_run": len(request.checks),
            "objects_not_found": dg.MetadataValue.json(list(request.objects_not_found)),
            "dashboard": "not written (the dashboard reads a published DuckDB file)",
        }
    )


def _publish_on_postgres(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, request: PublishRequest
) -> dg.MaterializeResult:
    """The run's tables as dbt built them on PostgreSQL, swapped in as the published schema."""
    conninfo = warehouse.conninfo()
    with postgres_connection(conninfo, read_only=True) as pg, pg.cursor() as cur:
        tables = postgres_tables_to_publish(cur)
    request = dataclasses.replace(request, tables=tables)
    counts = publish_postgres(conninfo, warehouse.pg_published_schema, request, log=context.log.warning)
    where = f"schema {warehouse.pg_published_schema} on {warehouse.engine_location}"
    return _engine_result(context, where, counts, request)


def _publish_on_spark(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, request: PublishRequest
) -> dg.MaterializeResult:
    """The run's tables as dbt built them on Spark, copied into a snapshot database that the published
    views then point at (orchestration/publishing/spark.py: no multi-table transaction on Spark)."""
    with warehouse.spark() as con:
        request = dataclasses.replace(request, tables=spark_tables_to_publish(con))
        counts = publish_spark(con, request, log=context.log.warning)
    where = f"database {SPARK_PUBLISHED_DATABASE} on {warehouse.engine_location}"
    return _engine_result(context, where, counts, request)


def build_publish_asset(
    upstream: Sequence[dg.AssetKey], incremental_keys: Mapping[str, Sequence[str]] | None = None
) -> dg.AssetsDefinition:
    """The publish asset, downstream of every mart and core table (``upstream``); ``incremental_keys``
    (incremental table -> its key columns) are published by key from a copy of the previous file."""

    @dg.asset(
        key=PUBLISHED_KEY,
        group_name=PUBLISH_GROUP,
        deps=list(upstream),
        kinds={"duckdb", "postgres", "spark"},
        description="Atomic read-only copy of marts, core dims and facts, run history and check results.",
    )
    def published(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with retry_on_warehouse_lock(context), warehouse.connect(read_only=True) as con:
            tables = tables_to_publish(con) if warehouse.engine == DUCKDB else []
            missing = objects_not_found(con)
            state = raw_state(con)
        fingerprint = built_fingerprint(warehouse.warehouse_path, warehouse.build_stamp_suffix)
        for name in missing:
            obj = OBJECTS_BY_NAME[name]
            effect = "its core KPIs are empty" if obj.core else obj.when_absent
            context.log.warning(f"{name} not found in landing ({effect})")
        request = PublishRequest(
            run_id=context.run.run_id,
            tables=tables,
            partition_range=partition_range(context.run.tags),
            checks=run_check_records(context.instance, context.run.run_id),
            objects_not_found=missing,
            build_state=(fingerprint, state) if fingerprint else None,
            incremental_keys=dict(incremental_keys or {}),
        )
        if warehouse.engine == POSTGRES:
            return _publish_on_postgres(context, warehouse, request)
        if warehouse.engine == SPARK:
            return _publish_on_spark(context, warehouse, request)
        with retry_on_warehouse_lock(context):
            counts = publish(
                Path(warehouse.warehouse_path),
                Path(warehouse.published_path),
                request,
                log=context.log.warning,  # a killed publish left files: worth a line on the console
            )
        context.log.info(f"published {len(counts)} tables to {warehouse.published_path}")
        dashboard = write_after_publish(Path(warehouse.published_path), warn=context.log.warning)
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(warehouse.published_path),
                "tables": len(counts),
                "row_counts": dg.MetadataValue.json(counts),
                "checks_in_run": len(request.checks),
                "objects_not_found": dg.MetadataValue.json(missing),
                "dashboard": dg.MetadataValue.path(str(dashboard) if dashboard else "not written"),
            }
        )

    return published
