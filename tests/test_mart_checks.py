"""The Python mart checks (what no dbt test guards): core KPIs not empty, counts not negative."""

import dagster as dg
import duckdb

from orchestration.defs.mart_checks import (
    COUNTS_CHECK,
    NOT_EMPTY_CHECK,
    check_counts_non_negative,
    check_not_empty,
    count_columns,
)
from orchestration.engines import DuckDBReader

BOOKINGS = dg.AssetKey(["marts", "kpi_bookings"])


def _marts(rows: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.kpi_bookings (rep_id VARCHAR, won_deal_count BIGINT, "
        "won_deal_with_amount_count BIGINT, bookings_amount_corporate DOUBLE, discount_rate DOUBLE)"
    )
    if rows:
        con.execute(f"INSERT INTO marts.kpi_bookings VALUES {rows}")
    return con


def test_counts_are_found_by_name_and_must_not_be_negative() -> None:
    with _marts("('005a', 2, 1, -50.0, -0.5), ('005b', 1, -1, 10.0, 2.0)") as con:
        assert count_columns(DuckDBReader(con), "kpi_bookings") == [
            "won_deal_count",
            "won_deal_with_amount_count",
        ]
        result = check_counts_non_negative(DuckDBReader(con), BOOKINGS)
    # A negative amount or a rate out of range is not this check's rule (dbt tests them, by severity).
    assert result.check_name == COUNTS_CHECK and not result.passed
    assert result.severity == dg.AssetCheckSeverity.ERROR
    assert result.description == "won_deal_with_amount_count: 1 rows below 0"


def test_counts_pass_on_good_and_on_empty_marts() -> None:
    with _marts("('005a', 2, 1, 50.0, 0.5)") as con:
        assert check_counts_non_negative(DuckDBReader(con), BOOKINGS).passed
    with _marts("") as con:
        assert check_counts_non_negative(DuckDBReader(con), BOOKINGS).passed


def test_a_core_kpi_mart_must_not_be_empty() -> None:
    with _marts("") as con:
        empty = check_not_empty(DuckDBReader(con), BOOKINGS)
    assert empty.check_name == NOT_EMPTY_CHECK and not empty.passed
    assert empty.severity == dg.AssetCheckSeverity.ERROR and "kpi_bookings is empty" in empty.description
    with _marts("('005a', 2, 1, 50.0, 0.5)") as con:
        assert check_not_empty(DuckDBReader(con), BOOKINGS).passed
