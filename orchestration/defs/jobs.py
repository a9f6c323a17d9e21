"""The daily job: every asset (raw, dbt, marts checks, publish) for one extract date or a range.

DuckDB allows one writer process, so every job runs its steps in one process, one after another
(``in_process_executor``): the loader, dbt (a subprocess of that step) and publish never overlap.
Runs do not overlap either: every run carries the ``WAREHOUSE_WRITER_TAG`` tag, and the instance
config shipped in ``orchestration/dagster.yaml`` (copied into ``$DAGSTER_HOME`` by ``make ui``/``make
run``) limits runs with that tag to one at a time, so the schedule and the sensor queue behind each
other under ``dagster dev`` or the daemon.

The schedule and the sensor target the job by its name (``DAILY_JOB``).
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs.tags import WAREHOUSE_WRITER_TAG, WAREHOUSE_WRITER_VALUE

DAILY_JOB = "daily_pipeline"


#: Partitioned as the raw assets it selects (Dagster infers the partitions from the assets).
daily_job = dg.define_asset_job(
    DAILY_JOB,
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    # Run tags (not op tags): the run queue reads them to keep one warehouse writer at a time.
    run_tags={WAREHOUSE_WRITER_TAG: WAREHOUSE_WRITER_VALUE},
    description="Load the landing batches of the dates, build and test dbt, check the marts, publish.",
)
