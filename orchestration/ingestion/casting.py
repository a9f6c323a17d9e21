"""Each staged value trimmed and cast once, in SQL; a bad cell becomes a reject with a reason.

Dates and timestamps are read in each file's detected format (:mod:`formats`); US/day-first
ambiguity is settled by the setting or another column of the file, else the batch is refused.
Amounts are exact: a value with more decimals than ``DECIMAL(18,2)`` holds is rejected (``more than
2 decimal places``), never rounded; trailing zeros (``1.500``) are fine. A connector's metadata
columns stand in for IsDeleted and the version when the file has none. Text holding a NUL byte is
rejected (it is no text: PostgreSQL cannot store it, BI tools cut at it), and so is a key or
reference longer than :data:`MAX_KEY_CHARS` (Salesforce Ids have 15 or 18 characters).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import duckdb

from orchestration.contract import (
    CONNECTOR_DELETED_COLUMNS,
    CONNECTOR_SYNC_COLUMNS,
    Field,
    LandingObject,
    header_key,
)
from orchestration.ingestion import formats
from orchestration.ingestion.batch import BatchError, SourceFile
from orchestration.ingestion.temp import FILES, STAGE, TYPED
from orchestration.sql import lit, q

#: Longest key or reference (``:id`` field, or a key column) loaded; a longer one is corruption.
MAX_KEY_CHARS = 255
_NUL_REASON = "contains a NUL byte (\\0), which is not text (a corrupt or binary value)"

#: Amounts are parsed at this precision first (16 integer digits like DECIMAL(18,2)) to see extra decimals.
_WIDE_AMOUNT = "DECIMAL(38,22)"
# The staged rows with their file. ``_line`` is the physical line of each, but NULL for the rows of a
# plain CSV file (staged straight from the reader): their line is ``rowid - line_base``.
_SOURCE = f"{STAGE} AS s JOIN {FILES} AS f ON f.file_id = s._file_id"
_SOURCE_LINE = "coalesce(s._line, s.rowid - f.line_base)"


#: Raw column -> file id -> the date format its values are read in (date and timestamp fields only).
ColumnFormats = dict[str, dict[int, formats.DateFormat]]


def _trimmed(column: str) -> str:
    return f"nullif(trim({q(column)}), '')"


def _setting_for(obj: LandingObject, fl: Field, date_formats: Mapping[str, str]) -> formats.DateFormat | None:
    text = date_formats.get(fl.name) or date_formats.get(fl.column) or date_formats.get("*")
    return formats.from_setting(text) if text else None


def detect_formats(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    files: list[SourceFile],
    date_formats: Mapping[str, str],
) -> ColumnFormats:
    """The date format of each date/timestamp column of each file (see :mod:`formats`).

    One aggregate query over the stage counts, per file and column, the values each candidate format
    parses. A column whose values US and day-first both parse to different dates takes the setting
    (``Object.Field`` or ``Object``), else the day order another column of the same file proved, else
    the batch fails with the file, column, samples and the setting.
    """
    fields = [fl for fl in obj.fields if fl.type in ("date", "timestamp")]
    by_id = {f.file_id: f for f in files if not f.empty}
    if not fields or not by_id:
        return {fl.column: {} for fl in fields}
    rows = con.execute(formats.stats_query(STAGE, [q(fl.column) for fl in fields])).fetchall()
    choices: dict[tuple[int, str], tuple[formats.Choice, formats.ColumnStats]] = {
        (file_id, fields[col].column): (formats.choose(stats), stats)
        for (file_id, col), stats in formats.stats_from_rows(rows).items()
        if stats.values
    }
    # Day order proved by a column where exactly one of US / day-first parses every value.
    proved: dict[int, set[formats.DateFormat]] = {}
    for (file_id, _), (choice, stats) in choices.items():
        if choice.complete and not choice.ambiguous and choice.format in (formats.US, formats.DAY_FIRST):
            other = formats.DAY_FIRST if choice.format is formats.US else formats.US
            if stats.parsed.get(other.name, 0) < stats.values:
                proved.setdefault(file_id, set()).add(choice.format)
    result: ColumnFormats = {fl.column: {} for fl in fields}
    for (file_id, column), (choice, stats) in sorted(choices.items()):
        fl = obj.field(column)
        fmt = choice.format
        if choice.ambiguous:
            setting = _setting_for(obj, fl, date_formats)
            in_file = proved.get(file_id, set())
            best = max(stats.parsed.get(formats.US.name, 0), stats.parsed.get(formats.DAY_FIRST.name, 0))
            if setting is not None and stats.parsed.get(setting.name, 0) == best:
                fmt = setting
            elif len(in_file) == 1:
                fmt = next(iter(in_file))
            else:
                _raise_ambiguous(con, obj, fl, by_id[file_id])
        result[column][file_id] = fmt
    return result


def _raise_ambiguous(con: duckdb.DuckDBPyConnection, obj: LandingObject, fl: Field, f: SourceFile) -> None:
    samples = [
        r[0]
        for r in con.execute(
            f"""SELECT DISTINCT {_trimmed(fl.column)} AS v FROM {STAGE}
                WHERE _file_id = ? AND v IS NOT NULL ORDER BY v LIMIT 5""",
            [f.file_id],
        ).fetchall()
    ]
    header = f.headers[f.targets.index(fl.column)] if fl.column in f.targets else fl.name
    raise BatchError(
        f"{f.path}: column {header!r} ({obj.name}.{fl.name}) is ambiguous: every value reads both as "
        f"MM/DD/YYYY and as DD/MM/YYYY, with different dates (e.g. {', '.join(samples)}), and no other "
        f"column of the file tells the day order. Set SALES_WH_DATE_FORMATS={obj.name}.{fl.name}=MDY "
        f"(or DMY; or {obj.name}=MDY for every date of the object) and run again",
        file=f.rel,
        extract_date=f.extract_date,
        column=fl.column,
    )


def _per_file(fmts: Mapping[int, formats.DateFormat], sql: Callable[[formats.DateFormat], str]) -> str:
    """SQL choosing ``sql(format)`` by the row's ``_file_id`` (one branch when all files agree)."""
    order = sorted(set(fmts.values()), key=formats.DATE_FORMATS.index) or [formats.ISO]
    if len(order) == 1:
        return sql(order[0])
    whens = " ".join(
        f"WHEN _file_id IN ({', '.join(str(i) for i, f in fmts.items() if f is fmt)}) THEN {sql(fmt)}"
        for fmt in order[:-1]
    )
    return f"CASE {whens} ELSE {sql(order[-1])} END"


def _cast_sql(fl: Field, v: str, fmts: Mapping[int, formats.DateFormat] | None = None) -> str | None:
    """SQL parsing text ``v`` into the field's type (NULL when it does not parse); None for text.

    Dates and timestamps are read in each file's detected format (``fmts``, by ``_file_id``)."""
    t = v  # callers pass trimmed, non-empty text
    if fl.type in ("id", "string"):
        return None
    if fl.type in ("timestamp", "date"):
        ts = _per_file(fmts or {}, lambda fmt: fmt.parse_sql(t))
        return ts if fl.type == "timestamp" else f"CAST({ts} AS DATE)"
    if fl.type == "boolean":
        return formats.boolean_sql(t)
    if fl.type == "integer":
        # try_cast to BIGINT rounds '5.5'; only whole numbers ('5', '5.0') are integers.
        return f"CASE WHEN try_cast({t} AS DOUBLE) % 1 = 0 THEN try_cast({t} AS BIGINT) END"
    if fl.type in ("number", "rate"):
        return f"CASE WHEN isfinite(try_cast({t} AS DOUBLE)) THEN try_cast({t} AS DOUBLE) END"
    if fl.type == "amount":
        # try_cast to DECIMAL(18,2) rounds '1.005' to 1.01: cast wider (same 16 integer digits) and keep
        # only values that are exact at 2 decimals.
        wide = f"try_cast({t} AS {_WIDE_AMOUNT})"
        return f"CASE WHEN {wide} = round({wide}, 2) THEN CAST({wide} AS DECIMAL(18,2)) END"
    raise ValueError(f"unknown field type {fl.type!r}")


def _reason_sql(fl: Field, v: str, fmts: Mapping[int, formats.DateFormat] | None = None) -> str:
    """SQL giving the reject reason of text ``v`` that did not cast."""
    if fl.type in ("date", "timestamp"):
        kind = "a date" if fl.type == "date" else "a date or timestamp"
        return _per_file(
            fmts or {}, lambda fmt: lit(f"not {kind} in this file's format of the column ({fmt.label})")
        )
    reason = lit(_reason(fl))
    if fl.type == "amount":
        exact_too_long = f"try_cast({v} AS {_WIDE_AMOUNT}) IS NOT NULL"
        return f"CASE WHEN {exact_too_long} THEN 'more than 2 decimal places' ELSE {reason} END"
    return reason


def _reason(fl: Field) -> str:
    return {
        "boolean": "not a boolean (true/false, 1/0, yes/no)",
        "integer": "not a whole number",
        "number": "not a number",
        "rate": "not a number",
        "amount": "not an amount (a number, at most 16 digits before the decimal point)",
    }[fl.type]


def is_empty(v: str) -> str:
    return f"({v} IS NULL OR trim({v}) = '')"


def _has_nul(v: str) -> str:
    return f"coalesce(contains({v}, chr(0)), false)"


def _too_long(obj: LandingObject, fl: Field, v: str) -> str | None:
    """SQL: the key or reference ``v`` is longer than :data:`MAX_KEY_CHARS` (None for other fields).
    ``strlen`` (bytes, no scan) first: only a long value has its characters counted."""
    if fl.type != "id" and fl.name not in obj.key:
        return None
    return f"coalesce(strlen({v}) > {MAX_KEY_CHARS} AND length({v}) > {MAX_KEY_CHARS}, false)"


def _too_long_reason(fl: Field) -> str:
    return f"longer than {MAX_KEY_CHARS} characters: no {fl.name} is (a corrupt value?)"


def connector_overrides(obj: LandingObject, extras: Sequence[str]) -> dict[str, str]:
    """Raw column -> SQL over the typed row (``__t*`` names resolved by the caller) for what a
    connector's metadata columns stand for: its deleted flag counts as IsDeleted, its sync timestamp
    is the version when the file has no SystemModstamp."""
    out: dict[str, str] = {}
    columns = {f.column for f in obj.fields}
    deleted = [
        (c, CONNECTOR_DELETED_COLUMNS[header_key(c)])
        for c in extras
        if header_key(c) in CONNECTOR_DELETED_COLUMNS
    ]
    if deleted and "is_deleted" in columns:
        flags = [
            f"coalesce({formats.boolean_sql(_trimmed(c))}, false)"
            if kind == "boolean"
            else f"{_trimmed(c)} IS NOT NULL"
            for c, kind in deleted
        ]
        out["is_deleted"] = f"CASE WHEN {' OR '.join(flags)} THEN true ELSE {{value}} END"
    synced = [c for c in extras if header_key(c) in CONNECTOR_SYNC_COLUMNS]
    if synced and obj.version_field == "SystemModstamp":
        parsed = ", ".join(formats.ISO.parse_sql(_trimmed(c)) for c in synced)
        out["system_modstamp"] = f"coalesce({{value}}, {parsed})"
    return out


def build_typed(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    extras: list[str],
    fmts: ColumnFormats,
    *,
    check_nul: bool = True,
) -> None:
    """``_load_typed``: each staged row cast once, with its batch, file, line and ``_ok`` (no bad cell).

    Three levels so each value is trimmed once and cast once: text -> trimmed -> typed -> verdict.
    Text values are checked for NUL bytes only when a file may hold one (``check_nul``).
    """
    overrides = connector_overrides(obj, extras)
    trimmed, casts, outputs, checks = [], [], [], []
    for i, fl in enumerate(obj.fields):
        raw = f"s.{q(fl.column)}"
        cast = _cast_sql(fl, f"__v{i}", fmts.get(fl.column))
        if cast is None:
            outputs.append(f"{q(fl.column)}")
            if fl.required:
                checks.append(f"NOT {is_empty(q(fl.column))}")
            if check_nul:
                checks.append(f"NOT {_has_nul(q(fl.column))}")
            if (long := _too_long(obj, fl, q(fl.column))) is not None:
                checks.append(f"NOT {long}")
            continue
        trimmed.append(f"nullif(trim({raw}), '') AS __v{i}")
        casts.append(f"{cast} AS __t{i}")
        value = overrides.get(fl.column, "{value}").replace("{value}", f"__t{i}")
        outputs.append(f"{value} AS {q(fl.column)}")
        checks.append(f"(__v{i} IS NOT NULL OR NOT {str(fl.required).lower()})")
        checks.append(f"(__v{i} IS NULL OR __t{i} IS NOT NULL)")
    if check_nul:
        checks.extend(f"NOT {_has_nul(q(c))}" for c in extras)
    ok = " AND ".join(checks) or "true"
    extra_cols = "".join(f", {q(c)}" for c in extras)
    level1 = (
        f"SELECT s.rowid AS _rid, f.extract_date AS _extract_date, f.rel AS _rel, {_SOURCE_LINE} AS _line, "
        f"s.* EXCLUDE (_line), {', '.join(trimmed) or 'NULL AS __none'} FROM {_SOURCE}"
    )
    level2 = f"SELECT *, {', '.join(casts) or 'NULL AS __none2'} FROM ({level1})"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {TYPED} AS
            SELECT _rid, _extract_date, _rel, _line, {", ".join(outputs)}{extra_cols}, {ok} AS _ok
            FROM ({level2})"""
    )


def cell_rejects_sql(obj: LandingObject, fmts: ColumnFormats, extras: Sequence[str] = ()) -> str:
    """One reject row per bad cell; the per-column checks run only over the rows that failed (few)."""
    parts = []
    for fl in obj.fields:
        v = f"s.{q(fl.column)}"
        if fl.required:
            parts.append(
                f"SELECT s._d, s._rel, s._ln, {lit(fl.column)} AS column_name, {v} AS value, "
                f"'key field is empty' AS reason FROM bad AS s WHERE {is_empty(v)}"
            )
        trimmed = f"nullif(trim({v}), '')"
        cast = _cast_sql(fl, trimmed, fmts.get(fl.column))
        if cast is None:
            parts.append(
                f"SELECT s._d, s._rel, s._ln, {lit(fl.column)}, replace({v}, chr(0), '\\0'), "
                f"{lit(_NUL_REASON)} FROM bad AS s WHERE {_has_nul(v)}"
            )
            if (long := _too_long(obj, fl, v)) is not None:
                parts.append(
                    f"SELECT s._d, s._rel, s._ln, {lit(fl.column)}, left({v}, 100) || '...', "
                    f"{lit(_too_long_reason(fl))} || ' (' || length({v}) || ' characters)' "
                    f"FROM bad AS s WHERE {long}"
                )
        if cast:
            parts.append(
                f"SELECT s._d, s._rel, s._ln, {lit(fl.column)}, {v}, "
                f"{_reason_sql(fl, trimmed, fmts.get(fl.column))} "
                f"FROM bad AS s WHERE NOT {is_empty(v)} AND ({cast}) IS NULL"
            )
    for c in extras:
        v = f"s.{q(c)}"
        parts.append(
            f"SELECT s._d, s._rel, s._ln, {lit(c)}, replace({v}, chr(0), '\\0'), {lit(_NUL_REASON)} "
            f"FROM bad AS s WHERE {_has_nul(v)}"
        )
    return (
        f"WITH bad AS MATERIALIZED (SELECT s.*, t._extract_date AS _d, t._rel, t._line AS _ln "
        f"FROM {STAGE} AS s JOIN {TYPED} AS t ON t._rid = s.rowid WHERE NOT t._ok) "
        + " UNION ALL ".join(parts)
    )
