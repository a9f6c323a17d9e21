"""Which extract dates a run covers: the daily partitions, and the pure decisions between a run's
partition tags and its dates (the schedule, the sensor, ``run_pipeline``, the raw and publish assets all
go through these, so one run means the same dates everywhere)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

import dagster as dg

from orchestration.defs.tags import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from orchestration.settings import DEFAULT_SCHEDULE_TIMEZONE


def daily_partitions(start: date, timezone: str = DEFAULT_SCHEDULE_TIMEZONE) -> dg.DailyPartitionsDefinition:
    """Extract dates. ``end_offset=1``: today's extract is a valid partition on the day it lands; days
    follow the schedule's time zone, so the 06:00 run loads the date of its own day."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), end_offset=1, timezone=timezone)


def run_partition(dates: Iterable[date]) -> tuple[str | None, dict[str, str]]:
    """How one run over ``dates`` is asked for: one partition key (a single date), or no key and the
    range tags (several dates, run as ONE run: the raw assets' backfill policy is single_run)."""
    days = sorted(set(dates))
    if not days:
        raise ValueError("a run covers at least one extract date")
    if len(days) == 1:
        return days[0].isoformat(), {}
    return None, {RANGE_START_TAG: days[0].isoformat(), RANGE_END_TAG: days[-1].isoformat()}


def extract_dates(partition_keys: Iterable[str]) -> list[date]:
    """The extract dates of a run's partition keys (one, or every key of a single-run range)."""
    return [date.fromisoformat(k) for k in partition_keys]


def partition_range(tags: Mapping[str, str]) -> str:
    """``"first..last"`` extract dates of a run from its tags (``""`` for an unpartitioned run)."""
    start = tags.get(RANGE_START_TAG) or tags.get(PARTITION_TAG, "")
    end = tags.get(RANGE_END_TAG) or tags.get(PARTITION_TAG, "")
    return f"{start}..{end}" if start else ""


def scheduled_partition(scheduled_execution_time: datetime) -> str:
    """The partition a scheduled tick runs: the date of the tick in the schedule's own time zone."""
    return scheduled_execution_time.date().isoformat()
