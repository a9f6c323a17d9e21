"""Landing expectations: each one fails on a crafted bad frame and passes on a good one."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from orchestration.checks.landing import (
    ExpectationOutcome,
    known_currencies,
    known_stages_from_seed,
    read_batch_frame,
    reject_rate_outcome,
    validate_landing_frame,
)
from orchestration.contract import get_object
from orchestration.ingestion.loader import BatchResult, load_batches
from orchestration.settings import Settings

OPP = get_object("Opportunity")
STAGES = {"Prospecting", "Qualification", "Closed Won", "Closed Lost"}
CURRENCIES = {"USD", "EUR"}


def good_frame() -> pd.DataFrame:
    """Three valid opportunities, including one exact repeat (harmless)."""
    rows = [
        ("006a", "Prospecting", "2025-02-01", "2025-01-02 10:00", "005a", 100.0, "USD", "2025-01-02 10:00"),
        ("006b", "Closed Won", "2025-03-01", "2025-01-02 11:00", "005a", 0.0, "EUR", "2025-01-02 11:00"),
        ("006b", "Closed Won", "2025-03-01", "2025-01-02 11:00", "005a", 0.0, "EUR", "2025-01-02 11:00"),
        ("006c", "Qualification", "2025-04-01", "2025-01-02 12:00", "005b", None, None, "2025-01-02 12:00"),
    ]
    cols = ["id", "stage_name", "close_date", "created_date", "owner_id", "amount", "currency_iso_code"]
    df = pd.DataFrame(rows, columns=[*cols, "system_modstamp"])
    for c in ("close_date", "created_date", "system_modstamp"):
        df[c] = pd.to_datetime(df[c])
    return df


def run(df: pd.DataFrame, obj=OPP) -> dict[str, ExpectationOutcome]:
    outcomes = validate_landing_frame(df, obj, known_stages=STAGES, known_currencies=CURRENCIES)
    return {o.name: o for o in outcomes}


def failed(df: pd.DataFrame, obj=OPP) -> set[str]:
    return {name for name, o in run(df, obj).items() if not o.success}


def test_good_frame_passes_everything():
    outcomes = run(good_frame())
    assert all(o.success for o in outcomes.values()), {
        n: o.details for n, o in outcomes.items() if not o.success
    }
    assert {
        "required_columns_present",
        "id_not_null",
        "no_conflicting_duplicates",
        "amount_non_negative",
        "close_date_not_before_2000",
        "created_date_not_after_today_plus_5y",
        "currency_known",
        "stage_in_seed",
    } <= set(outcomes)


def test_empty_frame_passes():
    outcomes = run(good_frame().head(0))
    assert outcomes and all(o.success for o in outcomes.values())


def test_missing_required_column():
    assert "required_columns_present" in failed(good_frame().drop(columns=["owner_id"]))


def test_null_required_value():
    df = good_frame()
    df.loc[3, "stage_name"] = None
    outcome = run(df)["stage_name_not_null"]
    assert not outcome.success and outcome.severity == "error"
    assert outcome.details["unexpected_count"] == 1


def test_conflicting_duplicate_key_and_version():
    df = good_frame()
    df.loc[2, "amount"] = 5.0  # same id and system_modstamp as row 1, different content
    outcome = run(df)["no_conflicting_duplicates"]
    assert not outcome.success and outcome.severity == "error"
    assert [k["id"] for k in outcome.details["conflicting_keys"]] == ["006b"]


def test_same_key_with_another_version_is_no_conflict():
    df = good_frame()
    df.loc[2, "amount"] = 5.0
    df.loc[2, "system_modstamp"] = pd.Timestamp("2025-01-03 09:00")
    assert "no_conflicting_duplicates" not in failed(df)


def test_negative_amount():
    df = good_frame()
    df.loc[0, "amount"] = -1.0
    assert failed(df) == {"amount_non_negative"}


def test_date_before_2000():
    df = good_frame()
    df.loc[0, "close_date"] = pd.Timestamp("1999-12-31")
    assert failed(df) == {"close_date_not_before_2000"}


def test_date_far_in_the_future():
    df = good_frame()
    df.loc[0, "created_date"] = pd.Timestamp(date.today().year + 6, 1, 1)
    assert failed(df) == {"created_date_not_after_today_plus_5y"}


def test_unknown_currency_is_an_error():
    df = good_frame()
    df.loc[0, "currency_iso_code"] = "XXX"
    outcome = run(df)["currency_known"]
    assert not outcome.success and outcome.severity == "error"
    assert outcome.details["partial_unexpected_list"] == ["XXX"]


@pytest.mark.parametrize("obj_name", ["Opportunity", "OpportunityHistory"])
def test_unknown_stage_is_a_warning(obj_name):
    obj = get_object(obj_name)
    df = good_frame()
    if obj_name == "OpportunityHistory":
        df = df.drop(columns=["owner_id", "close_date", "currency_iso_code"]).assign(opportunity_id="006x")
    df.loc[0, "stage_name"] = "Haggling"
    outcomes = run(df, obj)
    assert not outcomes["stage_in_seed"].success
    assert outcomes["stage_in_seed"].severity == "warn"
    assert all(o.success for o in outcomes.values() if o.severity == "error")


def test_objects_without_version_field_use_the_key():
    obj = get_object("DatedConversionRate")
    df = pd.DataFrame(
        {
            "iso_code": ["EUR", "EUR", "GBP"],
            "conversion_rate": [0.9, 0.95, 0.8],
            "start_date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-01"]),
        }
    )
    assert failed(df, obj) == {"no_conflicting_duplicates"}
    df.loc[1, "conversion_rate"] = 0.9  # now an exact repeat
    assert failed(df, obj) == set()


def test_known_stages_from_seed_reads_the_seed(tmp_path):
    assert len(known_stages_from_seed()) == 10
    assert {"Prospecting", "Id. Decision Makers", "Closed Lost"} <= known_stages_from_seed()
    seed = tmp_path / "stages.csv"
    seed.write_text("stage_name,stage_order\nAlpha,1\nBeta,2\n")
    assert known_stages_from_seed(seed) == {"Alpha", "Beta"}


def test_known_currencies_and_batch_frame_from_the_warehouse(warehouse, tmp_path):
    folder = tmp_path / "CurrencyType" / "2025-01-02"
    folder.mkdir(parents=True)
    (folder / "c.csv").write_text("IsoCode,ConversionRate,IsCorporate\nUSD,1,true\nEUR,0.9,false\n")
    load_batches(warehouse, get_object("CurrencyType"), tmp_path, [date(2025, 1, 2)])
    assert known_currencies(warehouse) == {"USD", "EUR"}

    header = "Id,StageName,CloseDate,CreatedDate,OwnerId,Amount,CurrencyIsoCode\n"
    for day, amount in (("2025-01-02", "10"), ("2025-01-03", "-5")):
        f = tmp_path / "Opportunity" / day / "o.csv"
        f.parent.mkdir(parents=True)
        f.write_text(header + f"006{day[-1]},Prospecting,2025-02-01,{day}T10:00:00Z,005a,{amount},GBP\n")
    load_batches(warehouse, OPP, tmp_path, [date(2025, 1, 2), date(2025, 1, 3)])
    frame = read_batch_frame(warehouse, OPP, [date(2025, 1, 3)])
    assert frame["id"].tolist() == ["0063"]
    assert frame["created_date"].tolist() == [datetime(2025, 1, 3, 10, 0)]
    outcomes = validate_landing_frame(
        frame, OPP, known_stages=known_stages_from_seed(), known_currencies=known_currencies(warehouse)
    )
    assert {o.name for o in outcomes if not o.success} == {"amount_non_negative", "currency_known"}


def test_single_column_key_duplicates_are_checked_per_batch():
    """UserRole has a one-column key and no version field: the same Id with new content on another extract
    date is a new full extract (fine); within one extract date it is a conflict."""
    role = get_object("UserRole")
    day1, day2 = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-01-02")
    across_days = pd.DataFrame(
        {"id": ["00Ea", "00Ea"], "name": ["Sales", "Sales EMEA"], "_extract_date": [day1, day2]}
    )
    assert "no_conflicting_duplicates" not in failed(across_days, role)
    same_day = across_days.assign(_extract_date=[day1, day1])
    assert "no_conflicting_duplicates" in failed(same_day, role)
    without_batch_column = across_days.drop(columns="_extract_date")  # one column: values must be unique
    assert "no_conflicting_duplicates" in failed(without_batch_column, role)


def test_open_ended_next_start_date_is_allowed_but_still_bounded_below():
    rates = get_object("DatedConversionRate")
    frame = pd.DataFrame(
        {
            "iso_code": ["EUR", "EUR"],
            "conversion_rate": [0.91, 0.93],
            "start_date": pd.to_datetime(["2025-01-01", "2025-02-01"]),
            "next_start_date": pd.to_datetime(["2025-02-01", "9999-12-31"]),
        }
    )
    assert failed(frame, rates) == set()
    too_early = frame.assign(next_start_date=pd.to_datetime(["1990-01-01", "9999-12-31"]))
    assert "next_start_date_not_before_2000" in failed(too_early, rates)


# ---------------------------------------------------------------------------------------- reject rate


def batch(day: int, source: int, rejected: int) -> BatchResult:
    return BatchResult(
        "Opportunity", date(2025, 1, day), ("f.csv",), source, source - rejected, rejected, found=True
    )


def test_reject_rate_passes_at_the_limit_and_fails_above_it():
    at_limit = reject_rate_outcome([batch(2, 200, 10)], 0.05)  # 10/200 = 5%: not above
    assert at_limit.success and at_limit.name == "reject_rate_within_limit" and at_limit.severity == "error"
    above = reject_rate_outcome([batch(2, 200, 11)], 0.05)  # 5.5%
    assert not above.success
    assert above.details["batches_over_limit"] == [
        {
            "object": "Opportunity",
            "extract_date": "2025-01-02",
            "source_rows": 200,
            "rejected_rows": 11,
            "reject_rate": 0.055,
        }
    ]


def test_small_batches_fail_only_when_every_row_is_rejected():
    # 1 bad row of 3 (33%) is an ordinary reject in a small batch; 3 of 3 is a broken extract.
    assert reject_rate_outcome([batch(2, 3, 1)], 0.05).success
    assert not reject_rate_outcome([batch(2, 3, 3)], 0.05).success
    # The threshold for judging the rate is the batch size: 99 rows are small, 100 are not.
    assert reject_rate_outcome([batch(2, 99, 9)], 0.05).success
    assert not reject_rate_outcome([batch(2, 100, 9)], 0.05).success


def test_reject_rate_is_judged_per_batch_and_for_the_whole_load():
    # 3 rejects of 103 rows overall (2.9%), but the second batch is all rejects.
    outcome = reject_rate_outcome([batch(2, 100, 0), batch(3, 3, 3)], 0.05)
    assert not outcome.success
    assert outcome.details["reject_rate"] == round(3 / 103, 6)
    assert [b["extract_date"] for b in outcome.details["batches_over_limit"]] == ["2025-01-03"]
    # No single batch is large enough to be judged by rate, but together 12 of 120 (10%) is too many.
    many_small = [batch(d, 20, 2) for d in range(2, 8)]
    whole = reject_rate_outcome(many_small, 0.05)
    assert not whole.success and whole.details["batches_over_limit"] == []


def test_reject_rate_of_empty_or_missing_batches_passes():
    assert reject_rate_outcome([batch(2, 0, 0)], 0.0).success
    assert reject_rate_outcome([], 0.0).success


def test_reject_rate_default_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("SALES_WH_MAX_REJECT_RATE", raising=False)
    assert Settings.from_env().max_reject_rate == 0.05
    assert reject_rate_outcome([batch(2, 100, 10)]).success is False  # 10% > 5%
    monkeypatch.setenv("SALES_WH_MAX_REJECT_RATE", "0.2")
    assert Settings.from_env().max_reject_rate == 0.2
    assert reject_rate_outcome([batch(2, 100, 10)]).success
    monkeypatch.setenv("SALES_WH_MAX_REJECT_RATE", "5")
    with pytest.raises(ValueError, match="SALES_WH_MAX_REJECT_RATE"):
        Settings.from_env()


def test_a_batch_of_only_rejects_passes_the_frame_checks_but_not_the_reject_rate(warehouse, tmp_path):
    f = tmp_path / "Opportunity" / "2025-01-02" / "o.csv"
    f.parent.mkdir(parents=True)
    header = "Id,StageName,CloseDate,CreatedDate,OwnerId\n"
    f.write_text(header + "0061,Prospecting,not-a-date,2025-01-02,005a\n0062,,2025-02-01,2025-01-02,005a\n")
    results = load_batches(warehouse, OPP, tmp_path, [date(2025, 1, 2)])
    frame = read_batch_frame(warehouse, OPP, [date(2025, 1, 2)])
    assert frame.empty
    assert all(o.success for o in run(frame).values())  # nothing loaded: nothing for GX to fail on
    outcome = reject_rate_outcome(results, 0.05)
    assert not outcome.success
    assert (outcome.details["source_rows"], outcome.details["rejected_rows"]) == (2, 2)
