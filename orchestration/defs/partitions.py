"""Which extract dates a run covers: the daily partitions, and the pure decisions between a run's
partition tags and its dates (the schedule, the sensor, ``run_pipeline``, the raw and publish assets all
go through these, so one run means the same dates everywhere).

Two kinds of run cover dates. A run of the partitioned job (the schedule, the sensor, the UI, ``sales-wh
run --record``) names a partition key or a range of them. A run of the unpartitioned job (``sales-wh
run`` and the benchmarks on an in-memory instance, which nobody reads after the run) names its dates in
``EXTRACT_START_TAG``/``EXTRACT_END_TAG``: the same steps and checks, without Dagster's bookkeeping per
asset and partition (one materialization event per raw asset and day, one planned row per check and
day: most of a year's backfill's time outside any step, docs/BENCHMARKS.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

import dagster as dg

from orchestration.defs.tags import (
    EXTRACT_END_TAG,
    EXTRACT_START_TAG,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
)
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


def extract_date_tags(first: date, last: date) -> dict[str, str]:
    """The tags of an unpartitioned run over the extract dates ``first..last`` (inclusive)."""
    if last < first:
        raise ValueError(f"extract dates end {last} before they start {first}")
    return {EXTRACT_START_TAG: first.isoformat(), EXTRACT_END_TAG: last.isoformat()}


def tagged_extract_dates(tags: Mapping[str, str]) -> list[date]:
    """Every extract date of an unpartitioned run, from its tags; a run without them covers none (an
    asset of the unpartitioned job materialized from the UI): say what is missing."""
    start, end = tags.get(EXTRACT_START_TAG), tags.get(EXTRACT_END_TAG)
    if not start or not end:
        raise ValueError(
            f"a run of the unpartitioned job names its extract dates in the tags {EXTRACT_START_TAG} and "
            f"{EXTRACT_END_TAG} (sales-wh run sets them); this run has {dict(tags)}"
        )
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def partition_range(tags: Mapping[str, str]) -> str:
    """``"first..last"`` extract dates of a run from its tags (``""`` for a run that names none)."""
    start = tags.get(RANGE_START_TAG) or tags.get(PARTITION_TAG) or tags.get(EXTRACT_START_TAG, "")
    end = tags.get(RANGE_END_TAG) or tags.get(PARTITION_TAG) or tags.get(EXTRACT_END_TAG, "")
    return f"{start}..{end}" if start else ""


def last_extract_date(tags: Mapping[str, str]) -> date | None:
    """The last extract date a run names in its tags (None: an unpartitioned run without dates)."""
    last = tags.get(RANGE_END_TAG) or tags.get(PARTITION_TAG) or tags.get(EXTRACT_END_TAG)
    return date.fromisoformat(last) if last else None


def scheduled_partition(scheduled_execution_time: datetime) -> str:
    """The partition a scheduled tick runs: the date of the tick in the schedule's own time zone."""
    return scheduled_execution_time.date().isoformat()
