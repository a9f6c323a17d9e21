"""``build_defs``: the objects of ``defs/`` assembled into one ``Definitions`` (the code location
``orchestration.definitions`` is ``build_defs()``; a command-line run builds its own without building the
code location's first, which cost ~1.5 s of every run)."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtProject

from orchestration.defs.dbt_assets import (
    build_dbt_assets,
    incremental_keys,
    load_dbt_project,
    model_keys,
    read_manifest,
)
from orchestration.defs.freshness import build_freshness_checks
from orchestration.defs.jobs import daily_job, one_writer_executor
from orchestration.defs.mart_checks import build_mart_checks
from orchestration.defs.partitions import daily_partitions
from orchestration.defs.publish_asset import build_publish_asset
from orchestration.defs.raw_assets import build_raw_assets
from orchestration.defs.resources import build_resources
from orchestration.defs.schedules import build_daily_schedule
from orchestration.defs.sensors import build_landing_sensor
from orchestration.settings import Settings
from orchestration.warehouse import CORE_SCHEMA, MARTS_SCHEMA


def build_defs(
    settings: Settings | None = None, project: DbtProject | None = None, *, partitioned: bool = True
) -> dg.Definitions:
    """The code location. ``partitioned=False``: the same assets, checks and job with unpartitioned raw
    assets (a run names its extract dates in tags) and no schedule or sensor: what ``sales-wh run`` runs
    on its in-memory instance, where Dagster's per-partition events would be thrown away unread."""
    settings = settings or Settings.from_env()
    project = project or load_dbt_project(settings.dbt_target)
    partitions = daily_partitions(settings.partition_start, settings.schedule_timezone)
    manifest = read_manifest(project)  # once: ~0.3 s the first time
    marts = model_keys(manifest, MARTS_SCHEMA)
    core = model_keys(manifest, CORE_SCHEMA)
    return dg.Definitions(
        assets=[
            *build_raw_assets(partitions if partitioned else None),
            build_dbt_assets(project, manifest),
            build_publish_asset([*marts, *core], incremental_keys(manifest, [MARTS_SCHEMA, CORE_SCHEMA])),
        ],
        asset_checks=[*build_mart_checks(marts), *build_freshness_checks(settings)],
        jobs=[daily_job],
        schedules=[build_daily_schedule(settings)] if partitioned else [],
        sensors=[build_landing_sensor(partitions)] if partitioned else [],
        resources=build_resources(settings, project),
        # Assets materialized from the UI run in one process inside the run lock, as the job does.
        executor=one_writer_executor,
    )
