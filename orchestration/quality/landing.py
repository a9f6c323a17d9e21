"""Landing checks of a loaded batch: the entry points the raw assets and ``sales-wh validate`` call.

:func:`validate_landing` judges the expectation plan (:mod:`.plan`) with the engine that suits the batch
size (:func:`landing_engine`): Great Expectations on pandas (:mod:`.gx_engine`) up to
``SALES_WH_GX_MAX_ROWS`` rows, SQL inside DuckDB (:mod:`.sql_engine`) above; ``details["engine"]``
names the engine that judged an outcome. The expectations see only the rows that loaded, so a batch
whose rows were all rejected would pass them all: :func:`reject_rate_outcome` judges the loader's
counts (rejected / source rows per batch) instead.

The names the callers import from here (outcome type, engines, reference data, chunking) are
re-exported, so they need not know how the package is split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import duckdb

from orchestration.contract import RAW_SCHEMA, LandingObject, get_object
from orchestration.quality.gx_engine import read_batch_frame, validate_landing_frame
from orchestration.quality.plan import (
    GX_ENGINE,
    SQL_ENGINE,
    Engine,
    ExpectationOutcome,
    Severity,
    known_currencies,
)
from orchestration.quality.sql_engine import IN_DATES, validate_landing_sql
from orchestration.settings import Settings
from orchestration.sql import q

if TYPE_CHECKING:
    from orchestration.ingestion.loader import BatchResult

__all__ = [
    "GX_ENGINE",
    "REJECT_RATE_MIN_ROWS",
    "SQL_ENGINE",
    "Engine",
    "ExpectationOutcome",
    "Severity",
    "count_batch_rows",
    "date_chunks",
    "known_currencies",
    "landing_engine",
    "read_batch_frame",
    "reject_rate_outcome",
    "validate_landing",
    "validate_landing_frame",
    "validate_landing_sql",
    "validate_loaded_batches",
]

#: Batches smaller than this are not judged by their reject rate (1 bad row of 3 is 33%), only by
#: whether every row was rejected.
REJECT_RATE_MIN_ROWS = 100


def landing_engine(rows: int, gx_max_rows: int | None = None) -> Engine:
    """Great Expectations for a batch of at most ``gx_max_rows`` rows (default: ``SALES_WH_GX_MAX_ROWS``),
    SQL inside DuckDB for a larger one."""
    limit = Settings.from_env().gx_max_rows if gx_max_rows is None else gx_max_rows
    return GX_ENGINE if rows <= limit else SQL_ENGINE


def date_chunks(rows_per_date: Mapping[date, int], max_rows: int) -> list[list[date]]:
    """Consecutive extract dates grouped so that each group holds at most ``max_rows`` rows (a single
    date larger than that is a group of its own): how a large run is validated in pieces."""
    chunks: list[list[date]] = []
    current: list[date] = []
    total = 0
    for day in sorted(rows_per_date):
        n = rows_per_date[day]
        if current and total + n > max_rows:
            chunks.append(current)
            current, total = [], 0
        current.append(day)
        total += n
    if current:
        chunks.append(current)
    return chunks


def count_batch_rows(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, extract_dates: Sequence[date]
) -> int:
    row = con.execute(
        f"SELECT count(*) FROM {RAW_SCHEMA}.{q(obj.table)} WHERE {IN_DATES}",
        {"dates": sorted(set(extract_dates))},
    ).fetchone()
    assert row is not None, "SELECT count(*) returns one row"
    return row[0]


def validate_landing(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    extract_dates: Sequence[date],
    *,
    known_currencies: set[str],
    engine: Engine | None = None,
    gx_max_rows: int | None = None,
) -> list[ExpectationOutcome]:
    """The landing expectations of the loaded rows of ``obj`` on ``extract_dates``, judged by ``engine``
    (default: by the number of rows, see :func:`landing_engine`).
    """
    if engine is None:
        engine = landing_engine(count_batch_rows(con, obj, extract_dates), gx_max_rows)
    if engine == SQL_ENGINE:
        return validate_landing_sql(con, obj, extract_dates, known_currencies=known_currencies)
    if engine != GX_ENGINE:
        raise ValueError(f"unknown landing check engine {engine!r}")
    frame = read_batch_frame(con, obj, extract_dates)
    return validate_landing_frame(frame, obj, known_currencies=known_currencies)


def validate_loaded_batches(
    con: duckdb.DuckDBPyConnection,
    object_name: str,
    extract_dates: Sequence[date],
    *,
    engine: Engine | None = None,
) -> list[ExpectationOutcome]:
    """Convenience: validate the loaded partitions with the warehouse's reference data."""
    return validate_landing(
        con,
        get_object(object_name),
        extract_dates,
        known_currencies=known_currencies(con),
        engine=engine,
    )


def reject_rate_outcome(
    results: Sequence[BatchResult],
    max_reject_rate: float | None = None,
    min_rows: int = REJECT_RATE_MIN_ROWS,
) -> ExpectationOutcome:
    """``reject_rate_within_limit`` (error): the load is not a systematically broken one.

    A batch fails when every one of its rows was rejected, or when it has at least ``min_rows`` source
    rows and rejects more than ``max_reject_rate`` of them; the batches of the call taken together are
    judged the same way. Small batches are judged by the all-rejected rule only: one bad row among three
    is an ordinary reject (it is in raw._rejects), not a broken extract. ``max_reject_rate`` defaults to
    ``Settings.from_env().max_reject_rate`` (SALES_WH_MAX_REJECT_RATE).
    """
    limit = Settings.from_env().max_reject_rate if max_reject_rate is None else max_reject_rate

    def broken(source: int, rejected: int) -> bool:
        return source > 0 and (rejected == source or (source >= min_rows and rejected / source > limit))

    source = sum(r.source_rows for r in results)
    rejected = sum(r.rejected_rows for r in results)
    over = [
        {
            "object": r.object,
            "extract_date": r.extract_date.isoformat(),
            "source_rows": r.source_rows,
            "rejected_rows": r.rejected_rows,
            "reject_rate": round(r.rejected_rows / r.source_rows, 6),
        }
        for r in results
        if broken(r.source_rows, r.rejected_rows)
    ]
    success = not over and not broken(source, rejected)
    return ExpectationOutcome(
        name="reject_rate_within_limit",
        severity="error",
        success=success,
        description=(
            f"no batch rejects all its rows, and none with {min_rows}+ rows (nor the load as a whole) "
            f"rejects more than {limit:.2%} of them (see raw._rejects)"
        ),
        details={
            "max_reject_rate": limit,
            "source_rows": source,
            "rejected_rows": rejected,
            "reject_rate": round(rejected / source, 6) if source else 0.0,
            "batches_over_limit": over,
        },
    )
