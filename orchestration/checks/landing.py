"""Great Expectations checks on landed batches.

The checks run on pandas frames (GX's SQL datasource does not work on DuckDB): an ephemeral GX context
with a pandas datasource, one dataframe asset and a whole-dataframe batch definition, created once per
process. Each expectation becomes an :class:`ExpectationOutcome` with the severity the pipeline acts
on: ``error`` blocks everything downstream, ``warn`` is reported only.

The expectations see only the rows that loaded, so a batch whose rows were all rejected would pass
them all: :func:`reject_rate_outcome` checks the loader's counts (rejected / source rows per batch).
"""

from __future__ import annotations

import csv
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from orchestration.contract import CORPORATE_CURRENCY, RAW_SCHEMA, LandingObject, get_object
from orchestration.ingestion.loader import BatchResult
from orchestration.settings import PROJECT_ROOT, Settings

Severity = Literal["error", "warn"]

#: Plausible range of every date and timestamp in the CRM (upper bound: today + 5 years).
MIN_DATE = datetime(2000, 1, 1)
FUTURE_YEARS = 5
STAGE_OBJECTS = ("Opportunity", "OpportunityHistory")
#: Dates where Salesforce writes 9999-12-31 for "no end": only their lower bound is checked.
OPEN_ENDED_DATES = frozenset({"NextStartDate"})
#: Batches smaller than this are not judged by their reject rate (1 bad row of 3 is 33%), only by
#: whether every row was rejected.
REJECT_RATE_MIN_ROWS = 100
DEFAULT_STAGE_SEED = PROJECT_ROOT / "seeds" / "opportunity_stages.csv"
_CONFLICT_COLUMN = "_content_hash"


@dataclass(frozen=True)
class ExpectationOutcome:
    name: str
    severity: Severity
    success: bool
    description: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Planned:
    """An expectation to run on one of the two frames (the batch, or its de-duplicated keys)."""

    name: str
    severity: Severity
    description: str
    expectation: Any
    frame: Literal["batch", "keys"] = "batch"


# ------------------------------------------------------------------------------------------ reference


def known_stages_from_seed(seed_path: Path | None = None) -> set[str]:
    """Stage names of the stage seed (``seeds/opportunity_stages.csv``)."""
    with Path(seed_path or DEFAULT_STAGE_SEED).open(encoding="utf-8-sig", newline="") as fh:
        return {row["stage_name"] for row in csv.DictReader(fh) if row.get("stage_name")}


def known_currencies(con: duckdb.DuckDBPyConnection) -> set[str]:
    """ISO codes of ``raw.currency_type`` plus the corporate currency (always known)."""
    codes = {CORPORATE_CURRENCY}
    exists = con.execute(
        """SELECT count(*) FROM information_schema.tables
           WHERE table_catalog = current_database() AND table_schema = ? AND table_name = 'currency_type'""",
        [RAW_SCHEMA],
    ).fetchone()[0]
    if exists:
        rows = con.execute(
            f"SELECT DISTINCT iso_code FROM {RAW_SCHEMA}.currency_type WHERE iso_code IS NOT NULL"
        )
        codes |= {r[0] for r in rows.fetchall()}
    return codes


# ------------------------------------------------------------------------------------------ the frame


def _checked_columns(obj: LandingObject) -> list[str]:
    """Columns the expectations read: every contract column (content comparison needs them all)."""
    return list(obj.columns)


def read_batch_frame(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, extract_dates: Sequence[date]
) -> pd.DataFrame:
    """The loaded rows of ``obj`` for ``extract_dates`` (contract columns plus ``_extract_date``)."""
    cols = ", ".join(f'"{c}"' for c in [*_checked_columns(obj), "_extract_date"])
    return con.execute(
        f'SELECT {cols} FROM {RAW_SCHEMA}."{obj.table}" '
        "WHERE _extract_date IN (SELECT unnest(CAST(? AS DATE[])))",
        [sorted(set(extract_dates))],
    ).df()


# --------------------------------------------------------------------------------------------- plan


def _duplicate_key_columns(obj: LandingObject, columns: set[str]) -> list[str]:
    """Key, extract date (a batch is one object on one extract date) and version field of ``obj``.

    Full daily extracts of objects without a version field legitimately repeat a key with new content
    on another day, so the uniqueness is per batch. Empty when a key column is absent.
    """
    keys = [obj.field(k).column for k in obj.key]
    version = [obj.field(obj.version_field).column] if obj.version_field else []
    batch = ["_extract_date"] if "_extract_date" in columns else []
    return keys + batch + version if set(keys + version) <= columns else []


def _plan(
    obj: LandingObject,
    columns: set[str],
    filled: set[str],
    known_stages: set[str],
    known_currencies: set[str],
) -> list[_Planned]:
    import great_expectations.expectations as gxe

    plan: list[_Planned] = []
    required = [f.column for f in obj.required_fields]
    plan.append(
        _Planned(
            "required_columns_present",
            "error",
            f"columns {', '.join(required)} are present",
            gxe.ExpectTableColumnsToMatchSet(column_set=required, exact_match=False),
        )
    )
    for c in required:
        if c in columns:
            plan.append(
                _Planned(
                    f"{c}_not_null",
                    "error",
                    f"{c} is never empty",
                    gxe.ExpectColumnValuesToNotBeNull(column=c),
                )
            )

    dup_columns = _duplicate_key_columns(obj, columns)
    if dup_columns:
        unique = (
            gxe.ExpectCompoundColumnsToBeUnique(column_list=dup_columns, ignore_row_if="never")
            if len(dup_columns) > 1
            else gxe.ExpectColumnValuesToBeUnique(column=dup_columns[0])
        )
        plan.append(
            _Planned(
                "no_conflicting_duplicates",
                "error",
                f"no two rows of one batch share {', '.join(dup_columns)} with different content "
                "(exact repeats are harmless)",
                unique,
                frame="keys",
            )
        )

    amounts = {f.column for f in obj.fields if f.type == "amount"} | {
        obj.field(n).column for n in obj.non_negative
    }
    for c in sorted(amounts & columns):
        plan.append(
            _Planned(
                f"{c}_non_negative",
                "error",
                f"{c} >= 0",
                gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0),
            )
        )

    latest = datetime.combine(date.today(), datetime.min.time()) + timedelta(days=365 * FUTURE_YEARS + 1)
    for f in obj.fields:
        # An optional column with no value at all has no min or max to check.
        if f.type in ("date", "timestamp") and f.column in filled:
            # Column min and max (aggregates) rather than a per-row check: same verdict, far cheaper.
            plan.append(
                _Planned(
                    f"{f.column}_not_before_{MIN_DATE:%Y}",
                    "error",
                    f"{f.column} is not before {MIN_DATE:%Y-%m-%d}",
                    gxe.ExpectColumnMinToBeBetween(column=f.column, min_value=MIN_DATE),
                )
            )
            if f.name in OPEN_ENDED_DATES:
                continue
            plan.append(
                _Planned(
                    f"{f.column}_not_after_today_plus_{FUTURE_YEARS}y",
                    "error",
                    f"{f.column} is not after {latest:%Y-%m-%d}",
                    gxe.ExpectColumnMaxToBeBetween(column=f.column, max_value=latest),
                )
            )

    if "currency_iso_code" in columns:
        plan.append(
            _Planned(
                "currency_known",
                "error",
                f"currency_iso_code is one of {', '.join(sorted(known_currencies))}",
                gxe.ExpectColumnValuesToBeInSet(
                    column="currency_iso_code", value_set=sorted(known_currencies)
                ),
            )
        )
    if obj.name in STAGE_OBJECTS and "stage_name" in columns:
        plan.append(
            _Planned(
                "stage_in_seed",
                "warn",
                "stage_name is in seeds/opportunity_stages.csv (unknown stages are reported, not dropped)",
                gxe.ExpectColumnValuesToBeInSet(column="stage_name", value_set=sorted(known_stages)),
            )
        )
    return plan


# ---------------------------------------------------------------------------------------------- run


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


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _validate(frame: pd.DataFrame, planned: list[_Planned]) -> list[ExpectationOutcome]:
    import great_expectations as gx

    if not planned:
        return []
    batch_definition = _batch_definition()  # creates the context the suite needs
    for p in planned:  # results come back in GX's order, not the suite's: tag each expectation
        p.expectation.meta = {"landing_check": p.name}
    suite = gx.ExpectationSuite(name="landing", expectations=[p.expectation for p in planned])
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    results = batch.validate(suite).results
    outcomes = []
    by_name = {r.expectation_config.meta.get("landing_check"): r for r in results}
    for p in planned:
        r = by_name[p.name]
        details = {
            k: _json_safe(v)
            for k, v in (r.result or {}).items()
            if k
            in (
                "element_count",
                "unexpected_count",
                "unexpected_percent",
                "partial_unexpected_list",
                "observed_value",
            )
        }
        if r.exception_info and r.exception_info.get("raised_exception"):
            details["exception"] = str(r.exception_info.get("exception_message"))
        outcomes.append(ExpectationOutcome(p.name, p.severity, bool(r.success), p.description, details))
    return outcomes


def _batch_frame(df: pd.DataFrame, obj: LandingObject, planned: list[_Planned]) -> pd.DataFrame:
    import great_expectations.expectations as gxe

    """The columns the batch expectations read, with dates as datetimes and amounts as floats."""
    # GX fingerprints every batch by hashing the whole frame, and hashing 1M strings costs seconds, so
    # text columns go in cheaply: as categories where a value set is checked, and as a null marker
    # where only emptiness is (the unexpected values of a not-null check are nulls either way).
    set_checked = {
        p.expectation.column for p in planned if isinstance(p.expectation, gxe.ExpectColumnValuesToBeInSet)
    }
    cols = sorted({p.expectation.column for p in planned if hasattr(p.expectation, "column")})
    frame = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for c in cols:
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


def _keys_frame(df: pd.DataFrame, obj: LandingObject) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Key and version (as integer codes) of each distinct row content, and examples of conflicts.

    Exact repeats collapse to one row, so a key+version that still repeats has two different
    contents. Codes instead of strings keep GX's whole-frame fingerprint cheap.
    """
    key_columns = _duplicate_key_columns(obj, set(df.columns))
    content = [c for c in obj.columns if c in df.columns and c not in key_columns]
    frame = df[key_columns].reset_index(drop=True)
    frame[_CONFLICT_COLUMN] = (
        pd.util.hash_pandas_object(df[content], index=False).to_numpy() if content else 0
    )
    distinct = frame.drop_duplicates().drop(columns=_CONFLICT_COLUMN)
    conflicts = distinct[distinct.duplicated(keep="first")].head(20)
    codes = pd.DataFrame({c: pd.factorize(distinct[c], use_na_sentinel=True)[0] for c in distinct.columns})
    return codes, [_json_safe(r) for r in conflicts.to_dict("records")]


def validate_landing_frame(
    df: pd.DataFrame,
    obj: LandingObject,
    *,
    known_stages: set[str],
    known_currencies: set[str],
) -> list[ExpectationOutcome]:
    """Run the landing expectations of ``obj`` on ``df`` (contract columns, snake_case).

    An empty frame means nothing landed: every expectation passes without running.
    """
    filled = {c for c in df.columns if df[c].notna().any()}
    planned = _plan(obj, set(df.columns), filled, known_stages, known_currencies)
    if df.empty:
        return [
            ExpectationOutcome(p.name, p.severity, True, p.description, {"element_count": 0}) for p in planned
        ]
    runnable = [p for p in planned if p.frame == "batch"]
    outcomes = _validate(_batch_frame(df, obj, runnable), runnable)
    key_checks = [p for p in planned if p.frame == "keys"]
    if key_checks:
        codes, examples = _keys_frame(df, obj)
        outcomes += [
            ExpectationOutcome(
                o.name, o.severity, o.success, o.description, {**o.details, "conflicting_keys": examples}
            )
            for o in _validate(codes, key_checks)
        ]
    return outcomes


def validate_loaded_batches(
    con: duckdb.DuckDBPyConnection,
    object_name: str,
    extract_dates: Sequence[date],
    *,
    known_stages: set[str] | None = None,
) -> list[ExpectationOutcome]:
    """Convenience: read the loaded partitions and validate them with the warehouse's reference data."""
    obj = get_object(object_name)
    return validate_landing_frame(
        read_batch_frame(con, obj, extract_dates),
        obj,
        known_stages=known_stages if known_stages is not None else known_stages_from_seed(),
        known_currencies=known_currencies(con),
    )


# --------------------------------------------------------------------------------------- reject rate


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
