"""Landing expectation plan: each expectation fails on a crafted bad frame and passes on a good one,
with both engines (Great Expectations on the frame, SQL on the same rows in DuckDB), with the severity
docs/CHECKS.md gives it. Engine parity is in test_landing_engines.py, the reject rate in
test_reject_rate.py."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from orchestration.contract import get_object
from orchestration.ingestion.loader import load_batches
from orchestration.quality.landing import (
    known_currencies,
    read_batch_frame,
    validate_landing,
)
from tests.landing_batches import CURRENCIES, ENGINES, OPP, failed, good_frame, run


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each test taking ``engine`` runs once per engine."""
    return request.param


# Key columns present and filled, typed values and conflicting duplicates are the loader's rules (batch
# error or reject): no landing expectation checks them again.
GOOD_OPPORTUNITY_CHECKS = {
    "amount_non_negative",
    "close_date_not_before_2000",
    "close_date_not_after_today_plus_5y",
    "created_date_not_before_2000",
    "created_date_not_after_today_plus_5y",
    "system_modstamp_not_before_2000",
    "system_modstamp_not_after_today_plus_5y",
    "currency_known",
}


def test_good_frame_passes_everything(engine):
    outcomes = run(good_frame(), engine=engine)
    assert all(o.success for o in outcomes.values()), {
        n: o.details for n, o in outcomes.items() if not o.success
    }
    assert set(outcomes) == GOOD_OPPORTUNITY_CHECKS
    assert outcomes["amount_non_negative"].details["element_count"] == 4
    assert outcomes["close_date_not_before_2000"].details["observed_value"] == "2025-02-01 00:00:00"


def test_empty_frame_passes(engine):
    outcomes = run(good_frame().head(0), engine=engine)
    # Nothing landed: no date has a value, so no date check; every other check passes on 0 rows.
    assert set(outcomes) == {n for n in GOOD_OPPORTUNITY_CHECKS if "_not_" not in n}
    assert all(o.success and o.details["element_count"] == 0 for o in outcomes.values())


def test_missing_or_empty_optional_columns_fail_nothing(engine):
    """Only the key is required (the loader's rule); a missing OwnerId or an empty StageName is data."""
    df = good_frame().drop(columns=["owner_id"])
    df.loc[3, "stage_name"] = None
    outcomes = run(df, engine=engine)
    assert all(o.success for o in outcomes.values())
    assert not any(n.startswith("owner_id") for n in outcomes)


def test_odd_but_possible_values_are_warnings(engine):
    """A credit (negative amount) and a close date far ahead are findings, never a blocked batch."""
    df = good_frame()
    df.loc[0, "amount"] = -250.0
    df.loc[3, "close_date"] = pd.Timestamp(date.today().year + 20, 1, 1)
    outcomes = run(df, engine=engine)
    failed_checks = {n: o.severity for n, o in outcomes.items() if not o.success}
    assert failed_checks == {"amount_non_negative": "warn", "close_date_not_after_today_plus_5y": "warn"}
    assert outcomes["amount_non_negative"].details["unexpected_count"] == 1


def test_negative_amount(engine):
    df = good_frame()
    df.loc[0, "amount"] = -1.0
    assert failed(df, engine=engine) == {"amount_non_negative"}
    outcome = run(df, engine=engine)["amount_non_negative"]
    assert outcome.details["partial_unexpected_list"] == [-1.0]
    assert outcome.details["unexpected_percent"] == pytest.approx(100 / 3)  # of the 3 non-null amounts


def test_date_before_2000(engine):
    df = good_frame()
    df.loc[0, "close_date"] = pd.Timestamp("1999-12-31")
    assert failed(df, engine=engine) == {"close_date_not_before_2000"}
    observed = run(df, engine=engine)["close_date_not_before_2000"].details["observed_value"]
    assert observed == "1999-12-31 00:00:00"


def test_date_far_in_the_future(engine):
    df = good_frame()
    df.loc[0, "created_date"] = pd.Timestamp(date.today().year + 6, 1, 1)
    assert failed(df, engine=engine) == {"created_date_not_after_today_plus_5y"}


def test_unknown_currency_is_an_error(engine):
    df = good_frame()
    df.loc[0, "currency_iso_code"] = "XXX"
    outcomes = run(df, engine=engine)
    outcome = outcomes["currency_known"]
    assert not outcome.success and outcome.severity == "error"
    assert outcome.details["partial_unexpected_list"] == ["XXX"]
    assert {n for n, o in outcomes.items() if not o.success} == {"currency_known"}


@pytest.mark.parametrize("obj_name", ["Opportunity", "OpportunityHistory"])
def test_unknown_stage_is_no_landing_failure(obj_name, engine):
    """Stages outside the seeds are the org's own process: dbt maps them (OpportunityStage, IsClosed/
    IsWon) and counts what stays unmapped in core.dq_unmapped_values; no landing check re-checks it."""
    obj = get_object(obj_name)
    df = good_frame()
    if obj_name == "OpportunityHistory":
        df = df.drop(columns=["owner_id", "close_date", "currency_iso_code"]).assign(opportunity_id="006x")
    df.loc[0, "stage_name"] = "Haggling"
    outcomes = run(df, obj, engine)
    assert "stage_in_seed" not in outcomes
    assert all(o.success for o in outcomes.values())


def test_known_currencies_and_batch_frame_from_the_warehouse(warehouse, tmp_path, engine):
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
    outcomes = validate_landing(
        warehouse,
        OPP,
        [date(2025, 1, 3)],
        known_currencies=known_currencies(warehouse),
        engine=engine,
    )
    assert {o.name for o in outcomes if not o.success} == {"amount_non_negative", "currency_known"}
    assert {o.details["engine"] for o in outcomes} == {engine}


def test_open_ended_next_start_date_is_allowed_but_still_bounded_below(engine):
    rates = get_object("DatedConversionRate")
    frame = pd.DataFrame(
        {
            "iso_code": ["EUR", "EUR"],
            "conversion_rate": [0.91, 0.93],
            "start_date": pd.to_datetime(["2025-01-01", "2025-02-01"]),
            "next_start_date": pd.to_datetime(["2025-02-01", "9999-12-31"]),
        }
    )
    assert failed(frame, rates, engine) == set()
    assert "next_start_date_not_after_today_plus_5y" not in run(frame, rates, engine)
    too_early = frame.assign(next_start_date=pd.to_datetime(["1990-01-01", "9999-12-31"]))
    assert failed(too_early, rates, engine) == {"next_start_date_not_before_2000"}


# ------------------------------------------------- duplicate keys: the loader's rule, not an expectation


def test_duplicates_are_rejected_by_the_loader_and_not_re_checked(warehouse, tmp_path, engine):
    """Rows of one batch sharing key (and version, where the object has one) with different content are
    moved to the rejects by the loader (tests/test_loader.py has the Opportunity case), so no landing
    expectation plans a uniqueness check. Objects without a version field compare the key per extract
    date: a full daily extract repeats every key with its new content on the next day."""

    def land(obj: str, day: str, text: str) -> None:
        f = tmp_path / obj / day / "x.csv"
        f.parent.mkdir(parents=True)
        f.write_text(text)

    days = [date(2025, 1, 1), date(2025, 1, 2)]
    land("UserRole", "2025-01-01", "Id,Name\n00Ea,Sales\n00Eb,Ops\n00Eb,Ops EMEA\n")
    land("UserRole", "2025-01-02", "Id,Name\n00Ea,Sales EMEA\n")  # new content on another day: fine
    land(
        "DatedConversionRate",
        "2025-01-01",
        "IsoCode,ConversionRate,StartDate\nEUR,0.9,2025-01-01\nEUR,0.9,2025-01-01\n"  # exact repeat
        "GBP,0.8,2025-01-01\nGBP,0.85,2025-01-01\n",  # same IsoCode and StartDate, other rate
    )
    role, rates = get_object("UserRole"), get_object("DatedConversionRate")
    assert [r.rejected_rows for r in load_batches(warehouse, role, tmp_path, days)] == [2, 0]
    assert [r.rejected_rows for r in load_batches(warehouse, rates, tmp_path, days[:1])] == [2]
    reasons = warehouse.execute("SELECT DISTINCT object, reason FROM raw._rejects ORDER BY 1").fetchall()
    assert [(o, r.split(" in this batch")[0]) for o, r in reasons] == [
        ("DatedConversionRate", "duplicate IsoCode, StartDate"),
        ("UserRole", "duplicate Id"),
    ]
    for obj, dates in ((role, days), (rates, days[:1])):
        outcomes = validate_landing(warehouse, obj, dates, known_currencies=CURRENCIES, engine=engine)
        assert all(o.success for o in outcomes) and not any("duplicate" in o.name for o in outcomes)
