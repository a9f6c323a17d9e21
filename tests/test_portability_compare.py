"""The portability comparison itself (tests/portability.py) bites: every column of every row is
compared, whatever type the other engine's driver returns, and the message names the row and column."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.portability import Mart, compare_mart, kpi_tables, mart_key

COLUMNS = ["quarter_start", "rep_id", "bookings_amount_corporate", "win_rate", "won_count", "is_out_of_band"]
TYPES = ["DATE", "VARCHAR", "DECIMAL(28,6)", "DOUBLE", "BIGINT", "BOOLEAN"]
KEY = ["quarter_start", "rep_id"]

DUCK: list[tuple[Any, ...]] = [
    (date(2025, 1, 1), "r1", Decimal("100.500000"), 0.25, 4, False),
    (date(2025, 1, 1), "r2", Decimal("300.000000"), None, 0, True),
    (date(2025, 4, 1), None, Decimal("0.000000"), 1.0 / 3.0, 3, False),
]
MART = Mart("kpi_example", COLUMNS, TYPES, KEY, DUCK)


def other(*changes: tuple[int, int, object]) -> list[tuple[object, ...]]:
    """The DuckDB rows as another driver returns them (floats for decimals, text dates and booleans,
    another order), with ``(row, column, value)`` changes applied."""
    rows: list[list[Any]] = [list(r) for r in DUCK]
    for row, column, value in changes:
        rows[row][column] = value
    as_driver = [(r[0].isoformat(), r[1], float(r[2]), r[3], r[4], "true" if r[5] else "false") for r in rows]
    return list(reversed(as_driver))


def test_equal_marts_pass_across_driver_types_and_row_order() -> None:
    compare_mart(MART, [c.upper() for c in COLUMNS], other(), "PostgreSQL")
    # within the tolerance of about 6 significant digits
    compare_mart(MART, COLUMNS, other((2, 3, 1.0 / 3.0 * (1 + 1e-8))), "PostgreSQL")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # two rows swap their amounts: every column sum stays the same
        (
            [(0, 2, Decimal("300.000000")), (1, 2, Decimal("100.500000"))],
            "row {'quarter_start': '2025-01-01', 'rep_id': 'r1'}: bookings_amount_corporate is 100.5",
        ),
        ([(2, 3, 0.3334)], "win_rate is 0.333"),
        ([(1, 3, 0.0)], "win_rate is None on DuckDB, 0.0 on PostgreSQL"),
        ([(0, 5, True)], "is_out_of_band is False on DuckDB, True on PostgreSQL"),
        ([(0, 4, 5)], "won_count is 4"),
        ([(2, 0, date(2025, 4, 2))], "only on DuckDB: [('2025-04-01', None)]"),
        ([(1, 1, "r3")], "only on PostgreSQL: [('2025-01-01', 'r3')]"),
    ],
)
def test_a_difference_in_any_column_fails_naming_row_and_column(
    changes: list[tuple[int, int, object]], message: str
) -> None:
    with pytest.raises(AssertionError, match=re.escape(message)):
        compare_mart(MART, COLUMNS, other(*changes), "PostgreSQL")


def test_a_timestamp_where_duckdb_has_a_date_differs() -> None:
    rows = [(datetime(2025, 1, 1), *r[1:]) if i == 0 else r for i, r in enumerate(DUCK)]
    with pytest.raises(AssertionError, match="only on PostgreSQL"):
        compare_mart(MART, COLUMNS, rows, "PostgreSQL")


def test_missing_extra_or_reordered_columns_fail() -> None:
    with pytest.raises(AssertionError, match="columns on DuckDB"):
        compare_mart(MART, COLUMNS[:-1], [r[:-1] for r in DUCK], "Spark")
    with pytest.raises(AssertionError, match="columns on DuckDB"):
        compare_mart(MART, [*COLUMNS[1:], COLUMNS[0]], [(*r[1:], r[0]) for r in DUCK], "Spark")


def test_a_duplicated_row_fails() -> None:
    with pytest.raises(AssertionError, match="4 on Spark"):
        compare_mart(MART, COLUMNS, [*DUCK, DUCK[0]], "Spark")


def test_every_kpi_mart_has_a_grain_to_match_rows_by() -> None:
    for table in kpi_tables():
        assert mart_key(table, ["<none>"]) != ["<none>"], f"{table}: no unique_combination_of_columns test"
