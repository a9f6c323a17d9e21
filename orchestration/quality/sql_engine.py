"""SQL engine of the landing plan, for batches too big for pandas (e.g. a one-run backfill).

The same planned expectations as :mod:`.gx_engine`, judged by aggregate queries inside DuckDB over
``raw.<table>``: one scan for every column check, and a LIMIT query per failed check for its examples.
Nothing is read into pandas, so memory does not grow with the batch. Outcomes (verdicts, counts,
percentages, examples in row order) equal GX's for the same rows; tests/test_landing_engines.py holds
the two to that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import duckdb

from orchestration.contract import RAW_SCHEMA, LandingObject
from orchestration.quality.plan import (
    PARTIAL_UNEXPECTED,
    SQL_ENGINE,
    ExpectationOutcome,
    Planned,
    empty_outcomes,
    json_safe,
    plan_expectations,
)
from orchestration.sql import lit, q, table_columns

#: Rows of the batch (``$dates``: its extract dates).
IN_DATES = "_extract_date IN (SELECT unnest(CAST($dates AS DATE[])))"

_ROW_CHECKS = ("ExpectColumnValuesToBeBetween", "ExpectColumnValuesToBeInSet")
_AGGREGATES = {"ExpectColumnMinToBeBetween": "min", "ExpectColumnMaxToBeBetween": "max"}


def _table_columns(con: duckdb.DuckDBPyConnection, obj: LandingObject) -> set[str]:
    """Contract columns (and ``_extract_date``) of ``raw.<table>``: the columns of its batch frame."""
    return set(table_columns(con, RAW_SCHEMA, obj.table)) & {*obj.columns, "_extract_date"}


def _value_sql(obj: LandingObject, column: str) -> str:
    """``column`` as the batch frame holds it: dates as timestamps, amounts as floats."""
    typ, ref = obj.field(column).type, q(column)
    if typ in ("date", "timestamp"):
        return f"CAST({ref} AS TIMESTAMP)"
    if typ == "amount":
        return f"CAST({ref} AS DOUBLE)"
    return ref


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP {lit(value.isoformat(sep=' '))}"
    if isinstance(value, date):
        return f"DATE {lit(value.isoformat())}"
    if isinstance(value, str):
        return lit(value)
    raise TypeError(f"no SQL literal for {value!r}")


def _column(p: Planned) -> str:
    """The column ``p`` judges: every expectation this engine has SQL for is a column expectation."""
    if p.column is None:
        raise NotImplementedError(f"landing check {p.name}: no SQL for {p.expectation} without a column")
    return p.column


def _unexpected_sql(p: Planned) -> str:
    """SQL condition of a row the row-wise expectation ``p`` does not expect (NULL: not unexpected)."""
    c, kw = q(_column(p)), p.kwargs
    if p.expectation == "ExpectColumnValuesToBeBetween":
        outside = []
        if kw.get("min_value") is not None:
            outside.append(f"{c} {'<=' if kw.get('strict_min') else '<'} {_sql_literal(kw['min_value'])}")
        if kw.get("max_value") is not None:
            outside.append(f"{c} {'>=' if kw.get('strict_max') else '>'} {_sql_literal(kw['max_value'])}")
        return f"({' OR '.join(outside)})" if outside else "false"
    if p.expectation == "ExpectColumnValuesToBeInSet":
        if not kw["value_set"]:
            return f"{c} IS NOT NULL"
        return f"{c} NOT IN ({', '.join(_sql_literal(v) for v in kw['value_set'])})"
    raise NotImplementedError(f"landing check {p.name}: no SQL for {p.expectation}")


def _metrics_sql(obj: LandingObject, p: Planned) -> dict[str, str]:
    """Aggregates over the batch that judge ``p`` (all of them go in one scan)."""
    if p.expectation in _ROW_CHECKS:
        return {
            "nonnull": f"count({q(_column(p))})",
            "unexpected": f"count(*) FILTER (WHERE {_unexpected_sql(p)})",
        }
    if p.expectation in _AGGREGATES:
        return {"observed": f"{_AGGREGATES[p.expectation]}({_value_sql(obj, _column(p))})"}
    raise NotImplementedError(f"landing check {p.name}: no SQL for {p.expectation}")


def _between(value: Any, kwargs: dict[str, Any]) -> bool:
    """GX's verdict of a column aggregate against ``min_value`` / ``max_value`` (bounds inclusive)."""
    if value is None:
        return False
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and (value <= low if kwargs.get("strict_min") else value < low):
        return False
    return not (high is not None and (value >= high if kwargs.get("strict_max") else value > high))


def _sql_outcome(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, p: Planned, dates: list[date], metrics: dict[str, Any]
) -> ExpectationOutcome:
    details: dict[str, Any]
    if p.expectation in _AGGREGATES:
        observed = metrics[f"{p.name}:observed"]
        success = _between(observed, p.kwargs)
        details = {"observed_value": json_safe(observed)}
    else:  # a row-wise check; GX's percentage is a share of the non-null rows
        nonnull, unexpected = metrics[f"{p.name}:nonnull"], metrics[f"{p.name}:unexpected"]
        examples: list[Any] = []
        if unexpected:  # the first unexpected values in the batch's row order, as GX lists them
            examples = [
                json_safe(r[0])
                for r in con.execute(
                    f"SELECT {_value_sql(obj, _column(p))} FROM {RAW_SCHEMA}.{q(obj.table)} "
                    f"WHERE {IN_DATES} AND {_unexpected_sql(p)} LIMIT {PARTIAL_UNEXPECTED}",
                    {"dates": dates},
                ).fetchall()
            ]
        success = unexpected == 0
        details = {
            "element_count": metrics["rows"],
            "unexpected_count": unexpected,
            "unexpected_percent": unexpected / nonnull * 100 if nonnull else None,
            "partial_unexpected_list": examples,
        }
    return ExpectationOutcome(p.name, p.severity, success, p.description, {**details, "engine": SQL_ENGINE})


def validate_landing_sql(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    extract_dates: Sequence[date],
    *,
    known_currencies: set[str],
) -> list[ExpectationOutcome]:
    """The outcomes :func:`~orchestration.quality.gx_engine.validate_landing_frame` gives for the loaded
    rows of ``obj`` on ``extract_dates``, computed in DuckDB."""
    dates = sorted(set(extract_dates))
    columns = _table_columns(con, obj)
    date_columns = [f.column for f in obj.fields if f.type in ("date", "timestamp") and f.column in columns]
    # Which date columns have a value decides which date checks run: measure every candidate check of
    # the plan (as if all were filled) in the same scan, then plan for real.
    candidates = plan_expectations(obj, columns, set(columns), known_currencies)
    select = {"rows": "count(*)"} | {f"filled:{c}": f"count({q(c)})" for c in date_columns}
    for p in candidates:
        select |= {f"{p.name}:{k}": sql for k, sql in _metrics_sql(obj, p).items()}
    values = con.execute(
        f"SELECT {', '.join(f'{sql} AS {q(k)}' for k, sql in select.items())} "
        f"FROM {RAW_SCHEMA}.{q(obj.table)} WHERE {IN_DATES}",
        {"dates": dates},
    ).fetchone()
    assert values is not None, "an aggregate SELECT returns one row"
    metrics: dict[str, Any] = dict(zip(select, values, strict=True))
    filled = {c for c in date_columns if metrics[f"filled:{c}"]}
    planned = plan_expectations(obj, columns, filled, known_currencies)
    if not metrics["rows"]:
        return empty_outcomes(planned, SQL_ENGINE)
    return [_sql_outcome(con, obj, p, dates, metrics) for p in planned]
