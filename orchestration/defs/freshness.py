"""Freshness: one non-blocking ``freshness`` asset check per raw asset (docs/CHECKS.md).

The newest extract date of an object (the later of what ``raw._load_audit`` recorded and the
``<landing>/<Object>/<YYYY-MM-DD>/`` folders present, so a batch that arrived but was refused still
counts as arrived) is compared with the extract date the run expects:

- the run's last extract date, capped at the date of the schedule's latest tick
  (``SALES_WH_SCHEDULE_CRON`` in ``SALES_WH_SCHEDULE_TIMEZONE``): the scheduled daily run judges today's
  extract, a backfill of last year judges its own last day (it says nothing about today's);
- a run that names no extract date (a check run on its own from the UI): the date of the schedule's
  latest tick.

:func:`judge_freshness` decides (pure): on time passes; 1 day late warns (WARN); ``error_days``
(``SALES_WH_FRESHNESS_ERROR_DAYS``, default 3) or more days late fails with ERROR severity. Only the
objects the daily export always delivers (:data:`DAILY_OBJECTS`) are expected on every extract date;
the others are delivered when they change (users, territories, quotas, rates, picklists), so their age
says nothing: their check passes with the newest date in its metadata. An optional object never landed
is skipped (passes, ``status: skipped``), never failed.

The checks are non-blocking: a late extract is an outage to be told about, not a reason to hold back
the data that did arrive. They run in one step after the raw loads, before publishing, so their
results are in the published ``main.check_results``.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from orchestration.contract import DAILY_OBJECTS, LOAD_AUDIT_TABLE, OBJECTS, RAW_SCHEMA, LandingObject
from orchestration.defs.partitions import last_extract_date
from orchestration.defs.raw_assets import raw_asset_key
from orchestration.defs.resources import WarehouseResource, retry_on_warehouse_lock
from orchestration.ingestion.batch import BatchError
from orchestration.ingestion.discovery import list_extract_dates
from orchestration.settings import Settings

FRESHNESS_CHECK = "freshness"

Status = Literal["fresh", "late", "stale", "skipped", "on_change"]


@dataclass(frozen=True)
class Freshness:
    status: Status
    #: Days the newest extract is behind the expected date (None when nothing was landed).
    days_late: int | None
    message: str

    @property
    def passed(self) -> bool:
        return self.status in ("fresh", "skipped", "on_change")

    @property
    def severity(self) -> dg.AssetCheckSeverity:
        return dg.AssetCheckSeverity.ERROR if self.status == "stale" else dg.AssetCheckSeverity.WARN


def judge_freshness(
    newest: date | None, expected: date, *, error_days: int, daily: bool = True, optional: bool = False
) -> Freshness:
    """Pure decision: ``newest`` extract date landed (None: never) against the ``expected`` one."""
    if newest is None:
        if optional:
            return Freshness("skipped", None, "optional object never landed: nothing to be late")
        return Freshness("stale", None, f"never landed (expected an extract of {expected})")
    late = (expected - newest).days
    if not daily:
        return Freshness("on_change", max(late, 0), f"delivered when it changes; newest extract {newest}")
    if late <= 0:
        return Freshness("fresh", 0, f"newest extract {newest}, expected {expected}")
    if late >= error_days:
        return Freshness(
            "stale",
            late,
            f"newest extract {newest} is {late} days behind {expected} (error from {error_days})",
        )
    return Freshness(
        "late", late, f"extract of {expected} has not arrived; newest {newest} ({late} day(s) late)"
    )


def latest_scheduled_date(cron: str, timezone: str, now: datetime) -> date:
    """The extract date of the schedule's latest tick at ``now`` (the date the schedule last ran)."""
    # Dagster's own cron iterator (the one its schedules use); croniter is not a dependency.
    from dagster._utils.schedules import get_latest_completed_cron_tick

    tick = get_latest_completed_cron_tick(cron, now, timezone)
    return tick.astimezone(ZoneInfo(timezone)).date()


def expected_extract_date(run_last: date | None, scheduled: date) -> date:
    """The run's last extract date, never later than the schedule's latest; the latter without one."""
    return scheduled if run_last is None else min(run_last, scheduled)


def newest_loaded(con: duckdb.DuckDBPyConnection) -> dict[str, date]:
    """Object name -> newest extract date in ``raw._load_audit`` (empty before the first load)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = ? AND table_name = ?",
        [RAW_SCHEMA, LOAD_AUDIT_TABLE],
    ).fetchone()
    if not exists or not exists[0]:
        return {}
    rows = con.execute(
        f"SELECT object, max(extract_date) FROM {RAW_SCHEMA}.{LOAD_AUDIT_TABLE} "
        "WHERE source_files > 0 GROUP BY object"  # dates of a range with no folder are audited empty
    ).fetchall()
    return {obj: day for obj, day in rows if day is not None}


def newest_landed(landing_dir: Path, obj: LandingObject) -> date | None:
    """The newest ``<landing>/<Object>/<YYYY-MM-DD>/`` folder holding at least one file."""
    try:
        days = list_extract_dates(landing_dir, obj)
    except BatchError:  # a misnamed date folder: the raw asset reports it
        return None
    root = Path(landing_dir) / obj.name
    for day in reversed(days):
        folder = root / day.isoformat()
        if any(p.is_file() and not p.name.startswith((".", "_")) for p in folder.iterdir()):
            return day
    return None


def freshness_result(
    obj: LandingObject, newest: date | None, expected: date, error_days: int
) -> dg.AssetCheckResult:
    verdict = judge_freshness(
        newest, expected, error_days=error_days, daily=obj.name in DAILY_OBJECTS, optional=not obj.core
    )
    return dg.AssetCheckResult(
        asset_key=raw_asset_key(obj),
        check_name=FRESHNESS_CHECK,
        passed=verdict.passed,
        severity=verdict.severity,
        metadata={
            "status": verdict.status,
            "newest_extract_date": str(newest) if newest else None,
            "expected_extract_date": str(expected),
            "days_late": verdict.days_late,
            "error_after_days": error_days,
        },
        description=f"{obj.name}: {verdict.message}",
    )


def build_freshness_checks(
    settings: Settings, objects: Sequence[LandingObject] = OBJECTS
) -> list[dg.AssetChecksDefinition]:
    """One step with a non-blocking ``freshness`` check per raw asset."""
    specs = [
        dg.AssetCheckSpec(
            FRESHNESS_CHECK,
            asset=raw_asset_key(obj),
            blocking=False,
            description="Newest extract date against the schedule: WARN when late, ERROR after "
            "SALES_WH_FRESHNESS_ERROR_DAYS; never blocks publishing.",
        )
        for obj in objects
    ]

    @dg.multi_asset_check(specs=specs, name="raw_freshness_checks", can_subset=True)
    def raw_freshness_checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {k.asset_key for k in context.selected_asset_check_keys}
        scheduled = latest_scheduled_date(
            settings.schedule_cron,
            settings.schedule_timezone,
            datetime.now(ZoneInfo(settings.schedule_timezone)),
        )
        expected = expected_extract_date(last_extract_date(context.run.tags), scheduled)
        with (
            retry_on_warehouse_lock(context.op_execution_context),
            warehouse.connect(read_only=True) as con,
        ):
            loaded = newest_loaded(con)
        for obj in objects:
            if raw_asset_key(obj) not in selected:
                continue
            found = [d for d in (loaded.get(obj.name), newest_landed(Path(warehouse.landing_dir), obj)) if d]
            yield freshness_result(obj, max(found, default=None), expected, settings.freshness_error_days)

    return [raw_freshness_checks]
