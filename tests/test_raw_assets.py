"""Raw assets beyond the happy path: a batch wrong as a whole fails the blocking landing check, too many
rejected rows roll the load back, and backfills are validated in chunks of whole extract dates (Great
Expectations) or at once in SQL, inside the load's transaction."""

from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.tags import RANGE_END_TAG, RANGE_START_TAG
from orchestration.settings import Settings
from tests.conftest import MaterializeRaw

RANGE_6_TO_8 = {RANGE_START_TAG: "2025-01-06", RANGE_END_TAG: "2025-01-08"}


# --- a batch wrong as a whole fails the blocking landing check -------------------------------------------


def test_batch_error_is_reported_as_a_failed_blocking_check(
    settings: Settings, materialize_raw: MaterializeRaw
) -> None:
    folder = settings.landing_dir / "Opportunity" / "2025-01-05"
    folder.mkdir(parents=True)
    # No Id column (the key, the only required column): the batch is wrong as a whole.
    (folder / "no_stage.csv").write_text(
        "StageName,CloseDate,CreatedDate,OwnerId\nProspecting,2025-02-01,2025-01-02T10:00:00Z,005000000000000001\n"
    )
    result = materialize_raw("opportunity", "2025-01-05")
    assert not result.success
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "landing_errors"]
    assert not evaluation.passed and evaluation.blocking
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "no_stage.csv" in evaluation.description and "key column(s) Id missing" in evaluation.description
    assert result.get_asset_materialization_events() == []  # nothing was loaded
    failure = result.get_step_failure_events()[0]
    assert "no_stage.csv" in failure.step_failure_data.error.message


# --- reject rate -----------------------------------------------------------------------------------------


def _land_opportunities(landing: Path, day: str, rows: int, bad_dates: int) -> None:
    """``rows`` valid opportunities, the last ``bad_dates`` of them with an impossible CloseDate
    (rejected by the loader, one reject row per bad cell)."""
    folder = landing / "Opportunity" / day
    folder.mkdir(parents=True)
    close = ["2025-02-01"] * (rows - bad_dates) + ["2025-02-30"] * bad_dates
    lines = [
        f"006{n:015d},Prospecting,{c},2025-01-02T10:00:00Z,005000000000000001,100,USD"
        for n, c in enumerate(close, start=1)
    ]
    header = "Id,StageName,CloseDate,CreatedDate,OwnerId,Amount,CurrencyIsoCode\n"
    (folder / "opps.csv").write_text(header + "\n".join(lines) + "\n")


def _raw_rows(settings: Settings, day: str) -> int:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute("select count(*) from raw.opportunity where _extract_date = ?", [day]).fetchone()[
            0
        ]
    finally:
        con.close()


def test_too_many_rejected_rows_fail_the_blocking_check_and_roll_back(
    settings: Settings, materialize_raw: MaterializeRaw
) -> None:
    # 4 rejected rows of 100 is 4%, within the default 5%: loaded, check passes.
    _land_opportunities(settings.landing_dir, "2025-01-06", rows=100, bad_dates=4)
    ok = materialize_raw("opportunity", "2025-01-06")
    assert ok.success
    assert _raw_rows(settings, "2025-01-06") == 96

    # 12 of 120 is 10%: the whole batch is rolled back, the blocking check fails on the reject rate.
    _land_opportunities(settings.landing_dir, "2025-01-07", rows=120, bad_dates=12)
    bad = materialize_raw("opportunity", "2025-01-07")
    assert not bad.success
    (errors,) = [e for e in bad.get_asset_check_evaluations() if e.check_name == "landing_errors"]
    assert not errors.passed
    assert errors.metadata["failed_expectations"].value == ["reject_rate_within_limit"]
    assert _raw_rows(settings, "2025-01-07") == 0
    assert _raw_rows(settings, "2025-01-06") == 96  # the earlier batch is untouched


def test_backfill_validation_chunks_whole_extract_dates_by_row_count() -> None:
    from orchestration.defs.raw_assets import date_chunks

    rows = {
        date(2025, 1, 3): 400,
        date(2025, 1, 1): 300,
        date(2025, 1, 2): 300,
        date(2025, 1, 4): 1500,
        date(2025, 1, 5): 1,
    }
    # 300 + 300 fit in 700; adding 400 would make 1,000 > 700; 1,500 alone exceeds the limit and stands
    # alone; the last date starts a new chunk after it.
    assert date_chunks(rows, 700) == [
        [date(2025, 1, 1), date(2025, 1, 2)],
        [date(2025, 1, 3)],
        [date(2025, 1, 4)],
        [date(2025, 1, 5)],
    ]
    assert date_chunks(rows, 10_000) == [sorted(rows)]
    assert date_chunks({}, 10) == []


def _land_a_backfill_failing_on_its_last_day(landing: Path) -> None:
    """Five opportunities on each of 2025-01-06..08; the last of 2025-01-08 in an unknown currency, a
    blocking landing error (its amount could not be converted)."""
    header = "Id,StageName,CloseDate,CreatedDate,OwnerId,Amount,CurrencyIsoCode\n"
    ok, bad = ["10,USD"] * 5, ["10,USD"] * 4 + ["10,XXX"]
    for day, amounts in (("2025-01-06", ok), ("2025-01-07", ok), ("2025-01-08", bad)):
        folder = landing / "Opportunity" / day
        folder.mkdir(parents=True)
        lines = [
            f"006{day[-1]}{n:014d},Prospecting,2025-02-01,2025-01-02T10:00:00Z,005000000000000001,{a}"
            for n, a in enumerate(amounts)
        ]
        (folder / "o.csv").write_text(header + "\n".join(lines) + "\n")


def test_chunked_backfill_validation_names_the_failing_extract_date(
    settings: Settings, materialize_raw: MaterializeRaw, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestration.defs.raw_assets as raw

    monkeypatch.setattr(raw, "VALIDATION_CHUNK_ROWS", 6)  # 5 rows a day: one chunk per extract date
    _land_a_backfill_failing_on_its_last_day(settings.landing_dir)
    result = materialize_raw("opportunity", tags=RANGE_6_TO_8)
    assert not result.success
    (errors,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "landing_errors"]
    assert not errors.passed
    assert errors.description.startswith("2025-01-08: currency_known")  # the third chunk, alone


def test_backfill_above_gx_max_rows_is_validated_in_sql_inside_the_load(
    settings: Settings, materialize_raw: MaterializeRaw
) -> None:
    """15 rows over 3 extract dates with SALES_WH_GX_MAX_ROWS=10: the SQL engine validates the whole
    run at once, inside the load's transaction; its failure blocks the step and rolls the load back."""
    _land_a_backfill_failing_on_its_last_day(settings.landing_dir)
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_raw(
        "opportunity", tags=RANGE_6_TO_8, with_settings=replace(settings, gx_max_rows=10), instance=instance
    )
    assert not result.success
    (errors,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "landing_errors"]
    assert not errors.passed
    assert errors.description.startswith("2025-01-06..2025-01-08: currency_known")  # one validation
    assert "'engine': 'sql'" in errors.metadata["outcomes"].value
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("15 loaded rows with the sql engine in 1 chunk(s)" in m for m in logs)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:  # rolled back: no row
        # (the raw schema exists: a refused load keeps its rejects, committed = false; here it had none)
        assert con.execute("SELECT count(*) FROM raw.opportunity").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM raw._rejects WHERE committed").fetchone() == (0,)
