"""Checks that bite (issue 15, item 4) and freshness (item 5).

End to end through Dagster (``e2e``): one good 30-day run publishes; each scenario then copies that
warehouse, lands one new extract day of REAL data that breaks one rule, and runs that day:

- (a) an error-severity dbt test: a second ForecastingQuota of the same rep starting mid-quarter. The
  loader cannot see it (a new Id, every value valid); ``assert_quota_periods_do_not_overlap`` (error)
  fails, so publishing stops and the published file stays byte-identical;
- (b) a failing mart check: every opportunity re-delivered as deleted. Everything reconciles (nothing =
  nothing) and dbt passes, but ``not_empty`` on kpi_bookings fails, so publishing stops;
- (c) a warn-severity failure: a negative Amount (``landing_warnings``) publishes, the warning recorded in
  the published ``main.check_results``; the day lands four days after the last, so the daily objects'
  ``freshness`` checks fail with ERROR severity, and still publishing goes ahead (non-blocking).

Every dbt unit test (pipeline runs leave them out) runs against the built warehouse, among them those of
item 2 (fiscal years from February and November, the territory band edge). The freshness decision has
one-line unit tests (not e2e).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pytest

from orchestration.defs.freshness import (
    expected_extract_date,
    judge_freshness,
    latest_scheduled_date,
)
from orchestration.settings import PROJECT_ROOT
from tests.conftest import DemoLanding, PipelineEnv

START = date(2025, 1, 1)
DAYS = 30
LAST = START + timedelta(days=DAYS - 1)

D = date(2025, 3, 10)

# --- freshness: the pure decision -----------------------------------------------------------------------


def test_freshness_on_time_passes() -> None:
    assert judge_freshness(D, D, error_days=3).status == "fresh"


def test_freshness_newer_than_expected_passes() -> None:
    assert judge_freshness(D + timedelta(days=2), D, error_days=3).passed


def test_freshness_one_day_late_warns() -> None:
    assert (judge_freshness(D - timedelta(days=1), D, error_days=3).status, 1) == ("late", 1)


def test_freshness_late_is_warn_severity() -> None:
    assert judge_freshness(D - timedelta(days=2), D, error_days=3).severity.value == "WARN"


def test_freshness_error_days_late_is_error() -> None:
    assert judge_freshness(D - timedelta(days=3), D, error_days=3).severity.value == "ERROR"


def test_freshness_error_threshold_is_the_setting() -> None:
    assert judge_freshness(D - timedelta(days=3), D, error_days=5).status == "late"


def test_freshness_optional_never_landed_is_skipped_not_failed() -> None:
    assert (judge_freshness(None, D, error_days=3, optional=True).status, True) == ("skipped", True)


def test_freshness_core_never_landed_is_an_error() -> None:
    assert judge_freshness(None, D, error_days=3).severity.value == "ERROR"


def test_freshness_object_delivered_on_change_is_never_late() -> None:
    assert judge_freshness(D - timedelta(days=30), D, error_days=3, daily=False).passed


def test_expected_date_is_the_runs_last_date_capped_at_the_schedule() -> None:
    assert (
        expected_extract_date(D, D + timedelta(days=9)),
        expected_extract_date(D, D - timedelta(days=1)),
    ) == (
        D,
        D - timedelta(days=1),
    )


def test_expected_date_of_an_unpartitioned_run_is_the_schedules() -> None:
    assert expected_extract_date(None, D) == D


def test_schedule_date_before_todays_tick_is_yesterday() -> None:
    assert latest_scheduled_date(
        "0 6 * * *", "UTC", datetime(2025, 3, 10, 5, 59, tzinfo=ZoneInfo("UTC"))
    ) == (date(2025, 3, 9))


def test_schedule_date_after_todays_tick_is_today_in_the_schedule_zone() -> None:
    # 05:30 in Berlin is 04:30 UTC on the same day
    assert (
        latest_scheduled_date(
            "30 5 * * *", "Europe/Berlin", datetime(2025, 3, 10, 4, 31, tzinfo=ZoneInfo("UTC"))
        )
        == D
    )


# --- end to end -----------------------------------------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def good_base(
    tmp_path_factory: pytest.TempPathFactory, demo_landing: DemoLanding, pipeline_env: PipelineEnv
) -> Path:
    """A warehouse and published file after one good run of the 30-day demo (shared, do not change)."""
    from orchestration.tooling.pipeline import run_pipeline

    base = tmp_path_factory.mktemp("bite-good")
    demo_landing(days=DAYS, seed=7, start=START, into=base / "landing")
    with pipeline_env(base, partition_start=START):
        result = run_pipeline(START, LAST)
    assert result.success, result.failed_steps
    return base


@pytest.fixture
def scenario(good_base: Path, tmp_path: Path, pipeline_env: PipelineEnv) -> Iterator[Path]:
    """A private copy of the good run (landing, warehouse, published file, dbt target), env set to it."""
    base = tmp_path / "run"
    shutil.copytree(good_base, base)
    with pipeline_env(base, partition_start=START):
        yield base


def _land(base: Path, obj: str, day: date, frame: pd.DataFrame) -> None:
    folder = base / "landing" / obj / day.isoformat()
    folder.mkdir(parents=True)
    frame.to_csv(folder / "part-0.csv", index=False)


def _latest_opportunities(base: Path) -> pd.DataFrame:
    frames = [
        pd.read_csv(f, dtype=str, keep_default_na=False)
        for f in (base / "landing").glob("Opportunity/*/*.csv")
    ]
    opps = pd.concat(frames, ignore_index=True)
    opps["_modstamp"] = pd.to_datetime(opps["SystemModstamp"], utc=True, format="ISO8601")
    return opps.sort_values("_modstamp").drop_duplicates("Id", keep="last").drop(columns="_modstamp")


def _checks(result, name: str) -> list:
    return [e for e in result.result.get_asset_check_evaluations() if name in e.check_name]


@pytest.mark.e2e
def test_every_dbt_unit_test_passes(good_base: Path, pipeline_env: PipelineEnv) -> None:
    """Every hand-computed dbt unit test of the project (pipeline runs leave them out: they check the
    models' logic, not the data; this is where they run, on the warehouse a real run built)."""
    with pipeline_env(good_base, partition_start=START):
        target = good_base / "dbt_unit_target"
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("dbt")),
                "--no-use-colors",
                "test",
                "--profiles-dir",
                str(PROJECT_ROOT / "dbt_project"),
                "--project-dir",
                str(PROJECT_ROOT),
                "--target-path",
                str(target),
                "--select",
                "test_type:unit",
            ],
            cwd=PROJECT_ROOT,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert done.returncode == 0, done.stdout[-4000:]
    manifest = json.loads((target / "manifest.json").read_text())
    unit_tests = {n["name"] for n in manifest["unit_tests"].values()}
    results = json.loads((target / "run_results.json").read_text())["results"]
    passed = {r["unique_id"].split(".")[-1] for r in results if r["status"] == "pass"}
    assert len(unit_tests) >= 40  # the project's hand-computed cases, not an empty selection
    assert passed == unit_tests
    for name in (
        "dim_dates::dim_dates_fiscal_year_starting_february",
        "dim_dates::dim_dates_fiscal_year_starting_november",
        "kpi_territory_balance::kpi_territory_balance_band_edge",
        "kpi_territory_balance::kpi_territory_balance_band_edge_not_a_binary_fraction",
        "kpi_territory_balance::kpi_territory_balance_band_edges_both_sides",
    ):
        assert f"PASS {name}" in done.stdout, done.stdout[-4000:]


@pytest.mark.e2e
def test_failing_error_severity_dbt_test_stops_publishing(scenario: Path) -> None:
    from orchestration.tooling.pipeline import run_pipeline

    published = scenario / "published.duckdb"
    before = _sha(published)
    # A rep's second quota starting mid-quarter (new Id, every value valid: the loader loads it); its
    # period [Feb 1, May 1) overlaps the rep's [Jan 1, Apr 1): a deal would count twice in attainment.
    quotas = pd.read_csv(next((scenario / "landing" / "ForecastingQuota").glob("*/*.csv")), dtype=str)
    extra = quotas.head(1).copy()
    assert extra["StartDate"].iloc[0] == "2025-01-01"
    extra["Id"] = "0J95g00003H9999CAB"
    extra["StartDate"] = "2025-02-01"
    day = LAST + timedelta(days=1)
    _land(scenario, "ForecastingQuota", day, extra)

    result = run_pipeline(day)
    assert not result.success
    (overlap,) = _checks(result, "assert_quota_periods_do_not_overlap")
    assert not overlap.passed and overlap.severity.value == "ERROR"
    assert "kpi_mart_checks" not in result.step_seconds
    assert "published" not in result.step_seconds
    assert _sha(published) == before


@pytest.mark.e2e
def test_failing_mart_check_stops_publishing(scenario: Path) -> None:
    from orchestration.tooling.pipeline import run_pipeline

    published = scenario / "published.duckdb"
    before = _sha(published)
    # Every opportunity re-delivered as deleted: the facts and marts are empty, which reconciles
    # (nothing = nothing) and passes dbt; only not_empty sees the loss.
    day = LAST + timedelta(days=1)
    deleted = _latest_opportunities(scenario)
    deleted["IsDeleted"] = "true"
    deleted["SystemModstamp"] = f"{day.isoformat()}T01:00:00.000+0000"
    _land(scenario, "Opportunity", day, deleted)

    result = run_pipeline(day)
    assert not result.success
    assert "kpi_mart_checks" in result.failed_steps
    assert not [s for s in result.failed_steps if s != "kpi_mart_checks"], result.failed_steps
    not_empty = {tuple(e.asset_key.path): e.passed for e in _checks(result, "not_empty")}
    assert not_empty[("marts", "kpi_bookings")] is False
    assert "published" not in result.step_seconds
    assert _sha(published) == before


@pytest.mark.e2e
def test_warn_severity_failure_publishes_with_the_warning_recorded(scenario: Path) -> None:
    from orchestration.tooling.pipeline import run_pipeline

    published = scenario / "published.duckdb"
    before = _sha(published)
    # A credit: one open opportunity re-delivered with a negative Amount (landing warning, never
    # blocking). Landed four days after the last extract: the other daily objects are 4 days late.
    day = LAST + timedelta(days=4)
    opps = _latest_opportunities(scenario)
    credit = opps[opps["IsClosed"] == "false"].head(1).copy()
    credit["Amount"] = "-100.00"
    credit["SystemModstamp"] = f"{day.isoformat()}T01:00:00.000+0000"
    _land(scenario, "Opportunity", day, credit)

    result = run_pipeline(day)
    assert result.success, result.failed_steps
    assert _sha(published) != before
    con = duckdb.connect(str(published), read_only=True)
    try:
        rows = con.execute(
            "select asset_key, check_name, passed, severity, description from main.check_results "
            "where run_id = ?",
            [result.run_id],
        ).fetchall()
        assert con.execute(
            "select count(*) from main.run_history where run_id = ?", [result.run_id]
        ).fetchone() == (1,)
    finally:
        con.close()
    by_check = {(r[0], r[1]): r for r in rows}
    warning = by_check[("raw/opportunity", "landing_warnings")]
    assert warning[2:4] == (False, "WARN") and "non_negative" in warning[4]
    # freshness: Opportunity arrived; Account (daily) is 4 days behind -> ERROR, non-blocking; User is
    # delivered when it changes -> passes; an optional object never landed would be skipped
    assert by_check[("raw/opportunity", "freshness")][2] is True
    assert by_check[("raw/account", "freshness")][2:4] == (False, "ERROR")
    assert by_check[("raw/users", "freshness")][2] is True
