"""The daily job: every asset (raw, dbt, marts checks, publish) for one extract date or a range.

DuckDB allows one writer process, so every job runs its steps in one process, one after another
(``in_process_executor``): the loader, dbt (a subprocess of that step) and publish never overlap.
Runs do not overlap either: every run carries the ``WAREHOUSE_WRITER_TAG`` tag, and the instance
config shipped in ``orchestration/dagster.yaml`` (copied into ``$DAGSTER_HOME`` by ``make ui``/``make
run``) limits runs with that tag to one at a time, so the schedule and the sensor queue behind each
other under ``dagster dev`` or the daemon.

The run queue only sees runs of one Dagster instance; a ``sales-wh run`` (which runs the job in its own
process, with an in-memory instance) takes the warehouse's run lock instead
(:mod:`orchestration.tooling.run_lock`). Runs Dagster launches itself (the UI, the schedule, the sensor,
backfills, assets materialized from the UI) take that same lock in their executor,
:data:`one_writer_executor`: the in-process executor inside ``warehouse_run_lock``, held from before the
first step to after the last. Such a run waits for a running ``sales-wh run`` (up to
``RUN_LOCK_WAIT_SECONDS``, saying so in its log), and a ``sales-wh run`` started meanwhile exits naming
it. ``execute_in_process`` (the command line's own run, which already holds the lock, and the tests)
always uses Dagster's plain in-process executor, so nothing is taken twice.

The schedule and the sensor target the job by its name (``DAILY_JOB``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg

from orchestration.defs.tags import WAREHOUSE_WRITER_TAG, WAREHOUSE_WRITER_VALUE
from orchestration.settings import Settings
from orchestration.tooling.run_lock import DEFAULT_WAIT_SECONDS, LockHolder, warehouse_run_lock

DAILY_JOB = "daily_pipeline"
#: How long a run Dagster launched waits for another pipeline holding the warehouse (a ``sales-wh run``)
#: before it fails naming it.
RUN_LOCK_WAIT_SECONDS = DEFAULT_WAIT_SECONDS


class OneWriterExecutor(dg.Executor):
    """An executor that runs the whole plan inside the warehouse's run lock (``inner`` runs the steps)."""

    def __init__(self, inner: dg.Executor, settings: Settings) -> None:
        self._inner = inner
        self._warehouse = settings.warehouse_path

    @property
    def retries(self) -> Any:
        return self._inner.retries

    @property
    def step_dependency_config(self) -> Any:
        return self._inner.step_dependency_config

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[Any]:
        run, log = plan_context.dagster_run, plan_context.log

        def waiting(holder: LockHolder) -> None:
            log.warning(
                f"another pipeline is running on {self._warehouse} ({holder.describe()}); this run "
                f"waits up to {RUN_LOCK_WAIT_SECONDS:.0f} s for it to finish"
            )

        with warehouse_run_lock(
            self._warehouse,
            wait=RUN_LOCK_WAIT_SECONDS,
            command=f"Dagster run {run.run_id} of {run.job_name}",
            on_wait=waiting,
            on_stale=log.warning,
        ):
            yield from self._inner.execute(plan_context, execution_plan)


# Named like the executor it wraps, so the run config (``execution: in_process: ...``) is unchanged.
@dg.executor(name="in_process", config_schema=dg.in_process_executor.config_schema.as_field())
def one_writer_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Dagster's in-process executor (every step in one process, one after another: one DuckDB writer),
    holding the warehouse's run lock for the whole run."""
    create = dg.in_process_executor.executor_creation_fn
    assert create is not None, "Dagster's in-process executor has a creation function"
    return OneWriterExecutor(create(init_context), Settings.from_env())


#: Partitioned as the raw assets it selects (Dagster infers the partitions from the assets).
daily_job = dg.define_asset_job(
    DAILY_JOB,
    selection=dg.AssetSelection.all(),
    executor_def=one_writer_executor,
    # Run tags (not op tags): the run queue reads them to keep one warehouse writer at a time.
    run_tags={WAREHOUSE_WRITER_TAG: WAREHOUSE_WRITER_VALUE},
    description="Load the landing batches of the dates, build and test dbt, check the marts, publish.",
)
