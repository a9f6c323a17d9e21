"""Great Expectations engine of the landing plan, for small batches (the daily batch, the demo).

GX runs on pandas frames read from DuckDB (GX's SQL datasource does not work on DuckDB): one ephemeral
context with a pandas datasource, created once per process because creating one costs far more than a
validation. The frames are slimmed before GX sees them (GX hashes every batch it validates). Batches
above ``SALES_WH_GX_MAX_ROWS`` go to :mod:`.sql_engine` instead, which must give the same outcomes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from orchestration.contract import RAW_SCHEMA, LandingObject
from orchestration.quality.plan import (
    GX_ENGINE,
    ExpectationOutcome,
    Planned,
    empty_outcomes,
    frame_columns,
    json_safe,
    plan_expectations,
)

_DETAIL_KEYS = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "partial_unexpected_list",
    "observed_value",
)


def read_batch_frame(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, extract_dates: Sequence[date]
) -> pd.DataFrame:
    """The loaded rows of ``obj`` for ``extract_dates``: every contract column plus ``_extract_date``."""
    cols = ", ".join(f'"{c}"' for c in [*obj.columns, "_extract_date"])
    return con.execute(
        f'SELECT {cols} FROM {RAW_SCHEMA}."{obj.table}" '
        "WHERE _extract_date IN (SELECT unnest(CAST(? AS DATE[])))",
        [sorted(set(extract_dates))],
    ).df()


@functools.cache
def _batch_definition() -> Any:
    """One ephemeral GX context per process (creating one costs far more than a validation)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("landing").add_dataframe_asset("landing_frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def warm_up_landing_checks() -> None:
    """Import Great Expectations and create the process's context now (what the first validation would
    otherwise pay, ~5 s on the 2-core development machine): the pipeline calls it while dbt parses."""
    _batch_definition()


def _validate(frame: pd.DataFrame, planned: list[Planned]) -> list[ExpectationOutcome]:
    import great_expectations as gx

    if not planned:
        return []
    batch_definition = _batch_definition()  # creates the context the suite needs
    # Results come back in GX's order, not the suite's: each expectation carries its check name.
    suite = gx.ExpectationSuite(name="landing", expectations=[p.gx() for p in planned])
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    results = batch.validate(suite).results
    outcomes = []
    by_name = {r.expectation_config.meta.get("landing_check"): r for r in results}
    for p in planned:
        r = by_name[p.name]
        details = {k: json_safe(v) for k, v in (r.result or {}).items() if k in _DETAIL_KEYS}
        if r.exception_info and r.exception_info.get("raised_exception"):
            details["exception"] = str(r.exception_info.get("exception_message"))
        details["engine"] = GX_ENGINE
        outcomes.append(ExpectationOutcome(p.name, p.severity, bool(r.success), p.description, details))
    return outcomes


def _batch_frame(df: pd.DataFrame, obj: LandingObject, planned: list[Planned]) -> pd.DataFrame:
    """The columns the batch expectations read, with dates as datetimes and amounts as floats."""
    # GX fingerprints every batch by hashing the whole frame, and hashing 1M strings costs seconds, so
    # text columns go in cheaply: as categories where a value set is checked, and as a null marker
    # where only emptiness is (the unexpected values of a not-null check are nulls either way).
    set_checked = {p.column for p in planned if p.expectation == "ExpectColumnValuesToBeInSet"}
    frame = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for c in frame_columns(planned):
        typ = obj.field(c).type
        col = df[c].reset_index(drop=True)
        if typ in ("date", "timestamp"):
            frame[c] = (
                col if pd.api.types.is_datetime64_any_dtype(col) else pd.to_datetime(col, errors="coerce")
            )
        elif typ in ("amount", "integer", "number", "rate"):
            frame[c] = col if pd.api.types.is_numeric_dtype(col) else pd.to_numeric(col, errors="coerce")
        elif c in set_checked:
            frame[c] = col.astype("category")
        else:
            frame[c] = np.where(col.isna(), np.nan, 0.0)
    return frame


def validate_landing_frame(
    df: pd.DataFrame, obj: LandingObject, *, known_currencies: set[str]
) -> list[ExpectationOutcome]:
    """Run the landing expectations of ``obj`` on ``df`` (contract columns, snake_case) with GX.

    An empty frame means nothing landed: every expectation passes without running.
    """
    filled = {c for c in df.columns if df[c].notna().any()}
    planned = plan_expectations(obj, set(df.columns), filled, known_currencies)
    if df.empty:
        return empty_outcomes(planned, GX_ENGINE)
    return _validate(_batch_frame(df, obj, planned), planned)
