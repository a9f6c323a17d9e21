"""Run the whole pipeline for a range of extract dates through Dagster, as ONE run.

Used by ``make run`` (via the CLI), the end-to-end tests and the benchmarks. Settings come from the
environment at call time (so tests can point ``SALES_WH_*`` at tmp paths); the dbt manifest is
re-parsed first so it matches the models on disk. With ``DAGSTER_HOME`` set, the run is recorded in
that persistent instance and shows up in ``dagster dev``; otherwise an ephemeral instance is used.

The whole run holds the warehouse's run lock (:mod:`orchestration.tooling.run_lock`), taken before the
manifest parse, the Dagster instance or the warehouse is touched: a second pipeline on the same
warehouse raises :class:`~orchestration.tooling.run_lock.WarehouseBusy` (or waits, with ``wait``)
instead of meeting DuckDB's file lock halfway through.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg
from dagster_dbt import DbtProject

from orchestration.defs.dbt_assets import dbt_env, prepare_manifest
from orchestration.defs.jobs import DAILY_JOB
from orchestration.defs.partitions import extract_date_tags, run_partition
from orchestration.defs.resources import WarehouseResource
from orchestration.quality.gx_engine import warm_up_landing_checks
from orchestration.settings import Settings
from orchestration.tooling.run_lock import instance_lock, warehouse_run_lock


@dataclass
class PipelineResult:
    run_id: str
    success: bool
    instance: dg.DagsterInstance
    #: Seconds per step (op) of the run, from the run's event log.
    step_seconds: dict[str, float] = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)
    result: dg.ExecuteInProcessResult | None = None


class RunObserver:
    """Hooks into a pipeline run (the command line's progress lines and log file); each does nothing
    here. ``on_event`` gets every Dagster event of the run as it is stored, on the executing thread."""

    def parsed(self, project: DbtProject) -> None:
        """The dbt project is parsed (``project.manifest_path`` is current)."""

    def planned(self, job: dg.JobDefinition, run_id: str) -> None:
        """The job about to run, and its run id."""

    def on_event(self, entry: Any) -> None:
        """One ``EventLogEntry`` of the run."""


def new_run_id() -> str:
    """A run id as Dagster makes them (a uuid4), known before the run starts (the log file's name)."""
    return str(uuid.uuid4())


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    return {
        s.step_key: round(s.end_time - s.start_time, 2)
        for s in instance.get_run_step_stats(run_id)
        if s.start_time and s.end_time
    }


def run_pipeline(
    start: date | str,
    end: date | str | None = None,
    *,
    instance: dg.DagsterInstance | None = None,
    run_config: dict[str, Any] | None = None,
    log_level: str = "INFO",
    wait: float | None = None,
    observer: RunObserver | None = None,
    run_id: str | None = None,
) -> PipelineResult:
    """Execute the daily job over the extract dates ``start..end`` (inclusive) as one run.

    A failed check or step does not raise: the result says ``success=False`` and which steps failed
    (the published file is then untouched). Another pipeline running on the same warehouse raises
    :class:`~orchestration.tooling.run_lock.WarehouseBusy` at once, or after waiting up to ``wait``
    seconds for it to finish.
    """
    first, last = _as_date(start), _as_date(end or start)
    if last < first:
        raise ValueError(f"end {last} is before start {first}")
    settings = Settings.from_env()
    with warehouse_run_lock(settings.warehouse_path, wait=wait):
        return _run_locked(
            first, last, settings, instance, run_config, log_level, observer or RunObserver(), run_id
        )


def _run_locked(
    first: date,
    last: date,
    settings: Settings,
    instance: dg.DagsterInstance | None,
    run_config: dict[str, Any] | None,
    log_level: str,
    observer: RunObserver,
    run_id: str | None,
) -> PipelineResult:
    # Parse with the environment the dbt step runs dbt in: dbt keys its partial parse on the rendered
    # profile (the warehouse path, limits, threads), and a parse under another environment made every
    # `dbt build` of the run parse the whole project again ("Unable to do partial parsing because
    # profile has changed": ~9 s of every run, the daily ones included).
    os.environ.update(dbt_env(WarehouseResource.from_settings(settings)))
    # While dbt parses (its own process, one core), this process sets up Great Expectations on the other
    # core (~5 s: its imports and an ephemeral context), which the first raw step would pay after the
    # parse. Runs whose every object loads more than SALES_WH_GX_MAX_ROWS rows check in SQL and do not
    # use it; then the set-up only costs the second core during the parse (docs/BENCHMARKS.md).
    project = prepare_manifest(settings.dbt_target, while_parsing=warm_up_landing_checks)
    observer.parsed(project)
    # Imported here, not at the top: the command line's other commands do not need Dagster's modules.
    from orchestration.defs.assemble import build_defs

    if instance is None:
        home = os.environ.get("DAGSTER_HOME")
        if home:
            with instance_lock(home):
                instance = dg.DagsterInstance.get()
        else:
            instance = dg.DagsterInstance.ephemeral()
    # An in-memory instance is thrown away after the run: run the unpartitioned job there (its dates in
    # tags), so Dagster stores no event per raw asset and day, nor a planned row per check and day (a
    # year's backfill: 6,000 materializations and 130,000 check rows, most of the run's time outside any
    # step; docs/BENCHMARKS.md). A persistent instance gets the partitioned job and partition status.
    partitioned = not instance.is_ephemeral
    job = build_defs(settings, project, partitioned=partitioned).resolve_job_def(DAILY_JOB)
    if partitioned:
        partition_key, tags = run_partition([first, last])
    else:
        partition_key, tags = None, extract_date_tags(first, last)
    run_id = run_id or new_run_id()
    observer.planned(job, run_id)
    instance.add_event_listener(run_id, observer.on_event)
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        tags=tags,
        run_id=run_id,
        # The console logger's default is DEBUG: one line per event, thousands for a backfill.
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}, **(run_config or {})},
        raise_on_error=False,
    )
    failed = [e.step_key for e in result.all_events if e.is_step_failure and e.step_key]
    return PipelineResult(
        run_id=result.run_id,
        success=result.success,
        instance=instance,
        step_seconds=_step_seconds(instance, result.run_id),
        failed_steps=failed,
        result=result,
    )
