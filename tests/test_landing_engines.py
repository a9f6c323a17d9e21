"""The two engines of the landing plan agree: Great Expectations on a pandas frame and SQL in DuckDB
give the same outcomes (verdicts, counts, examples in row order) for the same rows, and the engine is
picked by the number of rows of a run."""

from __future__ import annotations

import logging
from datetime import date
from types import SimpleNamespace

import duckdb
import pandas as pd
import pytest

from orchestration.contract import RAW_SCHEMA, get_object
from orchestration.ingestion.loader import ensure_raw_schema
from orchestration.quality.landing import (
    GX_ENGINE,
    SQL_ENGINE,
    landing_engine,
    validate_landing,
    validate_landing_sql,
)
from orchestration.settings import Settings
from orchestration.sql import q
from tests.landing_batches import (
    CURRENCIES,
    ENGINES,
    EXTRACT_DATE,
    OPP,
    comparable,
    good_frame,
    opportunities,
    raw_table_of,
)


def _parity_cases() -> dict[str, tuple[str, pd.DataFrame, set[str]]]:
    """Case -> (object, rows, the checks that fail)."""
    good = good_frame()

    def changed(column: str, value: object, row: int = 0) -> pd.DataFrame:
        df = good_frame()
        df.loc[row, column] = value
        return df

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
        "more than 20 of everything": (
            "Opportunity",
            opportunities(60),
            {"amount_non_negative", "currency_known"},
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
            e: validate_landing(con, obj, dates, known_currencies=CURRENCIES, engine=e) for e in ENGINES
        }
    gx, sql = by_engine[GX_ENGINE], by_engine[SQL_ENGINE]
    assert {o.details["engine"] for o in gx} == {GX_ENGINE}
    assert {o.details["engine"] for o in sql} == {SQL_ENGINE}
    assert {o.name for o in sql if not o.success} == failing
    assert {o.name for o in gx if not o.success} == failing
    assert comparable(sql) == comparable(gx)


def test_parity_examples_are_the_first_twenty_in_row_order():
    """The 60-row case lists 20 examples per check, in the batch's row order, in both engines."""
    _, df, _ = PARITY_CASES["more than 20 of everything"]
    with duckdb.connect() as con:
        dates = raw_table_of(con, df, OPP)
        outcomes = {o.name: o for o in validate_landing_sql(con, OPP, dates, known_currencies=CURRENCIES)}
    currency = outcomes["currency_known"].details
    assert currency["unexpected_count"] == 60
    assert currency["partial_unexpected_list"] == [f"C{i:02d}" for i in range(20)]
    assert outcomes["amount_non_negative"].details["partial_unexpected_list"] == [
        -float(i) for i in range(1, 40, 2)
    ]


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
        outcomes = validate_landing(warehouse, OPP, day, known_currencies=CURRENCIES, **kwargs)
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
