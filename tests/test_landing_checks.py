"""Landing expectations: each one fails on a crafted bad frame and passes on a good one, with both
engines (Great Expectations on the frame, SQL on the same rows in DuckDB), which agree outcome by
outcome."""

from __future__ import annotations

import logging
from datetime import date, datetime
from types import SimpleNamespace

import duckdb
import pandas as pd
import pytest

from orchestration.contract import RAW_SCHEMA, LandingObject, get_object
from orchestration.ingestion.loader import BatchResult, ensure_raw_schema, load_batches, q
from orchestration.quality.landing import (
    GX_ENGINE,
    SQL_ENGINE,
    ExpectationOutcome,
    known_currencies,
    known_stages_from_seed,
    landing_engine,
    read_batch_frame,
    reject_rate_outcome,
    validate_landing,
    validate_landing_frame,
    validate_landing_sql,
)
from orchestration.settings import Settings

OPP = get_object("Opportunity")
STAGES = {"Prospecting", "Qualification", "Closed Won", "Closed Lost"}
CURRENCIES = {"USD", "EUR"}
EXTRACT_DATE = pd.Timestamp("2025-01-02")
ENGINES = (GX_ENGINE, SQL_ENGINE)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each test taking ``engine`` runs once per engine."""
    return request.param


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


def raw_table_of(con: duckdb.DuckDBPyConnection, df: pd.DataFrame, obj: LandingObject) -> list[date]:
    """Store ``df`` as ``raw.<table>`` with the contract types of its columns (only those, so a missing
    column stays missing) plus ``_extract_date`` (EXTRACT_DATE when ``df`` has none); its dates."""
    df = df if "_extract_date" in df.columns else df.assign(_extract_date=EXTRACT_DATE)
    types = {**obj.columns, "_extract_date": "DATE"}
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    ddl = ", ".join(f"{q(c)} {types[c]}" for c in df.columns)
    con.execute(f"CREATE OR REPLACE TABLE {RAW_SCHEMA}.{q(obj.table)} ({ddl})")
    con.register("frame", df)
    con.execute(f"INSERT INTO {RAW_SCHEMA}.{q(obj.table)} BY NAME SELECT * FROM frame")
    con.unregister("frame")
    return sorted({d.date() for d in df["_extract_date"]}) or [EXTRACT_DATE.date()]


def run(df: pd.DataFrame, obj=OPP, engine: str = GX_ENGINE) -> dict[str, ExpectationOutcome]:
    """GX on the frame itself, or SQL on the frame stored as its raw table."""
    if engine == GX_ENGINE:
        outcomes = validate_landing_frame(df, obj, known_stages=STAGES, known_currencies=CURRENCIES)
    else:
        with duckdb.connect() as con:
            dates = raw_table_of(con, df, obj)
            outcomes = validate_landing_sql(con, obj, dates, known_stages=STAGES, known_currencies=CURRENCIES)
    assert {o.details["engine"] for o in outcomes} <= {engine}
    return {o.name: o for o in outcomes}


def failed(df: pd.DataFrame, obj=OPP, engine: str = GX_ENGINE) -> set[str]:
    return {name for name, o in run(df, obj, engine).items() if not o.success}


# Key columns present and filled, and typed values, are the loader's rules (batch error or reject): no
# landing expectation checks them again.
GOOD_OPPORTUNITY_CHECKS = {
    "no_conflicting_duplicates",
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
    # The exact repeat of 006b collapses: three distinct key+content rows, none conflicting.
    assert outcomes["no_conflicting_duplicates"].details["element_count"] == 3
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


def test_conflicting_duplicate_key_and_version(engine):
    df = good_frame()
    df.loc[2, "amount"] = 5.0  # same id and system_modstamp as row 1, different content
    outcomes = run(df, engine=engine)
    outcome = outcomes["no_conflicting_duplicates"]
    assert not outcome.success and outcome.severity == "error"
    assert [k["id"] for k in outcome.details["conflicting_keys"]] == ["006b"]
    assert [k["id"] for k in outcome.details["partial_unexpected_list"]] == ["006b", "006b"]
    assert outcome.details["unexpected_count"] == 2
    assert {n for n, o in outcomes.items() if not o.success} == {"no_conflicting_duplicates"}


def test_same_key_with_another_version_is_no_conflict(engine):
    df = good_frame()
    df.loc[2, "amount"] = 5.0
    df.loc[2, "system_modstamp"] = pd.Timestamp("2025-01-03 09:00")
    assert failed(df, engine=engine) == set()


def test_exact_repeats_are_harmless(engine):
    df = pd.concat([good_frame()] * 3, ignore_index=True)  # every row three times
    outcomes = run(df, engine=engine)
    assert failed(df, engine=engine) == set()
    assert outcomes["no_conflicting_duplicates"].details["unexpected_count"] == 0


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


def test_objects_without_version_field_use_the_key(engine):
    obj = get_object("DatedConversionRate")
    df = pd.DataFrame(
        {
            "iso_code": ["EUR", "EUR", "GBP"],
            "conversion_rate": [0.9, 0.95, 0.8],
            "start_date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-01"]),
        }
    )
    assert failed(df, obj, engine) == {"no_conflicting_duplicates"}
    df.loc[1, "conversion_rate"] = 0.9  # now an exact repeat
    assert failed(df, obj, engine) == set()


def test_known_stages_from_seed_reads_the_seed(tmp_path):
    assert len(known_stages_from_seed()) == 10
    assert {"Prospecting", "Id. Decision Makers", "Closed Lost"} <= known_stages_from_seed()
    seed = tmp_path / "stages.csv"
    seed.write_text("stage_name,stage_order\nAlpha,1\nBeta,2\n")
    assert known_stages_from_seed(seed) == {"Alpha", "Beta"}


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
        known_stages=known_stages_from_seed(),
        known_currencies=known_currencies(warehouse),
        engine=engine,
    )
    assert {o.name for o in outcomes if not o.success} == {"amount_non_negative", "currency_known"}
    assert {o.details["engine"] for o in outcomes} == {engine}


def test_single_column_key_duplicates_are_checked_per_batch(engine):
    """UserRole has a one-column key and no version field: the same Id with new content on another extract
    date is a new full extract (fine); within one extract date it is a conflict."""
    role = get_object("UserRole")
    day1, day2 = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-01-02")
    across_days = pd.DataFrame(
        {"id": ["00Ea", "00Ea"], "name": ["Sales", "Sales EMEA"], "_extract_date": [day1, day2]}
    )
    assert failed(across_days, role, engine) == set()
    same_day = across_days.assign(_extract_date=[day1, day1])
    assert failed(same_day, role, engine) == {"no_conflicting_duplicates"}
    if engine == GX_ENGINE:  # a raw table always has _extract_date
        without_batch_column = across_days.drop(columns="_extract_date")  # one column: values must be unique
        assert failed(without_batch_column, role) == {"no_conflicting_duplicates"}


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


def test_a_batch_of_only_rejects_passes_the_frame_checks_but_not_the_reject_rate(warehouse, tmp_path, engine):
    f = tmp_path / "Opportunity" / "2025-01-02" / "o.csv"
    f.parent.mkdir(parents=True)
    header = "Id,StageName,CloseDate,CreatedDate,OwnerId\n"
    rows = "0061,Prospecting,2025-02-30,2025-01-02,005a\n,Prospecting,2025-02-01,2025-01-02,005a\n"
    f.write_text(header + rows)
    results = load_batches(warehouse, OPP, tmp_path, [date(2025, 1, 2)])
    frame = read_batch_frame(warehouse, OPP, [date(2025, 1, 2)])
    assert frame.empty
    outcomes = validate_landing(
        warehouse, OPP, [date(2025, 1, 2)], known_stages=STAGES, known_currencies=CURRENCIES, engine=engine
    )
    assert outcomes and all(o.success for o in outcomes)  # nothing loaded: nothing to fail on
    outcome = reject_rate_outcome(results, 0.05)
    assert not outcome.success
    assert (outcome.details["source_rows"], outcome.details["rejected_rows"]) == (2, 2)


# ---------------------------------------------------------------------------------- engine parity


def opportunities(n: int) -> pd.DataFrame:
    """``n`` rows breaking several checks many times: rows i and i+n/2 share id and version with
    different content, every 7th stage is empty, odd amounts are negative, every currency unknown."""
    half = n // 2
    return pd.DataFrame(
        {
            "id": [f"006{i % half:03d}" for i in range(n)],
            "stage_name": [None if i % 7 == 0 else "Prospecting" for i in range(n)],
            "close_date": pd.Timestamp("2025-02-01"),
            "created_date": [pd.Timestamp("2025-01-01 08:00") + pd.Timedelta(minutes=i) for i in range(n)],
            "owner_id": "005a",
            "amount": [-float(i) if i % 2 else float(i) for i in range(n)],
            "currency_iso_code": [f"C{i:02d}" for i in range(n)],
            "system_modstamp": pd.Timestamp("2025-01-02 10:00"),
        }
    )


def _parity_cases() -> dict[str, tuple[str, pd.DataFrame, set[str]]]:
    """Case -> (object, rows, the checks that fail)."""
    good = good_frame()

    def changed(column: str, value: object, row: int = 0) -> pd.DataFrame:
        df = good_frame()
        df.loc[row, column] = value
        return df

    day1, day2 = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-01-02")
    rates = pd.DataFrame(
        {
            "iso_code": ["EUR", "EUR"],
            "conversion_rate": [0.91, 0.93],
            "start_date": pd.to_datetime(["2025-01-01", "2025-02-01"]),
            "next_start_date": pd.to_datetime(["2025-02-01", "9999-12-31"]),
        }
    )
    return {
        "good": ("Opportunity", good, set()),
        "empty": ("Opportunity", good.head(0), set()),
        "exact repeats": ("Opportunity", pd.concat([good] * 3, ignore_index=True), set()),
        "empty stage (data, not a failure)": ("Opportunity", changed("stage_name", None, 3), set()),
        "negative amount": ("Opportunity", changed("amount", -1.0), {"amount_non_negative"}),
        "date before 2000": (
            "Opportunity",
            changed("close_date", pd.Timestamp("1999-12-31")),
            {"close_date_not_before_2000"},
        ),
        "date too far in the future": (
            "Opportunity",
            changed("created_date", pd.Timestamp(date.today().year + 6, 1, 1)),
            {"created_date_not_after_today_plus_5y"},
        ),
        "unknown currency": ("Opportunity", changed("currency_iso_code", "XXX"), {"currency_known"}),
        "unknown stage (counted by dbt, not here)": ("Opportunity", changed("stage_name", "Haggling"), set()),
        "conflicting duplicate": ("Opportunity", changed("amount", 5.0, 2), {"no_conflicting_duplicates"}),
        "interleaved conflicts": (  # rows 006a, 006b, 006a (exact repeat), 006b', 006a', 006c
            "Opportunity",
            good.iloc[[0, 1, 0, 1, 0, 3]].assign(amount=[1.0, 2.0, 1.0, 3.0, 4.0, 0.0]),
            {"no_conflicting_duplicates"},
        ),
        "more than 20 of everything": (
            "Opportunity",
            opportunities(60),
            {"amount_non_negative", "currency_known", "no_conflicting_duplicates"},
        ),
        "null keys, several extract dates": (
            "UserRole",
            pd.DataFrame(
                {
                    "id": [None, None, "00Ea", "00Ea"],
                    "name": ["A", "B", "Sales", "Sales EMEA"],
                    "_extract_date": [day1, day1, day1, day2],
                }
            ),
            {"no_conflicting_duplicates"},
        ),
        "open-ended date": ("DatedConversionRate", rates, set()),
        "open-ended date before 2000": (
            "DatedConversionRate",
            rates.assign(next_start_date=pd.to_datetime(["1990-01-01", "9999-12-31"])),
            {"next_start_date_not_before_2000"},
        ),
        "integers and dates of tasks": (
            "Task",
            pd.DataFrame(
                {
                    "id": ["00Ta", "00Tb", "00Tc"],
                    "owner_id": ["005a", "005a", "005b"],
                    "activity_date": pd.to_datetime(["2025-01-01", None, "2025-01-02"]),
                    "call_duration_in_seconds": pd.array([5, -7, None], dtype="Int64"),
                }
            ),
            {"call_duration_in_seconds_non_negative"},
        ),
    }


PARITY_CASES = _parity_cases()


def _comparable(outcomes: list[ExpectationOutcome]) -> list[tuple]:
    return [
        (o.name, o.severity, o.success, o.description, {k: v for k, v in o.details.items() if k != "engine"})
        for o in outcomes
    ]


@pytest.mark.parametrize("in_transaction", [False, True], ids=["committed", "in the load's transaction"])
@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_sql_and_great_expectations_give_the_same_outcomes(case, in_transaction):
    """Same rows in a raw table (all contract columns, as the loader creates it): both engines give the
    same outcomes, in the same order, with the same details (examples included), also on rows not yet
    committed (the checks run inside the load's transaction)."""
    obj_name, df, failing = PARITY_CASES[case]
    obj = get_object(obj_name)
    with duckdb.connect() as con:
        ensure_raw_schema(con)
        if in_transaction:
            con.begin()
        df = df if "_extract_date" in df.columns else df.assign(_extract_date=EXTRACT_DATE)
        con.register("frame", df)
        con.execute(f"INSERT INTO {RAW_SCHEMA}.{q(obj.table)} BY NAME SELECT * FROM frame")
        dates = sorted({d.date() for d in df["_extract_date"]}) or [EXTRACT_DATE.date()]
        by_engine = {
            e: validate_landing(con, obj, dates, known_stages=STAGES, known_currencies=CURRENCIES, engine=e)
            for e in ENGINES
        }
    gx, sql = by_engine[GX_ENGINE], by_engine[SQL_ENGINE]
    assert {o.details["engine"] for o in gx} == {GX_ENGINE}
    assert {o.details["engine"] for o in sql} == {SQL_ENGINE}
    assert {o.name for o in sql if not o.success} == failing
    assert {o.name for o in gx if not o.success} == failing
    assert _comparable(sql) == _comparable(gx)


def test_parity_examples_are_the_first_twenty_in_row_order():
    """The 60-row case lists 20 examples per check, in the batch's row order, in both engines."""
    _, df, _ = PARITY_CASES["more than 20 of everything"]
    with duckdb.connect() as con:
        dates = raw_table_of(con, df, OPP)
        outcomes = {
            o.name: o
            for o in validate_landing_sql(con, OPP, dates, known_stages=STAGES, known_currencies=CURRENCIES)
        }
    currency = outcomes["currency_known"].details
    assert currency["unexpected_count"] == 60
    assert currency["partial_unexpected_list"] == [f"C{i:02d}" for i in range(20)]
    assert outcomes["amount_non_negative"].details["partial_unexpected_list"] == [
        -float(i) for i in range(1, 40, 2)
    ]
    dups = outcomes["no_conflicting_duplicates"].details
    assert (dups["element_count"], dups["unexpected_count"], dups["unexpected_percent"]) == (60, 60, 100.0)
    assert [k["id"] for k in dups["partial_unexpected_list"]] == [f"006{i:03d}" for i in range(20)]
    assert [k["id"] for k in dups["conflicting_keys"]] == [f"006{i:03d}" for i in range(20)]


# ------------------------------------------------------------------------------- engine threshold


def test_gx_max_rows_setting(monkeypatch):
    monkeypatch.delenv("SALES_WH_GX_MAX_ROWS", raising=False)
    assert Settings.from_env().gx_max_rows == 250_000
    monkeypatch.setenv("SALES_WH_GX_MAX_ROWS", "1000")
    assert Settings.from_env().gx_max_rows == 1000
    monkeypatch.setenv("SALES_WH_GX_MAX_ROWS", "-1")
    with pytest.raises(ValueError, match="SALES_WH_GX_MAX_ROWS"):
        Settings.from_env()


def test_engine_switches_to_sql_above_gx_max_rows(warehouse, monkeypatch):
    assert landing_engine(250_000, 250_000) == GX_ENGINE
    assert landing_engine(250_001, 250_000) == SQL_ENGINE
    assert landing_engine(0, 0) == GX_ENGINE
    ensure_raw_schema(warehouse)
    df = good_frame().assign(_extract_date=EXTRACT_DATE)
    df.loc[0, "amount"] = -1.0
    warehouse.register("frame", df)
    warehouse.execute(f"INSERT INTO {RAW_SCHEMA}.opportunity BY NAME SELECT * FROM frame")  # 4 rows
    day = [EXTRACT_DATE.date()]

    def engines(**kwargs) -> set[str]:
        outcomes = validate_landing(
            warehouse, OPP, day, known_stages=STAGES, known_currencies=CURRENCIES, **kwargs
        )
        assert {o.name for o in outcomes if not o.success} == {"amount_non_negative"}
        return {o.details["engine"] for o in outcomes}

    assert engines(gx_max_rows=4) == {GX_ENGINE}  # at the threshold: GX
    assert engines(gx_max_rows=3) == {SQL_ENGINE}  # one row more than the threshold: SQL
    monkeypatch.setenv("SALES_WH_GX_MAX_ROWS", "3")  # the default threshold comes from the environment
    assert engines() == {SQL_ENGINE}
    monkeypatch.setenv("SALES_WH_GX_MAX_ROWS", "4")
    assert engines() == {GX_ENGINE}


def test_raw_validation_picks_the_engine_by_the_rows_of_the_run(warehouse, monkeypatch, caplog):
    """The raw asset validates a run of at most gx_max_rows rows with GX (chunked by extract date when
    the run is larger than VALIDATION_CHUNK_ROWS), a larger run with SQL over all its dates at once."""
    import orchestration.defs.raw_assets as raw

    ensure_raw_schema(warehouse)
    d1, d2 = pd.Timestamp("2025-01-02"), pd.Timestamp("2025-01-03")
    df = pd.concat([good_frame().assign(_extract_date=d1), good_frame().assign(_extract_date=d2)])
    df = df.assign(currency_iso_code="USD").reset_index(drop=True)  # the warehouse knows only USD
    df.loc[4, "amount"] = -1.0  # 006a of the second extract date
    warehouse.register("frame", df)
    warehouse.execute(f"INSERT INTO {RAW_SCHEMA}.opportunity BY NAME SELECT * FROM frame")  # 4 + 4 rows
    context = SimpleNamespace(log=logging.getLogger("test_raw_validation"))
    dates = [d1.date(), d2.date()]
    monkeypatch.setattr(raw, "VALIDATION_CHUNK_ROWS", 4)

    def failing(outcomes) -> set[tuple[str, str, str]]:
        return {(label, o.name, o.details["engine"]) for label, o in outcomes if not o.success}

    with caplog.at_level(logging.INFO, logger="test_raw_validation"):
        gx = raw._validate(context, warehouse, OPP, dates, gx_max_rows=8)
        sql = raw._validate(context, warehouse, OPP, dates, gx_max_rows=7)
    # GX: one chunk per extract date (4 rows each), the failure names its date.
    assert failing(gx) == {("2025-01-03", "amount_non_negative", GX_ENGINE)}
    assert {label for label, _ in gx} == {"2025-01-02", "2025-01-03"}
    # SQL: all dates in one validation.
    assert failing(sql) == {("2025-01-02..2025-01-03", "amount_non_negative", SQL_ENGINE)}
    assert {label for label, _ in sql} == {"2025-01-02..2025-01-03"}
    assert "8 loaded rows with the great_expectations engine in 2 chunk(s)" in caplog.text
    assert "8 loaded rows with the sql engine in 1 chunk(s)" in caplog.text


def test_conflicts_are_listed_in_order_of_first_appearance():
    """Distinct contents in the order they first appear (an exact repeat does not move one), and the
    conflicts are the contents after the first of their key: 006b' (row 4), then 006a' (row 5)."""
    _, df, _ = PARITY_CASES["interleaved conflicts"]
    outcome = run(df, engine=SQL_ENGINE)["no_conflicting_duplicates"]
    assert [k["id"] for k in outcome.details["conflicting_keys"]] == ["006b", "006a"]
    assert [k["id"] for k in outcome.details["partial_unexpected_list"]] == ["006a", "006b", "006b", "006a"]


def test_sql_duplicate_keys_in_chunks_of_extract_dates_change_nothing(monkeypatch):
    """The SQL engine compares duplicate keys per chunk of whole extract dates (the key includes the
    date): chunks of one date give the outcomes of one pass, and those of GX."""
    import orchestration.quality.landing as landing

    days = [pd.Timestamp(f"2025-01-0{d}") for d in (2, 3, 4)]
    df = pd.concat([good_frame().assign(_extract_date=d) for d in days], ignore_index=True)
    df.loc[[6, 10], "amount"] = [7.0, 8.0]  # a conflicting 006b on the 2nd and on the 3rd date
    with duckdb.connect() as con:
        ensure_raw_schema(con)
        con.register("frame", df)
        con.execute(f"INSERT INTO {RAW_SCHEMA}.opportunity BY NAME SELECT * FROM frame")
        dates = [d.date() for d in days]

        def outcomes(engine: str) -> list[ExpectationOutcome]:
            return validate_landing(
                con, OPP, dates, known_stages=STAGES, known_currencies=CURRENCIES, engine=engine
            )

        one_pass = outcomes(SQL_ENGINE)
        monkeypatch.setattr(landing, "KEY_CHUNK_ROWS", 4)  # 4 rows a date: one GROUP BY per date
        chunked = outcomes(SQL_ENGINE)
        gx = outcomes(GX_ENGINE)
    assert _comparable(chunked) == _comparable(one_pass) == _comparable(gx)
    dups = {o.name: o for o in chunked}["no_conflicting_duplicates"].details
    assert not {o.name: o for o in chunked}["no_conflicting_duplicates"].success
    assert [(k["id"], k["_extract_date"]) for k in dups["conflicting_keys"]] == [
        ("006b", "2025-01-03 00:00:00"),
        ("006b", "2025-01-04 00:00:00"),
    ]
    assert (dups["element_count"], dups["unexpected_count"]) == (11, 4)
