"""Daily schedule: at ``SALES_WH_SCHEDULE_CRON`` (default 06:00) in ``SALES_WH_SCHEDULE_TIMEZONE``
(default UTC), run the daily job for that day's extract date."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.settings import Settings

DAILY_SCHEDULE = "daily_pipeline_schedule"


def build_daily_schedule(job: UnresolvedAssetJobDefinition, settings: Settings) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=DAILY_SCHEDULE,
        job=job,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone,
        description="Runs the extract date of the day the schedule fires (its own time zone).",
    )
    def daily_pipeline_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # scheduled_execution_time is in execution_timezone: the day's partition is its date.
        day = context.scheduled_execution_time.date().isoformat()
        return dg.RunRequest(run_key=f"scheduled-{day}", partition_key=day)

    return daily_pipeline_schedule
