"""Asset factory: one daily-partitioned raw asset per landing object of the contract.

Each asset loads the extract dates of its run (one date, or a whole backfill range in ONE
``load_batches`` call and transaction: its partition keys, or, in the unpartitioned job the command line
runs on an in-memory instance, the dates of the run's tags: :mod:`orchestration.defs.partitions`), then
validates the loaded rows with the landing checks. The checks surface as two asset checks per raw asset:
``landing_errors`` (blocking, ERROR) and ``landing_warnings`` (WARN); each carries the individual
expectation outcomes in its metadata. The expectations run inside the load's transaction: when a blocking
one fails, the load is rolled back (raw keeps its previous content, so no later run can build on the bad
batch), the failed check is recorded, and the step fails, so dbt and publish do not run and the published
file keeps the last good state. A corrected batch for the same extract date loads normally. A batch wrong
as a whole (a missing key column, an unreadable file, an ambiguous day order: ``BatchError``) loads
nothing; it is reported as a failed ``landing_errors`` check whose description names the file and the
problem, and the step fails. A warehouse locked by another process is waited out
(``retry_on_warehouse_lock``).
"""

import os
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orchestration.contract import (
    FIELD_KPIS,
    LOAD_AUDIT_TABLE,
    OBJECTS,
    RAW_SCHEMA,
    LandingObject,
    get_object,
)
from orchestration.defs.partitions import extract_dates, tagged_extract_dates
from orchestration.defs.resources import WarehouseResource, retry_on_warehouse_lock
from orchestration.defs.tags import CORE_OBJECT_TAG
from orchestration.engines import POSTGRES, SPARK
from orchestration.faults import fault_point
from orchestration.ingestion import rejects
from orchestration.ingestion.loader import BatchError, BatchResult, load_batches
from orchestration.ingestion.signature import batch_signatures, settings_token, unchanged_dates
from orchestration.lake.postgres import sync_object_to_postgres
from orchestration.lake.spark import sync_object_to_spark
from orchestration.quality.landing import (
    GX_ENGINE,
    ExpectationOutcome,
    date_chunks,
    known_currencies,
    landing_engine,
    reject_rate_outcome,
    validate_landing,
)
from orchestration.settings import object_date_formats

#: ``1``: load every extract date of a run even when its batch did not change since its last load.
RELOAD_ENV = "SALES_WH_RELOAD"

ERRORS_CHECK = "landing_errors"
WARNINGS_CHECK = "landing_warnings"
#: Raw assets are grouped by their schema, as the dbt models are (staging, core, marts...).
RAW_GROUP = RAW_SCHEMA

#: Other transient failures (an I/O hiccup) are retried a few times with jittered exponential backoff.
#: A warehouse locked by another process is waited out much longer, by ``retry_on_warehouse_lock``
#: (which asks for its own retries). A BatchError is a data problem and fails at once (raised as
#: ``dg.Failure``, which is never retried); a failed blocking check is never retried either.
RAW_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


class RawLoadConfig(dg.Config):
    """Run config of a raw asset: a date format (``MDY``, ``DMY``, ...) for this object in one run,
    over ``SALES_WH_DATE_FORMATS``; it only settles US/day-first ambiguity (formats are detected)."""

    date_format: str | None = None
    #: Load every extract date of the run, also those whose files are those of their last load (also
    #: ``SALES_WH_RELOAD=1``, ``sales-wh run --reload``).
    reload: bool = False


def raw_asset_key(obj: LandingObject) -> dg.AssetKey:
    return dg.AssetKey([RAW_SCHEMA, obj.table])


def _check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            ERRORS_CHECK,
            asset=key,
            blocking=True,
            description="Landing expectations of error severity (contract, types, keys, amounts).",
        ),
        dg.AssetCheckSpec(
            WARNINGS_CHECK,
            asset=key,
            blocking=False,
            description="Landing expectations of warn severity (unknown stages or currencies, ...).",
        ),
    ]


def _outcomes_markdown(outcomes: Sequence[tuple[str, ExpectationOutcome]]) -> str:
    lines = ["| extract date | expectation | ok | details |", "|---|---|---|---|"]
    for extract_date, o in outcomes:
        details = str(o.details).replace("|", "/").replace("\n", " ")[:300]
        lines.append(f"| {extract_date} | {o.name} | {'yes' if o.success else 'NO'} | {details} |")
    return "\n".join(lines)


def _check_result(
    name: str,
    severity: dg.AssetCheckSeverity,
    outcomes: Sequence[tuple[str, ExpectationOutcome]],
    reasons: Sequence[rejects.RejectReason] = (),
    note: str | None = None,
) -> dg.AssetCheckResult:
    """One asset check from expectation outcomes; ``reasons`` (the load's top reject reasons) go into
    its metadata and, when it fails, into its description, so a blocked batch says why. ``note``
    describes a check that passed (batches not reloaded: their checks passed at their load)."""
    failed = [(d, o) for d, o in outcomes if not o.success]
    metadata: dict[str, Any] = {
        "expectations": len(outcomes),
        "failed": len(failed),
        "failed_expectations": sorted({o.name for _, o in failed}),
        "outcomes": dg.MetadataValue.md(_outcomes_markdown(failed or outcomes)),
    }
    if reasons:
        metadata["top_reject_reasons"] = dg.MetadataValue.md(rejects.markdown(reasons))
    description = "; ".join(f"{d}: {o.name}: {o.description}" for d, o in failed)
    if failed and reasons:
        top = reasons[0]
        description += f". Top reject reason: {top.rows} x {top.reason}, e.g. {top.examples[0]}"
    return dg.AssetCheckResult(
        check_name=name,
        passed=not failed,
        severity=severity,
        metadata=metadata,
        description=description[:2000] or note,
    )


def _batch_metadata(results: Sequence[BatchResult]) -> dict[str, Any]:
    found = [r for r in results if r.found]
    missing = sorted(str(r.extract_date) for r in results if not r.found)
    return {
        "extract_dates": len(results),
        "batches_found": len(found),
        "files": sum(len(r.files) for r in found),
        "source_rows": sum(r.source_rows for r in found),
        "loaded_rows": sum(r.loaded_rows for r in found),
        "rejected_rows": sum(r.rejected_rows for r in found),
        "object_found": bool(found),
        "extract_dates_not_found": dg.MetadataValue.json(missing[:400]),
    }


#: Largest number of loaded rows validated in one pandas frame when Great Expectations validates a run
#: (a run of at most ``SALES_WH_GX_MAX_ROWS`` rows; larger runs are validated in SQL, all at once, as
#: DuckDB streams). Raising that threshold above this size validates in chunks of whole extract dates
#: (every expectation is per batch or per row, so chunking by date changes no verdict), which bounds the
#: memory the frames take.
VALIDATION_CHUNK_ROWS = 1_000_000


def _validate(
    context: dg.AssetExecutionContext,
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    dates: Sequence[date],
    gx_max_rows: int | None = None,
) -> list[tuple[str, ExpectationOutcome]]:
    """Landing expectations on the rows just loaded for ``dates``: with Great Expectations when the run
    loaded at most ``gx_max_rows`` rows (in chunks of whole extract dates of at most
    ``VALIDATION_CHUNK_ROWS``), else in SQL over all its dates at once."""
    counts = dict(
        con.execute(
            f"SELECT _extract_date, count(*) FROM {RAW_SCHEMA}.{obj.table} "
            "WHERE _extract_date IN (SELECT unnest(CAST(? AS DATE[]))) GROUP BY 1",
            [list(dates)],
        ).fetchall()
    )
    rows = sum(counts.values())
    engine = landing_engine(rows, gx_max_rows)
    chunks = [list(dates)]
    if engine == GX_ENGINE:
        chunks = date_chunks(counts, VALIDATION_CHUNK_ROWS) or chunks
    currencies = known_currencies(con)
    outcomes: list[tuple[str, ExpectationOutcome]] = []
    for chunk in chunks:
        label = _label(dates) if len(chunks) == 1 else _label(chunk)
        outcomes += [
            (label, o) for o in validate_landing(con, obj, chunk, known_currencies=currencies, engine=engine)
        ]
    context.log.info(
        f"{obj.name}: landing expectations on {rows} loaded rows with the {engine} engine "
        f"in {len(chunks)} chunk(s)"
    )
    return outcomes


def _audited_batches(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, dates: Sequence[date]
) -> list[BatchResult]:
    """The batches of this load as the loader audited them (``raw._load_audit``, inside its transaction:
    ``before_commit`` only gets the connection), for the reject-rate expectation."""
    rows = con.execute(
        f"""SELECT extract_date, source_files, source_rows, loaded_rows, rejected_rows
            FROM {RAW_SCHEMA}.{LOAD_AUDIT_TABLE}
            WHERE object = ? AND extract_date IN (SELECT unnest(CAST(? AS DATE[])))
            ORDER BY extract_date""",
        [obj.name, list(dates)],
    ).fetchall()
    return [
        BatchResult(obj.name, d, (), source, loaded, rejected, found=files > 0)
        for d, files, source, loaded, rejected in rows
    ]


def _label(dates: Sequence[date]) -> str:
    return dates[0].isoformat() if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"


def _batch_error_check(obj: LandingObject, dates: Sequence[date], exc: BatchError) -> dg.AssetCheckResult:
    """The failed blocking check of a batch that is wrong as a whole (nothing of the run was loaded)."""
    label = _label(dates)
    return dg.AssetCheckResult(
        check_name=ERRORS_CHECK,
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"batch_error": str(exc)[:2000], "extract_dates": label, "committed": False},
        description=f"{label}: batch rejected as a whole, nothing loaded: {exc}"[:2000],
    )


def _materialize(
    context: dg.AssetExecutionContext,
    obj: LandingObject,
    key: dg.AssetKey,
    warehouse: WarehouseResource,
    dates: Sequence[date],
    results: Sequence[BatchResult],
    outcomes: Sequence[tuple[str, ExpectationOutcome]],
    reasons: Sequence[rejects.RejectReason] = (),
    unchanged: Sequence[date] = (),
    unchanged_found: int = 0,
) -> dg.MaterializeResult:
    metadata = _batch_metadata(results)
    metadata["committed"] = all(r.committed for r in results)
    # Batches whose files did not change since their last load (orchestration/ingestion/signature.py):
    # not loaded again, raw keeps them as loaded and checked then.
    metadata["extract_dates_unchanged"] = unchanged_found
    if unchanged_found:
        metadata["object_found"] = True
    if not metadata["committed"]:
        context.log.error(
            f"{obj.name}: blocking landing checks failed; the load was rolled back and raw "
            f"{RAW_SCHEMA}.{obj.table} keeps its previous content (its rejects stay in "
            f"{RAW_SCHEMA}._rejects with committed = false)"
        )
    missing = sorted({c for r in results if r.found for c in r.missing_columns})
    if missing:
        partial = sorted({kpi for c in missing if (kpi := FIELD_KPIS.get((obj.name, obj.field(c).name)))})
        metadata["missing_columns"] = dg.MetadataValue.json(missing)
        context.log.warning(
            f"{obj.name}: column(s) {', '.join(obj.field(c).name for c in missing)} not in the landed files "
            f"(loaded as NULL); partial KPIs: {'; '.join(partial) or 'none'}"
        )
    formats = {c: f for r in results for c, f in r.column_formats.items()}
    if formats:
        metadata["date_formats"] = dg.MetadataValue.json(formats)
    if reasons:
        metadata["top_reject_reasons"] = dg.MetadataValue.md(rejects.markdown(reasons))
    if unchanged_found and not results:
        context.log.info(
            f"{obj.name}: nothing new: {unchanged_found} batch(es) of {_label(unchanged)} are the files of "
            "their last load, raw is unchanged"
        )
    elif not metadata["object_found"]:
        context.log.warning(
            f"{obj.name} not found in {warehouse.landing_dir} for {dates[0]}..{dates[-1]}"
            + ("" if obj.core else f" ({obj.when_absent})")
        )
    verb = "loaded" if metadata["committed"] else "read (NOT loaded: the load was rolled back)"
    if results:
        context.log.info(
            f"{obj.name}: {metadata['loaded_rows']} rows {verb}, {metadata['rejected_rows']} rejected "
            f"from {metadata['files']} file(s), {len(results)} extract date(s)"
            + (f"; {unchanged_found} unchanged batch(es) not reloaded" if unchanged_found else "")
        )
    note = (
        f"{unchanged_found} batch(es) unchanged since their last load, checked then; not reloaded"
        if unchanged_found
        else None
    )
    errors = _check_result(
        ERRORS_CHECK,
        dg.AssetCheckSeverity.ERROR,
        [(d, o) for d, o in outcomes if o.severity == "error"],
        reasons,
        note,
    )
    warnings = _check_result(
        WARNINGS_CHECK,
        dg.AssetCheckSeverity.WARN,
        [(d, o) for d, o in outcomes if o.severity != "error"],
        note=note,
    )
    # A failed blocking check fails this step after the materialization: dbt and publish are skipped.
    return dg.MaterializeResult(asset_key=key, metadata=metadata, check_results=[errors, warnings])


def run_extract_dates(context: dg.AssetExecutionContext) -> list[date]:
    """The extract dates a raw asset loads in this run: its partition keys, or (unpartitioned job) the
    dates the run's tags name."""
    if context.assets_def.partitions_def is not None:
        return extract_dates(context.partition_keys)
    try:
        return tagged_extract_dates(context.run.tags)
    except ValueError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc


def _sync_postgres(
    context: dg.AssetExecutionContext,
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    warehouse: WarehouseResource,
    loaded: Sequence[date],
) -> None:
    """The ``postgres`` engine: what the load changed in DuckDB's raw (and any date PostgreSQL missed)
    through the lake into PostgreSQL's raw, in one transaction there. A failure fails the step (retried):
    DuckDB's audit then still differs from PostgreSQL's, so the next attempt or run copies those dates."""
    dates, rows = sync_object_to_postgres(con, warehouse.conninfo(), Path(warehouse.lake_dir), obj, loaded)
    if dates:
        context.log.info(
            f"{obj.name}: {_label(dates)} ({len(dates)} extract date(s)) copied to PostgreSQL raw at "
            f"{warehouse.engine_location}: " + ", ".join(f"{t} {n} rows" for t, n in rows.items())
        )


def _sync_spark(
    context: dg.AssetExecutionContext,
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    warehouse: WarehouseResource,
    loaded: Sequence[date],
) -> None:
    """The ``spark`` engine: what the load changed in DuckDB's raw (and any date the lake missed) written
    to the lake, and the object's external tables registered again over it through the Thrift server.
    A failure fails the step (retried); DuckDB's audit then differs from the lake's, so the next
    attempt or run writes those dates again."""
    with warehouse.spark() as spark:
        dates = sync_object_to_spark(con, spark, Path(warehouse.lake_dir), obj, loaded)
    if dates:
        context.log.info(
            f"{obj.name}: {_label(dates)} ({len(dates)} extract date(s)) written to the lake and registered "
            f"in Spark's raw at {warehouse.engine_location}"
        )


def build_raw_asset(
    obj: LandingObject, partitions_def: dg.PartitionsDefinition | None
) -> dg.AssetsDefinition:
    """The raw asset of one landing object (daily partitions; ``None``: the unpartitioned job's)."""
    key = raw_asset_key(obj)
    # Currency checks read raw.currency_type: load it first in the same run.
    needs_currencies = obj.name != "CurrencyType" and any(f.name == "CurrencyIsoCode" for f in obj.fields)
    currency_type = get_object("CurrencyType")

    @dg.asset(
        key=key,
        deps=[raw_asset_key(currency_type)] if needs_currencies else None,
        group_name=RAW_GROUP,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions_def else None,
        retry_policy=RAW_RETRY_POLICY,
        check_specs=_check_specs(key),
        description=f"{obj.description} Raw `{RAW_SCHEMA}.{obj.table}` loaded from landing/{obj.name}/.",
        kinds={"duckdb"},
        tags={CORE_OBJECT_TAG: "true" if obj.core else "false"},
        metadata={"landing_object": obj.name, "core_object": obj.core},
    )
    def _raw_asset(
        context: dg.AssetExecutionContext, config: RawLoadConfig, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        run_dates = run_extract_dates(context)
        date_formats = object_date_formats(dict(warehouse.date_formats), obj.name)
        if config.date_format:
            date_formats["*"] = config.date_format
        max_rate, gx_max_rows = warehouse.max_reject_rate, warehouse.gx_max_rows
        signatures = batch_signatures(
            Path(warehouse.landing_dir), obj, run_dates, settings_token(date_formats, max_rate)
        )
        dates: list[date] = []  # the dates loaded: those whose batch changed since its last load
        outcomes: list[tuple[str, ExpectationOutcome]] = []
        reasons: list[rejects.RejectReason] = []

        def passes_blocking_checks(con: duckdb.DuckDBPyConnection) -> bool:
            fault_point(f"raw_load:{obj.name}")  # inside the load transaction (reliability suite)
            outcomes.extend(_validate(context, con, obj, dates, gx_max_rows))
            outcomes.append((_label(dates), reject_rate_outcome(_audited_batches(con, obj, dates), max_rate)))
            reasons.extend(rejects.top_reasons(con, objects=[obj.name], dates=dates))
            return all(o.success for _, o in outcomes if o.severity == "error")

        try:
            with retry_on_warehouse_lock(context), warehouse.connect() as con:
                reload = config.reload or os.environ.get(RELOAD_ENV, "0") == "1"
                unchanged = [] if reload else sorted(unchanged_dates(con, obj, signatures))
                dates[:] = [d for d in run_dates if d not in unchanged]
                results = (
                    load_batches(
                        con,
                        obj,
                        Path(warehouse.landing_dir),
                        dates,
                        date_formats=date_formats,
                        before_commit=passes_blocking_checks,
                        signatures=signatures,
                    )
                    if dates
                    else []
                )
                if warehouse.engine == POSTGRES:
                    _sync_postgres(context, con, obj, warehouse, dates)
                elif warehouse.engine == SPARK:
                    _sync_spark(context, con, obj, warehouse, dates)
        except BatchError as exc:  # a data problem: retrying cannot help
            # Report the blocking check as failed (the UI shows it with the message naming the file),
            # then fail the step without a materialization: nothing was loaded.
            yield _batch_error_check(obj, dates or run_dates, exc)
            raise dg.Failure(description=f"{obj.name}: {exc}", allow_retries=False) from exc
        found_unchanged = sum(signatures[d] is not None for d in unchanged)
        yield _materialize(
            context, obj, key, warehouse, run_dates, results, outcomes, reasons, unchanged, found_unchanged
        )

    return _raw_asset


def build_raw_assets(partitions_def: dg.PartitionsDefinition | None) -> list[dg.AssetsDefinition]:
    return [build_raw_asset(obj, partitions_def) for obj in OBJECTS]
