"""The daily job: every asset (raw, dbt, marts checks, publish) for one extract date or a range.

DuckDB allows one writer process, so every job runs its steps in one process, one after another
(``in_process_executor``): the loader, dbt (a subprocess of that step) and publish never overlap.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

DAILY_JOB = "daily_pipeline"


def build_daily_job(partitions_def: dg.PartitionsDefinition) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions_def,
        executor_def=dg.in_process_executor,
        description="Load the landing batches of the dates, build and test dbt, check the marts, publish.",
    )
