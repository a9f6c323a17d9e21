"""Daily schedule: at ``SALES_WH_SCHEDULE_CRON`` in ``SALES_WH_SCHEDULE_TIMEZONE`` (defaults in
:mod:`orchestration.settings`), run the daily job for that day's extract date."""

import dagster as dg

from orchestration.defs.jobs import DAILY_JOB
from orchestration.defs.partitions import scheduled_partition
from orchestration.settings import Settings

DAILY_SCHEDULE = "daily_pipeline_schedule"


def build_daily_schedule(settings: Settings) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=DAILY_SCHEDULE,
        job_name=DAILY_JOB,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone,
        description="Runs the extract date of the day the schedule fires (its own time zone).",
    )
    def daily_pipeline_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # scheduled_execution_time is in execution_timezone: the day's partition is its date.
        day = scheduled_partition(context.scheduled_execution_time)
        return dg.RunRequest(run_key=f"scheduled-{day}", partition_key=day)

    return daily_pipeline_schedule
