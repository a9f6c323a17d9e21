"""End to end on dirty demo data (issue 15): ``generate(..., dirty=True)`` through the whole pipeline.

Odd but possible records (unknown stages, activity types and lead statuses, events without a duration,
overlapping dated rates, deals closed before they were created, negative and empty amounts, far-future
close dates, zero durations, conversions without status history: orchestration/tooling/demo_data/
dirty.py) must never stop a publish. They are counted in ``core.dq_findings`` and
``core.dq_unmapped_values`` in the numbers the landing files hold, and the independent pandas KPI
checks of tests/test_kpis_e2e.py hold on them too, so their fallback branches (unknown stage: the
record's IsClosed/IsWon; unknown activity type; event minutes from the time span or the seed default)
run. Every expected number is computed here from the landing files with pandas (latest version per
Id, deleted records dropped), never read from the warehouse's own layers.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.contract import DAILY_OBJECTS
from orchestration.tooling.cli import DEMO_SCALE
from tests.conftest import PipelineEnv
from tests.test_kpis_e2e import (
    SEEDS,
    expected_bookings,
    expected_closed_and_won_counts,
    expected_cohort_conversion,
    expected_selling_share,
    expected_win_rate,
    flag,
    live_records,
    opportunities,
    read_object,
    timestamps,
)

pytestmark = pytest.mark.e2e

START = date(2025, 1, 1)
DAYS = 120
LAST = START + timedelta(days=DAYS - 1)
SEED = 7
COHORT = pd.Timestamp("2025-02-01")

MARTS = (
    "kpi_activity_effectiveness",
    "kpi_activity_effectiveness_by_category",
    "kpi_bookings",
    "kpi_deal_size",
    "kpi_deal_size_quarterly",
    "kpi_lead_funnel",
    "kpi_pipeline_coverage",
    "kpi_pipeline_funnel",
    "kpi_quota_attainment",
    "kpi_rep_activity",
    "kpi_sales_velocity",
    "kpi_stage_bottlenecks",
    "kpi_territory_balance",
    "kpi_win_rate",
)


@pytest.fixture(scope="module")
def dirty_run(tmp_path_factory: pytest.TempPathFactory, pipeline_env: PipelineEnv):
    """Dirty demo extracts of 120 days, run through Dagster as one run; (base folder, result)."""
    from orchestration.tooling.demo_data import generate
    from orchestration.tooling.pipeline import run_pipeline

    base = tmp_path_factory.mktemp("dirty")
    generate(
        base / "landing", scale=DEMO_SCALE, days=DAYS, seed=SEED, start=START, dirty=True, progress=False
    )
    with pipeline_env(base, partition_start=START):
        result = run_pipeline(START, LAST)
    return base, result


@pytest.fixture(scope="module")
def published(dirty_run) -> Path:
    base, result = dirty_run
    assert result.success, result.failed_steps
    return base / "published.duckdb"


@pytest.fixture(scope="module")
def landing(dirty_run) -> Path:
    return dirty_run[0] / "landing"


def query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def value(path: Path, sql: str) -> float:
    return float(query(path, sql)[0][0])


# ------------------------------------------------------------------ independent pandas side


def _seed(name: str) -> pd.DataFrame:
    return pd.read_csv(SEEDS / f"{name}.csv", dtype=str)


def _known_stages() -> set[str]:
    return set(_seed("opportunity_stages")["stage_name"]) | set(
        _seed("opportunity_stages_newer_orgs")["stage_name"]
    )


def _latest_by_extract(frame: pd.DataFrame) -> pd.DataFrame:
    """Objects without SystemModstamp (LeadHistory): the latest extract of each Id wins."""
    return frame.sort_values("_extract_date", kind="stable").drop_duplicates("Id", keep="last")


def _event_minutes(events: pd.DataFrame) -> pd.Series:
    """Logged minutes of each event: DurationInMinutes, else end - start when it does not run backwards."""
    start, end = timestamps(events["StartDateTime"]), timestamps(events["EndDateTime"])
    span = (end - start).dt.total_seconds() / 60.0
    return pd.to_numeric(events["DurationInMinutes"]).fillna(span.where(end >= start))


def expected_findings(landing: Path) -> dict[str, int]:
    """The dq_findings the dirty generator plants, counted on the live records of the landing files."""
    opps = opportunities(landing)
    created = timestamps(opps["CreatedDate"]).dt.tz_localize(None).dt.normalize()
    tasks = live_records(read_object(landing, "Task"))
    events = live_records(read_object(landing, "Event"))
    zero_tasks = int((pd.to_numeric(tasks["CallDurationInSeconds"]) == 0).sum())
    zero_events = int((_event_minutes(events) == 0).sum())
    return {
        "opportunity_closed_before_created": int((opps["is_closed"] & (opps["close_date"] < created)).sum()),
        "opportunity_negative_amount": int((opps["amount"] < 0).sum()),
        "opportunity_zero_or_missing_amount": int((opps["amount"].isna() | (opps["amount"] == 0)).sum()),
        "opportunity_close_date_5y_after_created": int(
            (opps["close_date"] > created + pd.DateOffset(years=5)).sum()
        ),
        "activity_zero_duration": zero_tasks + zero_events,
    }


def expected_unmapped(landing: Path) -> dict[tuple[str, str, str], int]:
    """(object, field, value) -> rows whose stage, lead status or activity type no seed maps."""
    counts: Counter[tuple[str, str, str]] = Counter()
    stages = _known_stages()
    opps = live_records(read_object(landing, "Opportunity"))
    for stage in opps.loc[~opps["StageName"].isin(stages), "StageName"]:
        counts["Opportunity", "StageName", stage] += 1
    history = live_records(read_object(landing, "OpportunityHistory"))
    for stage in history.loc[~history["StageName"].isin(stages), "StageName"]:
        counts["OpportunityHistory", "StageName", stage] += 1

    statuses = set(_seed("lead_statuses")["status"])
    leads = live_records(read_object(landing, "Lead"))
    for status in leads.loc[~leads["Status"].isin(statuses), "Status"]:
        counts["Lead", "Status", status] += 1
    steps = _latest_by_extract(read_object(landing, "LeadHistory"))
    steps = steps[(steps["Field"] == "Status") & steps["LeadId"].isin(leads["Id"])]
    for status in steps.loc[~steps["NewValue"].isin(statuses), "NewValue"]:
        counts["LeadHistory", "NewValue", status] += 1

    types, subtypes = _seed("activity_types"), _seed("activity_subtypes")
    for obj, source, subtype_field in (("Task", "task", "TaskSubtype"), ("Event", "event", "EventSubtype")):
        acts = live_records(read_object(landing, obj))
        known = set(types.loc[types["activity_source"] == source, "activity_type"])
        known_sub = set(subtypes.loc[subtypes["activity_source"] == source, "activity_subtype"])
        subtype = acts[subtype_field] if subtype_field in acts else pd.Series(pd.NA, index=acts.index)
        unmapped = ~acts["Type"].isin(known) & ~subtype.isin(known_sub)
        for typ in acts.loc[unmapped, "Type"]:
            counts[obj, "Type", typ] += 1
    return dict(counts)


def expected_conversions_without_history(landing: Path) -> dict[str, pd.Timestamp]:
    """Converted live leads without any Status row in LeadHistory -> their ConvertedDate (midnight)."""
    statuses = _seed("lead_statuses")
    converted_statuses = set(statuses.loc[statuses["lifecycle_stage"] == "converted", "status"])
    leads = live_records(read_object(landing, "Lead"))
    converted = leads[flag(leads["IsConverted"]) | leads["Status"].isin(converted_statuses)]
    history = _latest_by_extract(read_object(landing, "LeadHistory"))
    with_status_history = set(history.loc[history["Field"] == "Status", "LeadId"])
    without = converted[~converted["Id"].isin(with_status_history)]
    return dict(zip(without["Id"], pd.to_datetime(without["ConvertedDate"], format="%Y-%m-%d"), strict=True))


def expected_event_duration_sources(landing: Path) -> dict[str | None, int]:
    """Events by where their minutes come from: logged (duration or span), the seed default, none."""
    events = live_records(read_object(landing, "Event"))
    types = _seed("activity_types")
    mapped = events["Type"].isin(set(types.loc[types["activity_source"] == "event", "activity_type"]))
    logged = _event_minutes(events).notna()
    return {
        "logged": int(logged.sum()),
        "default": int((~logged & mapped).sum()),
        None: int((~logged & ~mapped).sum()),
    }


# ---------------------------------------------------------------------------------------------- tests


def test_dirty_landing_holds_every_kind_of_odd_record(landing: Path) -> None:
    """The premise: the generator planted each kind (otherwise the checks below prove nothing)."""
    findings = expected_findings(landing)
    assert all(n > 0 for n in findings.values()), findings
    unmapped = {(o, v) for o, _, v in expected_unmapped(landing)}
    assert {
        ("Opportunity", "Closed - Duplicate"),
        ("OpportunityHistory", "Legal Review"),
        ("Task", "Webinar Follow-up"),
        ("Event", "Conference"),
        ("Lead", "Recycled"),
        ("LeadHistory", "Recycled"),
    } <= unmapped
    assert len(expected_conversions_without_history(landing)) > 0
    sources = expected_event_duration_sources(landing)
    assert sources["default"] > 0 and sources[None] > 0


def test_dirty_data_publishes_with_warnings_only(dirty_run, published: Path) -> None:
    _, result = dirty_run
    rows = query(
        published,
        "select asset_key, check_name, passed, severity from main.check_results where run_id = ?",
        [result.run_id],
    )
    assert query(published, "select count(*) from main.run_history where run_id = ?", [result.run_id]) == [
        (1,)
    ]
    failed = {(r[0], r[1]): r[3] for r in rows if not r[2]}
    assert set(failed.values()) == {"WARN"}, failed
    # the odd data is warned about, where docs/CHECKS.md says
    for check in ("dq_findings_are_zero", "dq_unmapped_values_none"):
        assert any(check in name for _, name in failed), (check, failed)
    assert failed[("raw/opportunity", "landing_warnings")] == "WARN"  # negative amounts


def test_daily_objects_have_an_extract_every_day_and_are_fresh(dirty_run, published: Path) -> None:
    """Item 5: the generator writes every daily object every day (header-only when nothing changed),
    so the freshness check of each passes on the run's last extract date."""
    base, result = dirty_run
    for name in DAILY_OBJECTS:
        days = sorted(p.name for p in (base / "landing" / name).iterdir())
        assert days == [(START + timedelta(days=i)).isoformat() for i in range(DAYS)], name
    fresh = dict(
        query(
            published,
            "select asset_key, passed from main.check_results where run_id = ? and check_name = 'freshness'",
            [result.run_id],
        )
    )
    assert len(fresh) >= len(DAILY_OBJECTS) and all(fresh.values()), fresh


def test_findings_count_the_odd_records(landing: Path, published: Path) -> None:
    findings = dict(query(published, "select check_name, row_count from core.dq_findings"))
    expected = expected_findings(landing)
    expected["picklist_values_unmapped"] = sum(expected_unmapped(landing).values())
    assert {k: findings[k] for k in expected} == expected
    # the dirty generator plants no other kind: every other finding stays 0
    assert {k: v for k, v in findings.items() if k not in expected and v} == {}


def test_unmapped_values_count_the_odd_records(landing: Path, published: Path) -> None:
    rows = query(published, "select object, field, value, row_count from core.dq_unmapped_values")
    assert {(o, f, v): n for o, f, v, n in rows} == expected_unmapped(landing)


def test_conversions_without_status_history_are_dated_by_converted_date(
    landing: Path, published: Path
) -> None:
    """A converted lead without history reached MQL, SQL and conversion on its ConvertedDate (midnight:
    the time is unknown), not at its creation: MQL->SQL counts it in the month it converted."""
    rows = query(
        published,
        "select lead_id, mql_at, sql_at, converted_at from core.fct_leads "
        "where is_converted and not has_status_history",
    )
    expected = expected_conversions_without_history(landing)
    assert {r[0]: r[1:] for r in rows} == {k: (v, v, v) for k, v in expected.items()}


def test_events_without_a_duration_fall_back(landing: Path, published: Path) -> None:
    rows = query(
        published,
        "select duration_source, count(*) from core.fct_activities "
        "where activity_source = 'event' group by duration_source",
    )
    assert dict(rows) == expected_event_duration_sources(landing)


def test_kpi_marts_are_not_empty(published: Path) -> None:
    for mart in MARTS:
        assert value(published, f"select count(*) from marts.{mart}") > 0, mart


def test_bookings_and_deal_size_match_landing_files(landing: Path, published: Path) -> None:
    expected = expected_bookings(landing)
    assert expected > 0
    for sql in (
        "select sum(bookings_amount_corporate) from marts.kpi_bookings",
        "select sum(won_amount_corporate) from marts.kpi_deal_size",
        "select sum(won_amount_corporate) from marts.kpi_deal_size_quarterly",
    ):
        assert value(published, sql) == pytest.approx(expected, rel=1e-7, abs=1.0), sql


def test_win_rate_and_closed_deals_match_landing_files(landing: Path, published: Path) -> None:
    actual = value(published, "select sum(won_count) * 1.0 / sum(closed_count) from marts.kpi_win_rate")
    assert actual == pytest.approx(expected_win_rate(landing), rel=1e-12)
    closed, won = expected_closed_and_won_counts(landing)
    assert query(
        published,
        "select sum(closed_opportunity_count), sum(won_opportunity_count) "
        "from marts.kpi_activity_effectiveness",
    ) == [(closed, won)]


def test_selling_share_matches_landing_files(landing: Path, published: Path) -> None:
    actual = value(
        published, "select sum(selling_minutes) / sum(duration_minutes) from marts.kpi_rep_activity"
    )
    assert actual == pytest.approx(expected_selling_share(landing), rel=1e-9)


def test_lead_conversion_matches_landing_files(landing: Path, published: Path) -> None:
    actual = value(
        published,
        "select sum(leads_converted_count) * 1.0 / sum(leads_created_count) from marts.kpi_lead_funnel "
        f"where month_start = date '{COHORT.date().isoformat()}'",
    )
    assert actual == pytest.approx(expected_cohort_conversion(landing, COHORT), rel=1e-12)


# The six row-by-row mart checks of tests/test_kpi_values_e2e.py, on the dirty published file (the
# module is imported, not its test functions, so pytest does not collect them here twice).
MART_VALUE_CHECKS = (
    "test_quota_attainment_matches_landing_files",
    "test_pipeline_coverage_matches_landing_files",
    "test_sales_velocity_matches_landing_files",
    "test_lead_funnel_matches_landing_files",
    "test_stage_bottlenecks_match_landing_files",
    "test_territory_balance_matches_landing_files",
)


@pytest.mark.parametrize("check", MART_VALUE_CHECKS)
def test_mart_values_match_landing_files(check: str, landing: Path, published: Path) -> None:
    from tests import test_kpi_values_e2e

    getattr(test_kpi_values_e2e, check)((landing, published))
