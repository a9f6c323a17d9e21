"""The landing expectation plan: what is checked on a landed batch, with which severity, and why.

One definition (:func:`plan_expectations`) that both engines judge (:mod:`.gx_engine` on pandas
frames, :mod:`.sql_engine` in DuckDB), so the two can never disagree about the rules, only about
speed. A planned expectation is a Great Expectations class name and its arguments: GX builds it
directly, the SQL engine derives its queries from the same arguments. The outcome type and the
helpers that make both engines report the same details live here too.

Only rules the loader does not enforce are planned: an empty key, a value not of its type, a file
without its key column or two rows of one batch with one key and version but different content are
already rejects or batch errors, and a stage outside the seeds is counted by dbt
(``core.dq_unmapped_values``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from orchestration.contract import CORPORATE_CURRENCY, RAW_SCHEMA, LandingObject

Severity = Literal["error", "warn"]
Engine = Literal["great_expectations", "sql"]
GX_ENGINE: Engine = "great_expectations"
SQL_ENGINE: Engine = "sql"

#: Plausible range of every date and timestamp in the CRM (upper bound: today + 5 years).
MIN_DATE = datetime(2000, 1, 1)
FUTURE_YEARS = 5
#: Dates where Salesforce writes 9999-12-31 for "no end": only their lower bound is checked.
OPEN_ENDED_DATES = frozenset({"NextStartDate"})
#: Examples of unexpected values an outcome carries (GX's ``partial_unexpected_count``).
PARTIAL_UNEXPECTED = 20


@dataclass(frozen=True)
class ExpectationOutcome:
    """The verdict on one expectation: ``error`` blocks everything downstream, ``warn`` is reported."""

    name: str
    severity: Severity
    success: bool
    description: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Planned:
    """An expectation to run on the batch.

    ``expectation`` is a class name of ``great_expectations.expectations`` and ``kwargs`` its arguments:
    GX builds the expectation from them (:meth:`gx`), the SQL engine derives its queries from them.
    """

    name: str
    severity: Severity
    description: str
    expectation: str
    kwargs: dict[str, Any]

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    def gx(self) -> Any:
        """The GX expectation, tagged with the check name (GX returns results in its own order)."""
        import great_expectations.expectations as gxe

        return getattr(gxe, self.expectation)(**self.kwargs, meta={"landing_check": self.name})


# ------------------------------------------------------------------------------------------ reference


def known_currencies(con: duckdb.DuckDBPyConnection) -> set[str]:
    """ISO codes of ``raw.currency_type`` plus the corporate currency (always known)."""
    codes = {CORPORATE_CURRENCY}
    row = con.execute(
        """SELECT count(*) FROM information_schema.tables
           WHERE table_catalog = current_database() AND table_schema = ? AND table_name = 'currency_type'""",
        [RAW_SCHEMA],
    ).fetchone()
    assert row is not None, "SELECT count(*) returns one row"
    if row[0]:
        rows = con.execute(
            f"SELECT DISTINCT iso_code FROM {RAW_SCHEMA}.currency_type WHERE iso_code IS NOT NULL"
        )
        codes |= {r[0] for r in rows.fetchall()}
    return codes


# --------------------------------------------------------------------------------------------- plan


def plan_expectations(
    obj: LandingObject, columns: set[str], filled: set[str], known_currencies: set[str]
) -> list[Planned]:
    """The expectations of a batch of ``obj`` with ``columns``, of which ``filled`` have a value."""
    plan: list[Planned] = []
    amounts = {f.column for f in obj.fields if f.type == "amount"} | {
        obj.field(n).column for n in obj.non_negative
    }
    for c in sorted(amounts & columns):
        plan.append(
            Planned(
                f"{c}_non_negative",
                "warn",  # credits and downsells are negative in real orgs: a finding, not a failure
                f"{c} >= 0",
                "ExpectColumnValuesToBeBetween",
                {"column": c, "min_value": 0},
            )
        )

    latest = datetime.combine(date.today(), datetime.min.time()) + timedelta(days=365 * FUTURE_YEARS + 1)
    for f in obj.fields:
        # An optional column with no value at all has no min or max to check.
        if f.type in ("date", "timestamp") and f.column in filled:
            # Column min and max (aggregates) rather than a per-row check: same verdict, far cheaper.
            plan.append(
                Planned(
                    f"{f.column}_not_before_{MIN_DATE:%Y}",
                    "warn",  # odd (a migrated org, a typo) but possible: modelled and counted
                    f"{f.column} is not before {MIN_DATE:%Y-%m-%d}",
                    "ExpectColumnMinToBeBetween",
                    {"column": f.column, "min_value": MIN_DATE},
                )
            )
            if f.name in OPEN_ENDED_DATES:
                continue
            plan.append(
                Planned(
                    f"{f.column}_not_after_today_plus_{FUTURE_YEARS}y",
                    "warn",
                    f"{f.column} is not after {latest:%Y-%m-%d}",
                    "ExpectColumnMaxToBeBetween",
                    {"column": f.column, "max_value": latest},
                )
            )

    if "currency_iso_code" in columns:
        plan.append(
            Planned(
                "currency_known",
                "error",  # an amount without a rate would fall out of bookings silently
                f"currency_iso_code is one of {', '.join(sorted(known_currencies))}",
                "ExpectColumnValuesToBeInSet",
                {"column": "currency_iso_code", "value_set": sorted(known_currencies)},
            )
        )
    return plan


# ---------------------------------------------------------------------------- shared by both engines


def frame_columns(planned: Sequence[Planned]) -> list[str]:
    """Columns of the batch frame GX validates: those a batch expectation reads."""
    return sorted({p.column for p in planned if p.column})


def json_safe(value: Any) -> Any:
    """Details as JSON: numpy scalars as Python numbers, missing values (NaN, NaT, NULL) as None,
    timestamps as text (``2025-01-02 10:00:00``), so both engines report a value the same way."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.bool_ | np.integer | np.floating):
        value = value.item()
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def empty_outcomes(planned: Sequence[Planned], engine: Engine) -> list[ExpectationOutcome]:
    """Nothing landed: every expectation passes without running."""
    return [
        ExpectationOutcome(p.name, p.severity, True, p.description, {"element_count": 0, "engine": engine})
        for p in planned
    ]
