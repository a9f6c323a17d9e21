"""Landing expectations on landed batches, with two engines for one plan.

:func:`_plan` is the one definition of the expectations of an object (Great Expectations class names and
arguments). Two engines judge it and return the same :class:`ExpectationOutcome` list (names,
severities, verdicts, details) for the same rows:

- ``great_expectations`` (small batches: the daily batch, the demo): GX on pandas frames read from
  DuckDB (GX's SQL datasource does not work on DuckDB): an ephemeral GX context with a pandas
  datasource, one dataframe asset and a whole-dataframe batch definition, created once per process;
- ``sql`` (batches of more than ``SALES_WH_GX_MAX_ROWS`` rows, e.g. a one-run backfill): aggregate
  queries inside DuckDB over ``raw.<table>`` (one scan for the column checks, a GROUP BY of the
  duplicate keys per chunk of extract dates, and a LIMIT 20 query per failed check for its examples).
  Nothing is read into pandas, so memory does not grow with the batch.

:func:`validate_landing` picks the engine by the number of rows. Each expectation becomes an
:class:`ExpectationOutcome` with the severity the pipeline acts on: ``error`` blocks everything
downstream, ``warn`` is reported only; ``details["engine"]`` names the engine that judged it.

The expectations see only the rows that loaded, so a batch whose rows were all rejected would pass
them all: :func:`reject_rate_outcome` checks the loader's counts (rejected / source rows per batch).
"""

from __future__ import annotations

import csv
import functools
import logging
import math
from collections.abc import Mapping, Sequence
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
from orchestration.sql import lit, q

Severity = Literal["error", "warn"]
Engine = Literal["great_expectations", "sql"]
GX_ENGINE: Engine = "great_expectations"
SQL_ENGINE: Engine = "sql"

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
#: Examples of unexpected values an outcome carries (GX's ``partial_unexpected_count``).
PARTIAL_UNEXPECTED = 20


@dataclass(frozen=True)
class ExpectationOutcome:
    name: str
    severity: Severity
    success: bool
    description: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Planned:
    """An expectation to run on the batch, or on its de-duplicated keys (``frame="keys"``).

    ``expectation`` is a class name of ``great_expectations.expectations`` and ``kwargs`` its arguments:
    GX builds the expectation from them (:meth:`gx`), the SQL engine derives its queries from them.
    """

    name: str
    severity: Severity
    description: str
    expectation: str
    kwargs: dict[str, Any]
    frame: Literal["batch", "keys"] = "batch"

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def key_columns(self) -> list[str]:
        """Columns of a uniqueness expectation."""
        return list(self.kwargs.get("column_list") or [self.kwargs["column"]])

    def gx(self) -> Any:
        """The GX expectation, tagged with the check name (GX returns results in its own order)."""
        import great_expectations.expectations as gxe

        return getattr(gxe, self.expectation)(**self.kwargs, meta={"landing_check": self.name})


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
    # Key columns present and filled, and values of the field's type, are the loader's rules: a file
    # without its key column is a batch error, a row with an empty key or a bad value is a reject.
    # They are not checked again here.
    plan: list[_Planned] = []
    dup_columns = _duplicate_key_columns(obj, columns)
    if dup_columns:
        unique = (
            ("ExpectCompoundColumnsToBeUnique", {"column_list": dup_columns, "ignore_row_if": "never"})
            if len(dup_columns) > 1
            else ("ExpectColumnValuesToBeUnique", {"column": dup_columns[0]})
        )
        plan.append(
            _Planned(
                "no_conflicting_duplicates",
                "error",
                f"no two rows of one batch share {', '.join(dup_columns)} with different content "
                "(exact repeats are harmless)",
                *unique,
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
                _Planned(
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
                _Planned(
                    f"{f.column}_not_after_today_plus_{FUTURE_YEARS}y",
                    "warn",
                    f"{f.column} is not after {latest:%Y-%m-%d}",
                    "ExpectColumnMaxToBeBetween",
                    {"column": f.column, "max_value": latest},
                )
            )

    if "currency_iso_code" in columns:
        plan.append(
            _Planned(
                "currency_known",
                "error",
                f"currency_iso_code is one of {', '.join(sorted(known_currencies))}",
                "ExpectColumnValuesToBeInSet",
                {"column": "currency_iso_code", "value_set": sorted(known_currencies)},
            )
        )
    # Stage names outside the seeds are not a landing check: the org's own stages may come with the
    # OpportunityStage object, and dbt's core.dq_unmapped_values counts what stays unmapped (one rule,
    # one place). ``known_stages`` is kept in the signatures for callers; it no longer plans anything.
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
    """Details as JSON: numpy scalars as Python numbers, missing values (NaN, NaT, NULL) as None,
    timestamps as text (``2025-01-02 10:00:00``), so both engines report a value the same way."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.bool_ | np.integer | np.floating):
        value = value.item()
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


_DETAIL_KEYS = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "partial_unexpected_list",
    "observed_value",
)


def _frame_columns(planned: Sequence[_Planned]) -> list[str]:
    """Columns of the batch frame GX validates: those a batch expectation reads."""
    return sorted({p.column for p in planned if p.frame == "batch" and p.column})


def _validate(frame: pd.DataFrame, planned: list[_Planned]) -> list[ExpectationOutcome]:
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
        details = {k: _json_safe(v) for k, v in (r.result or {}).items() if k in _DETAIL_KEYS}
        if r.exception_info and r.exception_info.get("raised_exception"):
            details["exception"] = str(r.exception_info.get("exception_message"))
        details["engine"] = GX_ENGINE
        outcomes.append(ExpectationOutcome(p.name, p.severity, bool(r.success), p.description, details))
    return outcomes


def _batch_frame(df: pd.DataFrame, obj: LandingObject, planned: list[_Planned]) -> pd.DataFrame:
    """The columns the batch expectations read, with dates as datetimes and amounts as floats."""
    # GX fingerprints every batch by hashing the whole frame, and hashing 1M strings costs seconds, so
    # text columns go in cheaply: as categories where a value set is checked, and as a null marker
    # where only emptiness is (the unexpected values of a not-null check are nulls either way).
    set_checked = {p.column for p in planned if p.expectation == "ExpectColumnValuesToBeInSet"}
    frame = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for c in _frame_columns(planned):
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


def _keys_frame(
    df: pd.DataFrame, obj: LandingObject
) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, Any]]:
    """Key and version (as integer codes) of each distinct row content, examples of conflicts, and the
    values of the codes (to report GX's unexpected rows as keys).

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
    conflicts = distinct[distinct.duplicated(keep="first")].head(PARTIAL_UNEXPECTED)
    factorized = {c: pd.factorize(distinct[c], use_na_sentinel=True) for c in distinct.columns}
    codes = pd.DataFrame({c: f[0] for c, f in factorized.items()})
    values = {c: f[1] for c, f in factorized.items()}
    return codes, [_json_safe(r) for r in conflicts.to_dict("records")], values


def _decode_keys(examples: list[Any], values: dict[str, Any], columns: list[str]) -> list[Any]:
    """GX's unexpected rows of the key codes as key values (a dict per row, or a value for one column)."""

    def value(column: str, code: Any) -> Any:
        return _json_safe(values[column][code]) if isinstance(code, int) and code >= 0 else None

    return [
        {c: value(c, e.get(c)) for c in columns} if isinstance(e, dict) else value(columns[0], e)
        for e in examples
    ]


def _empty_outcomes(planned: Sequence[_Planned], engine: Engine) -> list[ExpectationOutcome]:
    """Nothing landed: every expectation passes without running."""
    return [
        ExpectationOutcome(p.name, p.severity, True, p.description, {"element_count": 0, "engine": engine})
        for p in planned
    ]


def validate_landing_frame(
    df: pd.DataFrame,
    obj: LandingObject,
    *,
    known_stages: set[str],
    known_currencies: set[str],
) -> list[ExpectationOutcome]:
    """Run the landing expectations of ``obj`` on ``df`` (contract columns, snake_case) with GX.

    An empty frame means nothing landed: every expectation passes without running.
    """
    filled = {c for c in df.columns if df[c].notna().any()}
    planned = _plan(obj, set(df.columns), filled, known_stages, known_currencies)
    if df.empty:
        return _empty_outcomes(planned, GX_ENGINE)
    runnable = [p for p in planned if p.frame == "batch"]
    outcomes = _validate(_batch_frame(df, obj, runnable), runnable)
    key_checks = [p for p in planned if p.frame == "keys"]
    if key_checks:
        codes, examples, values = _keys_frame(df, obj)
        for o, p in zip(_validate(codes, key_checks), key_checks, strict=True):
            details = dict(o.details)
            if "partial_unexpected_list" in details:
                details["partial_unexpected_list"] = _decode_keys(
                    details["partial_unexpected_list"], values, p.key_columns
                )
            details["conflicting_keys"] = examples
            outcomes.append(ExpectationOutcome(o.name, o.severity, o.success, o.description, details))
    return outcomes


# ------------------------------------------------------------------------------------------ SQL engine

#: Largest number of rows whose duplicate keys one GROUP BY of the SQL engine compares (whole extract
#: dates; the key includes the extract date, so the chunks change no verdict).
KEY_CHUNK_ROWS = 1_000_000


def date_chunks(rows_per_date: Mapping[date, int], max_rows: int) -> list[list[date]]:
    """Consecutive extract dates grouped so that each group holds at most ``max_rows`` rows (a single
    date larger than that is a group of its own)."""
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


#: Rows of the batch (``$dates``: its extract dates); ``_in_dates("t")`` for a table aliased ``t``.
_IN_DATES = "_extract_date IN (SELECT unnest(CAST($dates AS DATE[])))"


def _in_dates(alias: str) -> str:
    return f"{alias}.{_IN_DATES}"


_ROW_CHECKS = (
    "ExpectColumnValuesToNotBeNull",
    "ExpectColumnValuesToBeBetween",
    "ExpectColumnValuesToBeInSet",
)
_AGGREGATES = {"ExpectColumnMinToBeBetween": "min", "ExpectColumnMaxToBeBetween": "max"}
_UNIQUE_CHECKS = ("ExpectCompoundColumnsToBeUnique", "ExpectColumnValuesToBeUnique")


def _table_columns(con: duckdb.DuckDBPyConnection, obj: LandingObject) -> set[str]:
    """Contract columns (and ``_extract_date``) of ``raw.<table>``: the columns of its batch frame."""
    rows = con.execute(
        """SELECT column_name FROM information_schema.columns
           WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?""",
        [RAW_SCHEMA, obj.table],
    ).fetchall()
    return {r[0] for r in rows} & {*obj.columns, "_extract_date"}


def _column_type(obj: LandingObject, column: str) -> str:
    return "date" if column == "_extract_date" else obj.field(column).type


def _value_sql(obj: LandingObject, column: str, alias: str = "") -> str:
    """``column`` as the batch frame holds it: dates as timestamps, amounts as floats."""
    typ, ref = _column_type(obj, column), f"{alias}.{q(column)}" if alias else q(column)
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


def _unexpected_sql(p: _Planned) -> str:
    """SQL condition of a row the row-wise expectation ``p`` does not expect (NULL: not unexpected)."""
    c, kw = q(p.column), p.kwargs
    if p.expectation == "ExpectColumnValuesToNotBeNull":
        return f"{c} IS NULL"  # counted as count(*) - count(c)
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


def _metrics_sql(obj: LandingObject, p: _Planned) -> dict[str, str]:
    """Aggregates over the batch that judge ``p`` (all of them go in one scan)."""
    if p.expectation == "ExpectColumnValuesToNotBeNull":
        return {"nonnull": f"count({q(p.column)})"}
    if p.expectation in _ROW_CHECKS:
        return {
            "nonnull": f"count({q(p.column)})",
            "unexpected": f"count(*) FILTER (WHERE {_unexpected_sql(p)})",
        }
    if p.expectation in _AGGREGATES:
        return {"observed": f"{_AGGREGATES[p.expectation]}({_value_sql(obj, p.column)})"}
    if p.expectation == "ExpectTableColumnsToMatchSet" or p.expectation in _UNIQUE_CHECKS:
        return {}  # the columns are known from the schema; duplicates take their own GROUP BY
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
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    p: _Planned,
    dates: list[date],
    metrics: dict[str, Any],
    frame_columns: list[str],
) -> ExpectationOutcome:
    kw, rows = p.kwargs, metrics["rows"]
    details: dict[str, Any]
    if p.expectation == "ExpectTableColumnsToMatchSet":
        present, wanted = set(frame_columns), set(kw["column_set"])
        success = wanted == present if kw.get("exact_match") else wanted <= present
        details = {"observed_value": frame_columns}
    elif p.expectation in _AGGREGATES:
        observed = metrics[f"{p.name}:observed"]
        success = _between(observed, kw)
        details = {"observed_value": _json_safe(observed)}
    else:  # a row-wise check
        nonnull = metrics[f"{p.name}:nonnull"]
        if p.expectation == "ExpectColumnValuesToNotBeNull":  # GX: share of all rows
            unexpected = rows - nonnull
            percent: float | None = unexpected / rows * 100
            examples: list[Any] = [None] * min(unexpected, PARTIAL_UNEXPECTED)
        else:  # GX: share of the non-null rows
            unexpected = metrics[f"{p.name}:unexpected"]
            percent = unexpected / nonnull * 100 if nonnull else None
            examples = []
            if unexpected:  # the first unexpected values in the batch's row order, as GX lists them
                examples = [
                    _json_safe(r[0])
                    for r in con.execute(
                        f"SELECT {_value_sql(obj, p.column)} FROM {RAW_SCHEMA}.{q(obj.table)} "
                        f"WHERE {_IN_DATES} AND {_unexpected_sql(p)} LIMIT {PARTIAL_UNEXPECTED}",
                        {"dates": dates},
                    ).fetchall()
                ]
        success = unexpected == 0
        details = {
            "element_count": rows,
            "unexpected_count": unexpected,
            "unexpected_percent": percent,
            "partial_unexpected_list": examples,
        }
    return ExpectationOutcome(p.name, p.severity, success, p.description, {**details, "engine": SQL_ENGINE})


def _sql_keys_outcome(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, p: _Planned, columns: set[str], dates: list[date]
) -> ExpectationOutcome:
    """``no_conflicting_duplicates`` in SQL: key+version groups whose rows differ in content.

    GX counts the distinct (key, content) rows of the batch, and among them the rows whose key repeats.
    A key group with one content has ``min(hash) = max(hash)``, so one GROUP BY judges the batch; only
    conflicting groups are counted row by row and listed (in order of first appearance, as in GX).
    The key includes the extract date, so the GROUP BY runs per chunk of whole extract dates of at
    most ``KEY_CHUNK_ROWS`` rows: its hash table (one entry per key) stays small in a long backfill.
    """
    if p.expectation not in _UNIQUE_CHECKS:
        raise NotImplementedError(f"landing check {p.name}: no SQL for {p.expectation}")
    keys = p.key_columns
    content = [c for c in obj.columns if c in columns and c not in keys]
    row_hash = f"hash({', '.join(q(c) for c in content)})" if content else "0"
    key_list = ", ".join(q(c) for c in keys)
    table = f"{RAW_SCHEMA}.{q(obj.table)}"
    chunks = [dates]
    if "_extract_date" in keys and len(dates) > 1:
        per_date = con.execute(
            f"SELECT _extract_date, count(*) FROM {table} WHERE {_IN_DATES} GROUP BY 1", {"dates": dates}
        ).fetchall()
        chunks = date_chunks(dict(per_date), KEY_CHUNK_ROWS) or chunks
    clean, conflicting_dates = 0, []
    for chunk in chunks:
        chunk_clean, conflicting = con.execute(
            f"""SELECT count(*) FILTER (WHERE lo = hi), count(*) FILTER (WHERE lo <> hi)
                FROM (SELECT min({row_hash}) AS lo, max({row_hash}) AS hi
                      FROM {table} WHERE {_IN_DATES} GROUP BY {key_list})""",
            {"dates": chunk},
        ).fetchone()
        clean += chunk_clean
        conflicting_dates += chunk if conflicting else []
    unexpected, examples, conflicts = 0, [], []
    if conflicting_dates:  # rare: list the conflicts of the dates that have some
        # Every distinct (key, content) row of the conflicting groups, in order of first appearance.
        t_keys = ", ".join(f"t.{q(c)}" for c in keys)
        t_hash = f"hash({', '.join(f't.{q(c)}' for c in content)})" if content else "0"
        matches = " AND ".join(f"t.{q(c)} IS NOT DISTINCT FROM g.{q(c)}" for c in keys)
        values = ", ".join(f"{_value_sql(obj, c, 't')} AS {q(c)}" for c in keys)
        rows = con.execute(
            f"""WITH g AS (
                    SELECT {key_list} FROM {table} WHERE {_IN_DATES}
                    GROUP BY {key_list} HAVING min({row_hash}) <> max({row_hash})
                ),
                d AS (
                    SELECT {values}, min(t.rowid) AS _first
                    FROM {table} AS t SEMI JOIN g ON {matches}
                    WHERE {_in_dates("t")} GROUP BY {t_keys}, {t_hash}
                ),
                r AS (SELECT *, row_number() OVER (PARTITION BY {key_list} ORDER BY _first) AS _rn FROM d)
            SELECT {key_list}, _rn, count(*) OVER () AS _n FROM r
            QUALIFY row_number() OVER (ORDER BY _first) <= $n
                OR (_rn > 1 AND row_number() OVER (PARTITION BY _rn > 1 ORDER BY _first) <= $n)
            ORDER BY _first""",
            {"dates": conflicting_dates, "n": PARTIAL_UNEXPECTED},
        ).fetchall()
        unexpected = rows[0][-1]
        records = [_json_safe(dict(zip(keys, r[: len(keys)], strict=True))) for r in rows]
        examples = records[:PARTIAL_UNEXPECTED]
        if p.expectation == "ExpectColumnValuesToBeUnique":
            examples = [e[keys[0]] for e in examples]
        conflicts = [e for e, r in zip(records, rows, strict=True) if r[len(keys)] > 1][:PARTIAL_UNEXPECTED]
    element_count = clean + unexpected
    details = {
        "element_count": element_count,
        "unexpected_count": unexpected,
        "unexpected_percent": unexpected / element_count * 100,
        "partial_unexpected_list": examples,
        "engine": SQL_ENGINE,
        "conflicting_keys": conflicts,
    }
    return ExpectationOutcome(p.name, p.severity, unexpected == 0, p.description, details)


def validate_landing_sql(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    extract_dates: Sequence[date],
    *,
    known_stages: set[str],
    known_currencies: set[str],
) -> list[ExpectationOutcome]:
    """The outcomes :func:`validate_landing_frame` gives for the loaded rows of ``obj`` on
    ``extract_dates``, computed in DuckDB: one scan for every column check, a GROUP BY of the keys per
    chunk of extract dates, and a small query per failed check for its examples. Nothing is read into
    pandas.
    """
    dates = sorted(set(extract_dates))
    columns = _table_columns(con, obj)
    date_columns = [f.column for f in obj.fields if f.type in ("date", "timestamp") and f.column in columns]
    # Which date columns have a value decides which date checks run: measure every candidate check of
    # the plan (as if all were filled) in the same scan, then plan for real.
    candidates = _plan(obj, columns, set(columns), known_stages, known_currencies)
    select = {"rows": "count(*)"} | {f"filled:{c}": f"count({q(c)})" for c in date_columns}
    for p in candidates:
        select |= {f"{p.name}:{k}": sql for k, sql in _metrics_sql(obj, p).items()}
    values = con.execute(
        f"SELECT {', '.join(f'{sql} AS {q(k)}' for k, sql in select.items())} "
        f"FROM {RAW_SCHEMA}.{q(obj.table)} WHERE {_IN_DATES}",
        {"dates": dates},
    ).fetchone()
    metrics: dict[str, Any] = dict(zip(select, values, strict=True))
    rows = metrics["rows"]
    filled = {c for c in date_columns if metrics[f"filled:{c}"]}
    planned = _plan(obj, columns, filled, known_stages, known_currencies)
    if not rows:
        return _empty_outcomes(planned, SQL_ENGINE)
    runnable = [p for p in planned if p.frame == "batch"]
    frame_columns = _frame_columns(runnable)
    outcomes = [_sql_outcome(con, obj, p, dates, metrics, frame_columns) for p in runnable]
    outcomes += [_sql_keys_outcome(con, obj, p, columns, dates) for p in planned if p.frame == "keys"]
    return outcomes


# ------------------------------------------------------------------------------------- entry point


def landing_engine(rows: int, gx_max_rows: int | None = None) -> Engine:
    """Great Expectations for a batch of at most ``gx_max_rows`` rows (default: ``SALES_WH_GX_MAX_ROWS``),
    SQL inside DuckDB for a larger one."""
    limit = Settings.from_env().gx_max_rows if gx_max_rows is None else gx_max_rows
    return GX_ENGINE if rows <= limit else SQL_ENGINE


def count_batch_rows(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, extract_dates: Sequence[date]
) -> int:
    return con.execute(
        f"SELECT count(*) FROM {RAW_SCHEMA}.{q(obj.table)} WHERE {_IN_DATES}",
        {"dates": sorted(set(extract_dates))},
    ).fetchone()[0]


def validate_landing(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    extract_dates: Sequence[date],
    *,
    known_stages: set[str],
    known_currencies: set[str],
    engine: Engine | None = None,
    gx_max_rows: int | None = None,
) -> list[ExpectationOutcome]:
    """The landing expectations of the loaded rows of ``obj`` on ``extract_dates``, judged by ``engine``
    (default: by the number of rows, see :func:`landing_engine`)."""
    if engine is None:
        engine = landing_engine(count_batch_rows(con, obj, extract_dates), gx_max_rows)
    if engine == SQL_ENGINE:
        return validate_landing_sql(
            con, obj, extract_dates, known_stages=known_stages, known_currencies=known_currencies
        )
    if engine != GX_ENGINE:
        raise ValueError(f"unknown landing check engine {engine!r}")
    return validate_landing_frame(
        read_batch_frame(con, obj, extract_dates),
        obj,
        known_stages=known_stages,
        known_currencies=known_currencies,
    )


def validate_loaded_batches(
    con: duckdb.DuckDBPyConnection,
    object_name: str,
    extract_dates: Sequence[date],
    *,
    known_stages: set[str] | None = None,
    engine: Engine | None = None,
) -> list[ExpectationOutcome]:
    """Convenience: validate the loaded partitions with the warehouse's reference data."""
    return validate_landing(
        con,
        get_object(object_name),
        extract_dates,
        known_stages=known_stages if known_stages is not None else known_stages_from_seed(),
        known_currencies=known_currencies(con),
        engine=engine,
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
