"""Load landing batches (one folder per object and extract date) into the ``raw`` schema.

Every batch goes through one path, whatever its file format:

1. each file's header is matched to the contract (``contract.header_key``); a missing required column,
   an unsupported file or an unreadable file fails the whole call (:class:`BatchError`);
2. all files of one format and header are read with ONE DuckDB reader call, every value as text, into
   a staging table that keeps the file and the physical line each record starts on;
3. each value is trimmed and cast once in SQL (``TRY_CAST`` / ``try_strptime``); good rows go to the raw
   table, each bad cell of a bad row (unparseable, or an empty required field) to ``raw._rejects``;
   rows sharing key and version with different content are then moved from raw to the rejects;
4. all of it replaces the requested partitions (rows, rejects, audit) in one transaction, and
   ``source rows = loaded + rejected`` is checked per batch before committing.

No Python loop touches data rows; Python only handles file names and headers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from orchestration.contract import (
    LINEAGE_COLUMNS,
    LOAD_AUDIT_TABLE,
    OBJECTS,
    RAW_SCHEMA,
    REJECTS_TABLE,
    Field,
    LandingObject,
    header_key,
    snake_case,
)

#: File suffix -> reader. Files starting with ``.`` or ``_`` (``.DS_Store``, Spark's ``_SUCCESS``) are
#: not data and are skipped.
FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}
ISO_DATE_FORMAT = "%Y-%m-%d"

REJECTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{REJECTS_TABLE} (
    object VARCHAR, extract_date DATE, source_file VARCHAR, source_line BIGINT,
    column_name VARCHAR, value VARCHAR, reason VARCHAR, loaded_at TIMESTAMP
)"""
AUDIT_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{LOAD_AUDIT_TABLE} (
    object VARCHAR, extract_date DATE, source_files BIGINT, source_rows BIGINT,
    loaded_rows BIGINT, rejected_rows BIGINT, loaded_at TIMESTAMP
)"""

# Temporary tables of one load (per connection, dropped at the end).
_FILES = "_load_files"
_READ = "_load_read"
_STAGE = "_load_stage"
_OFFSETS = "_load_line_offsets"
_TYPED = "_load_typed"
_DUPS = "_load_duplicates"
# The staged rows with their file and line offset, and the physical line of each.
_SOURCE = (
    f"{_STAGE} AS s JOIN {_FILES} AS f ON f.file_id = s._file_id "
    f"LEFT JOIN {_OFFSETS} AS o ON o._file_id = s._file_id"
)
_LINE = "s._line + coalesce(o.line_offset, 0)"
_IN_DATES = "IN (SELECT unnest(CAST($dates AS DATE[])))"


class BatchError(Exception):
    """A batch that is wrong as a whole; the message names the file and the problem."""


@dataclass(frozen=True)
class BatchResult:
    object: str
    extract_date: date
    files: tuple[str, ...]
    source_rows: int
    loaded_rows: int
    rejected_rows: int
    found: bool
    #: False when ``before_commit`` refused the load and it was rolled back (the counts say what it held).
    committed: bool = True


@dataclass
class _SourceFile:
    file_id: int
    path: Path
    rel: str  # path relative to the landing folder, as stored in _source_file and rejects
    extract_date: date
    fmt: str
    headers: tuple[str, ...] = ()
    types: tuple[str, ...] = ()  # parquet only: DuckDB type of each column
    header_lines: int = 1  # csv only: physical lines taken by the header
    empty: bool = False  # a zero-byte file: no header, no rows


@dataclass
class _Group:
    """Files of one format with the same columns: read with one reader call."""

    fmt: str
    headers: tuple[str, ...]
    types: tuple[str, ...]
    targets: tuple[str, ...]  # raw column of each source column
    files: list[_SourceFile] = field(default_factory=list)


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """An SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def raw_table(obj: LandingObject) -> str:
    return f"{RAW_SCHEMA}.{q(obj.table)}"


# --------------------------------------------------------------------------------------------- schema


def _existing_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        """SELECT column_name FROM information_schema.columns
           WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?
           ORDER BY ordinal_position""",
        [RAW_SCHEMA, table],
    ).fetchall()
    return [r[0] for r in rows]


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema ``raw``, every contract table (empty), ``raw._rejects`` and ``raw._load_audit``.

    Contract columns added to the contract after a table was created are added to it, so an older
    warehouse keeps loading.
    """
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    for obj in OBJECTS:
        columns = {**obj.columns, **LINEAGE_COLUMNS}
        ddl = ", ".join(f"{q(c)} {t}" for c, t in columns.items())
        con.execute(f"CREATE TABLE IF NOT EXISTS {raw_table(obj)} ({ddl})")
        existing = set(_existing_columns(con, obj.table))
        for c, t in columns.items():
            if c not in existing:
                con.execute(f"ALTER TABLE {raw_table(obj)} ADD COLUMN {q(c)} {t}")
    con.execute(REJECTS_DDL)
    con.execute(AUDIT_DDL)


# ------------------------------------------------------------------------------------------ discovery


def _parse_date(name: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def list_extract_dates(landing_dir: Path, obj: LandingObject) -> list[date]:
    """Extract dates of the ``<landing>/<Object>/<YYYY-MM-DD>/`` folders present, sorted."""
    root = Path(landing_dir) / obj.name
    if not root.is_dir():
        return []
    dates = [_parse_date(p.name) for p in root.iterdir() if p.is_dir()]
    return sorted(d for d in dates if d is not None)


def _batch_files(landing_dir: Path, obj: LandingObject, extract_date: date) -> tuple[bool, list[Path]]:
    folder = landing_dir / obj.name / extract_date.isoformat()
    if not folder.is_dir():
        return False, []
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
    for p in files:
        if p.suffix.lower() not in FORMATS:
            raise BatchError(
                f"{p}: unsupported file type {p.suffix or '(none)'!r}; "
                f"landing files must be {', '.join(FORMATS)}"
            )
    return True, files


# -------------------------------------------------------------------------------------------- headers


def _sniff_csv_header(f: _SourceFile) -> None:
    """Header of a CSV file with Python's csv module (first record only; handles BOM and quoting)."""
    if f.path.stat().st_size == 0:
        f.empty = True
        return
    try:
        with f.path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=",", quotechar='"', doublequote=True, strict=True)
            header = next(reader, None)
            f.header_lines = reader.line_num
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchError(f"{f.path}: unreadable CSV header (UTF-8 CSV expected): {exc}") from exc
    if not header or all(not h.strip() for h in header):
        f.empty = True
        return
    f.headers = tuple(header)


def _sniff_parquet_schema(con: duckdb.DuckDBPyConnection, f: _SourceFile) -> None:
    try:
        rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(f.path)]).fetchall()
    except duckdb.Error as exc:
        raise BatchError(f"{f.path}: unreadable Parquet file: {exc}") from exc
    f.headers = tuple(r[0] for r in rows)
    f.types = tuple(r[1] for r in rows)


def _extra_column(header: str) -> str:
    """Raw column for a column outside the contract: snake_case of the header, SQL-safe."""
    name = re.sub(r"[^0-9a-z_]+", "_", snake_case(header.strip().lstrip("\ufeff"))).strip("_")
    # Never a leading underscore (lineage and loader columns have one), never DuckDB's rowid.
    return {"": "unnamed", "rowid": "rowid_"}.get(name, name)


def _map_headers(obj: LandingObject, f: _SourceFile) -> tuple[str, ...]:
    """Raw column of each header of ``f``; raises BatchError on a missing required or doubled column."""
    by_key = {header_key(fl.name): fl for fl in obj.fields}
    targets: list[str] = []
    seen: dict[str, str] = {}
    for h in f.headers:
        fl = by_key.get(header_key(h))
        target = fl.column if fl else _extra_column(h)
        if target in seen:
            raise BatchError(f"{f.path}: columns {seen[target]!r} and {h!r} both map to {target!r}")
        seen[target] = h
        targets.append(target)
    missing = [fl.name for fl in obj.required_fields if fl.column not in seen]
    if missing:
        raise BatchError(
            f"{f.path}: required column(s) {', '.join(missing)} missing from the header "
            f"(found: {', '.join(f.headers) or 'none'})"
        )
    return tuple(targets)


# -------------------------------------------------------------------------------------------- reading


def _csv_reader_sql(n_columns: int) -> str:
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n_columns))
    return (
        f"read_csv($paths, header = true, columns = {{{columns}}}, delim = ',', quote = '\"', "
        "escape = '\"', auto_detect = false, filename = true, encoding = 'utf-8', null_padding = false)"
    )


def _jsonl_reader_sql() -> str:
    # JSONL read as one text column per physical line: blank lines stay (and are dropped later),
    # so the row position is the line number. JSON escapes newlines, so no record spans two lines.
    return (
        "read_csv($paths, header = false, columns = {'line': 'VARCHAR'}, delim = chr(1), quote = '', "
        "escape = '', auto_detect = false, filename = true, encoding = 'utf-8', max_line_size = 67108864)"
    )


def _read_failed(files: list[_SourceFile], reader: str, exc: Exception) -> None:
    """Find the file that broke a multi-file read, so the message names it (error path only).

    Runs on a scratch connection: the load's transaction is already aborted by the failed read.
    """
    with duckdb.connect() as scratch:
        for f in files:
            try:
                scratch.execute(f"SELECT count(*) FROM {reader}", {"paths": [str(f.path)]}).fetchall()
            except duckdb.Error as single:
                raise BatchError(f"{f.path}: unreadable {f.fmt.upper()} file: {single}") from single
    raise BatchError(f"unreadable files {', '.join(str(f.path) for f in files)}: {exc}") from exc


def _stage_insert(
    con: duckdb.DuckDBPyConnection, targets: Sequence[str], select_sql: str, params: dict | None = None
) -> None:
    cols = ", ".join(["_file_id", "_line", *(q(t) for t in targets)])
    con.execute(f"INSERT INTO {_STAGE} ({cols}) {select_sql}", params)


def _read_csv_group(con: duckdb.DuckDBPyConnection, g: _Group) -> None:
    """Stage the files of one CSV header with one read; ``_line`` gets the record's physical position.

    A streaming window (``OVER ()``) sees the records in file order, files in list order. Running
    record count + newlines embedded in earlier records (quoted newlines push later records down) is
    the physical line up to a per-file offset, added in :func:`_build_typed`. No sort, one pass.
    """
    reader = _csv_reader_sql(len(g.headers))
    cols = [f"c{i}" for i in range(len(g.headers))]
    newlines = " + ".join(
        f"CASE WHEN contains({c}, chr(10)) THEN length({c}) - length(replace({c}, chr(10), '')) ELSE 0 END"
        for c in cols
    )
    values = ", ".join(f"nullif(r.{c}, '')" for c in cols)
    try:
        _stage_insert(
            con,
            g.targets,
            f"""SELECT f.file_id, r._record, {values}
                FROM (
                    SELECT *, row_number() OVER () - _nl
                              + sum(_nl) OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _record
                    FROM (SELECT *, {newlines} AS _nl FROM {reader})
                ) AS r
                JOIN {_FILES} AS f ON f.path = r.filename""",
            {"paths": [str(f.path) for f in g.files]},
        )
    except duckdb.Error as exc:
        _read_failed(g.files, reader, exc)


def _parquet_value(column: str, duck_type: str, field_: Field | None, date_format: str | None) -> str:
    """A Parquet value as text, so it goes through the same casts as CSV."""
    ref = f"r.{q(column)}"
    if duck_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"strftime(timezone('UTC', {ref}), '%Y-%m-%dT%H:%M:%S.%f')"
    if duck_type == "DATE" and field_ is not None and field_.type == "date" and date_format:
        # A typed date is unambiguous; render it in the object's format so the one cast path accepts it.
        return f"strftime({ref}, {lit(date_format)})"
    return f"nullif(CAST({ref} AS VARCHAR), '')"


def _read_parquet_group(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, g: _Group, date_format: str | None
) -> None:
    reader = "read_parquet($paths, filename = true, file_row_number = true)"
    by_column = {fl.column: fl for fl in obj.fields}
    values = ", ".join(
        _parquet_value(h, t, by_column.get(target), date_format)
        for h, t, target in zip(g.headers, g.types, g.targets, strict=True)
    )
    try:
        _stage_insert(
            con,
            g.targets,
            f"""SELECT f.file_id, r.file_row_number + 1, {values}
                FROM {reader} AS r JOIN {_FILES} AS f ON f.path = r.filename""",
            {"paths": [str(f.path) for f in g.files]},
        )
    except duckdb.Error as exc:
        _read_failed(g.files, reader, exc)


def _read_jsonl_files(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    files: list[_SourceFile],
    add_extras: Callable[[Sequence[str]], None],
) -> None:
    """Read all JSONL files at once; the keys of each file act as its header."""
    reader = _jsonl_reader_sql()
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_READ} AS SELECT * FROM {reader}",
            {"paths": [str(f.path) for f in files]},
        )
    except duckdb.Error as exc:
        _read_failed(files, reader, exc)
    numbered = f"""SELECT * FROM (
                        SELECT filename, rowid - min(rowid) OVER (PARTITION BY filename) + 1 AS line_no, line
                        FROM {_READ})
                    WHERE line IS NOT NULL AND trim(line) <> ''"""
    # Blank lines are skipped; a line that is not a JSON object makes the file unreadable.
    bad = con.execute(
        f"""SELECT filename, line_no FROM ({numbered})
            WHERE coalesce(CASE WHEN json_valid(line) THEN json_type(line) END, '') <> 'OBJECT'
            ORDER BY filename, line_no LIMIT 1"""
    ).fetchone()
    if bad:
        raise BatchError(f"{bad[0]}: line {bad[1]} is not a JSON object (JSON Lines expected)")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_READ}_lines AS
            SELECT f.file_id, n.line_no, CAST(n.line AS JSON) AS j
            FROM ({numbered}) AS n JOIN {_FILES} AS f ON f.path = n.filename"""
    )
    keys = con.execute(
        f"""SELECT file_id, list(k ORDER BY first_line) FROM (
                SELECT file_id, k, min(line_no) AS first_line
                FROM (SELECT file_id, line_no, unnest(json_keys(j)) AS k FROM {_READ}_lines)
                GROUP BY ALL)
            GROUP BY file_id"""
    ).fetchall()
    keys_by_file = {file_id: tuple(k) for file_id, k in keys}
    for f in files:
        f.headers = keys_by_file.get(f.file_id, ())
        if not f.headers:
            f.empty = True
            continue
        targets = _map_headers(obj, f)
        add_extras(targets)
        values = ", ".join(
            "json_extract_string(j, " + lit('$."' + h.replace('"', '\\"') + '"') + ")" for h in f.headers
        )
        _stage_insert(
            con,
            targets,
            f"SELECT file_id, line_no, {values} FROM {_READ}_lines WHERE file_id = {f.file_id}",
        )
    con.execute(f"DROP TABLE IF EXISTS {_READ}_lines")


# ------------------------------------------------------------------------------------------ validation


def _cast_sql(fl: Field, v: str, date_format: str | None) -> str | None:
    """SQL parsing text ``v`` into the field's type (NULL when it does not parse); None for text."""
    t = v  # callers pass trimmed, non-empty text
    if fl.type in ("id", "string"):
        return None
    if fl.type == "timestamp":
        # With TimeZone = UTC, a naive value is UTC and an offset is converted to UTC.
        # DuckDB's cast is lenient ('02/01/24' would become year 2): only ISO-shaped text goes to it.
        iso = (
            f"CASE WHEN regexp_matches({t}, '^\\d{{4}}-\\d\\d?-\\d\\d?([T ]|$)') "
            f"THEN CAST(try_cast({t} AS TIMESTAMPTZ) AS TIMESTAMP) END"
        )
        if date_format:
            forms = [date_format, f"{date_format} %H:%M", f"{date_format} %H:%M:%S"]
            formats = "[" + ", ".join(lit(x) for x in forms) + "]"
            iso = f"coalesce(try_strptime({t}, {formats}), {iso})"
        return f"CASE WHEN isfinite({iso}) THEN {iso} END"
    if fl.type == "date":
        return f"CAST(try_strptime({t}, {lit(date_format or ISO_DATE_FORMAT)}) AS DATE)"
    if fl.type == "boolean":
        truthy = f"CASE lower({t}) WHEN 'true' THEN true WHEN '1' THEN true"
        return f"{truthy} WHEN 'false' THEN false WHEN '0' THEN false END"
    if fl.type == "integer":
        # try_cast to BIGINT rounds '5.5'; only whole numbers ('5', '5.0') are integers.
        return f"CASE WHEN try_cast({t} AS DOUBLE) % 1 = 0 THEN try_cast({t} AS BIGINT) END"
    if fl.type in ("number", "rate"):
        return f"CASE WHEN isfinite(try_cast({t} AS DOUBLE)) THEN try_cast({t} AS DOUBLE) END"
    if fl.type == "amount":
        return f"try_cast({t} AS DECIMAL(18,2))"
    raise ValueError(f"unknown field type {fl.type!r}")


def _reason(fl: Field, date_format: str | None) -> str:
    if fl.type == "timestamp":
        extra = f" or a date in format {date_format}" if date_format else ""
        return f"not an ISO 8601 timestamp{extra}"
    return {
        "date": f"not a date in format {date_format or ISO_DATE_FORMAT}",
        "boolean": "not a boolean (true/false/1/0)",
        "integer": "not a whole number",
        "number": "not a number",
        "rate": "not a number",
        "amount": "not an amount (a number, at most 16 digits before the decimal point)",
    }[fl.type]


def _is_empty(v: str) -> str:
    return f"({v} IS NULL OR trim({v}) = '')"


def _build_typed(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, extras: list[str], date_format: str | None
) -> None:
    """``_load_typed``: each staged row cast once, with its batch, file, line and ``_ok`` (no bad cell).

    Three levels so each value is trimmed once and cast once: text -> trimmed -> typed -> verdict.
    """
    trimmed, casts, outputs, checks = [], [], [], []
    for i, fl in enumerate(obj.fields):
        raw = f"s.{q(fl.column)}"
        cast = _cast_sql(fl, f"__v{i}", date_format)
        if cast is None:
            outputs.append(f"{q(fl.column)}")
            if fl.required:
                checks.append(f"NOT {_is_empty(q(fl.column))}")
            continue
        trimmed.append(f"nullif(trim({raw}), '') AS __v{i}")
        casts.append(f"{cast} AS __t{i}")
        outputs.append(f"__t{i} AS {q(fl.column)}")
        checks.append(f"(__v{i} IS NOT NULL OR NOT {str(fl.required).lower()})")
        checks.append(f"(__v{i} IS NULL OR __t{i} IS NOT NULL)")
    ok = " AND ".join(checks) or "true"
    extra_cols = "".join(f", {q(c)}" for c in extras)
    level1 = (
        f"SELECT s.rowid AS _rid, f.extract_date AS _extract_date, f.rel AS _rel, {_LINE} AS _line, "
        f"s.*, {', '.join(trimmed) or 'NULL AS __none'} FROM {_SOURCE}"
    )
    level2 = f"SELECT *, {', '.join(casts) or 'NULL AS __none2'} FROM ({level1})"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_TYPED} AS
            SELECT _rid, _extract_date, _rel, _line, {", ".join(outputs)}{extra_cols}, {ok} AS _ok
            FROM ({level2})"""
    )


def _cell_rejects_sql(obj: LandingObject, date_format: str | None) -> str:
    """One reject row per bad cell; the per-column checks run only over the rows that failed (few)."""
    parts = []
    for fl in obj.fields:
        v = f"s.{q(fl.column)}"
        if fl.required:
            parts.append(
                f"SELECT s._d, s._rel, s._ln, {lit(fl.column)} AS column_name, {v} AS value, "
                f"'required field is empty' AS reason FROM bad AS s WHERE {_is_empty(v)}"
            )
        cast = _cast_sql(fl, f"nullif(trim({v}), '')", date_format)
        if cast:
            parts.append(
                f"SELECT s._d, s._rel, s._ln, {lit(fl.column)}, {v}, {lit(_reason(fl, date_format))} "
                f"FROM bad AS s WHERE NOT {_is_empty(v)} AND ({cast}) IS NULL"
            )
    return (
        f"WITH bad AS MATERIALIZED (SELECT s.*, t._extract_date AS _d, t._rel, t._line AS _ln "
        f"FROM {_STAGE} AS s JOIN {_TYPED} AS t ON t._rid = s.rowid WHERE NOT t._ok) "
        + " UNION ALL ".join(parts)
    )


def _move_conflicting_duplicates(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    dates: list[date],
    extras: list[str],
    loaded_at: datetime,
) -> None:
    """Move rows sharing key and version within one batch but differing in content to the rejects.

    Runs on the rows just inserted (all of them are valid); exact repeats are harmless (staging
    dedupes), so groups are compared by a hash of their content. Conflicts are rare: the delete is small.
    """
    keys = [obj.field(k).column for k in obj.key]
    version = [obj.field(obj.version_field).column] if obj.version_field else []
    group = ["_extract_date", *keys, *version]
    content = [c for c in obj.columns if c not in keys] + extras
    row_hash = "hash(" + ", ".join(q(c) for c in content) + ")" if content else "0"
    key_value = " || ',' || ".join(f"coalesce(CAST(t.{q(c)} AS VARCHAR), '')" for c in keys)
    match = " AND ".join(f"t.{q(c)} IS NOT DISTINCT FROM c.{q(c)}" for c in group)
    what = f"the same {obj.version_field}" if obj.version_field else "no version field to pick one"
    reason = f"duplicate {', '.join(obj.key)} in this batch with different content and {what}"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_DUPS} AS
            WITH conflicts AS (
                SELECT {", ".join(q(c) for c in group)} FROM {raw_table(obj)} WHERE _extract_date {_IN_DATES}
                GROUP BY ALL HAVING min({row_hash}) <> max({row_hash})
            )
            SELECT t._extract_date, t._source_file, t._source_line, {key_value} AS key_value
            FROM {raw_table(obj)} AS t SEMI JOIN conflicts AS c ON {match}
            WHERE t._extract_date {_IN_DATES}""",
        {"dates": dates},
    )
    if not con.execute(f"SELECT count(*) FROM {_DUPS}").fetchone()[0]:
        return
    con.execute(
        f"""INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE}
            SELECT $object, _extract_date, _source_file, _source_line, {lit(",".join(keys))}, key_value,
                   {lit(reason)}, $loaded_at
            FROM {_DUPS} ORDER BY _source_file, _source_line""",
        {"object": obj.name, "loaded_at": loaded_at},
    )
    con.execute(
        f"""DELETE FROM {raw_table(obj)} AS t USING {_DUPS} AS d
            WHERE t._extract_date = d._extract_date AND t._source_file = d._source_file
              AND t._source_line = d._source_line"""
    )


# --------------------------------------------------------------------------------------------- loading


def _prepare_files(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, landing_dir: Path, dates: list[date]
) -> tuple[dict[date, tuple[bool, list[_SourceFile]]], list[_SourceFile]]:
    batches: dict[date, tuple[bool, list[_SourceFile]]] = {}
    all_files: list[_SourceFile] = []
    for d in dates:
        found, paths = _batch_files(landing_dir, obj, d)
        files = [
            _SourceFile(
                file_id=len(all_files) + i,
                path=p,
                rel=p.relative_to(landing_dir).as_posix(),
                extract_date=d,
                fmt=FORMATS[p.suffix.lower()],
            )
            for i, p in enumerate(paths)
        ]
        all_files.extend(files)
        batches[d] = (found, files)
    for f in all_files:
        if f.fmt == "csv":
            _sniff_csv_header(f)
        elif f.fmt == "parquet":
            _sniff_parquet_schema(con, f)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_FILES} (
            file_id INTEGER, path VARCHAR, rel VARCHAR, extract_date DATE,
            header_lines INTEGER, fmt VARCHAR)"""
    )
    if all_files:
        con.executemany(
            f"INSERT INTO {_FILES} VALUES (?, ?, ?, ?, ?, ?)",
            [[f.file_id, str(f.path), f.rel, f.extract_date, f.header_lines, f.fmt] for f in all_files],
        )
    return batches, all_files


def _group_files(obj: LandingObject, files: list[_SourceFile]) -> list[_Group]:
    groups: dict[tuple, _Group] = {}
    for f in files:
        if f.fmt == "jsonl" or f.empty:
            continue
        targets = _map_headers(obj, f)
        key = (f.fmt, f.headers, f.types)
        groups.setdefault(key, _Group(f.fmt, f.headers, f.types, targets)).files.append(f)
    return list(groups.values())


def _stage_all(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, files: list[_SourceFile], date_format: str | None
) -> list[str]:
    """Read every file into ``_load_stage``; returns the extra (non-contract) columns seen, in order."""
    groups = _group_files(obj, files)
    jsonl = [f for f in files if f.fmt == "jsonl"]
    # Extra columns are known only after reading JSONL keys, so the stage starts with the contract
    # columns and grows by ALTER TABLE; ADD COLUMN on an empty temp table is free.
    cols = ", ".join(f"{q(c)} VARCHAR" for c in obj.columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_STAGE} (_file_id INTEGER, _line BIGINT, {cols})")
    extras: list[str] = []

    def add_extras(targets: Sequence[str]) -> None:
        for t in targets:
            if t not in obj.columns and t not in extras:
                extras.append(t)
                con.execute(f"ALTER TABLE {_STAGE} ADD COLUMN {q(t)} VARCHAR")

    for g in groups:
        add_extras(g.targets)
    for g in groups:
        if g.fmt == "csv":
            _read_csv_group(con, g)
        else:
            _read_parquet_group(con, obj, g, date_format)
    if jsonl:
        _read_jsonl_files(con, obj, jsonl, add_extras)
    return extras


def _add_raw_extras(con: duckdb.DuckDBPyConnection, obj: LandingObject, extras: list[str]) -> None:
    existing = set(_existing_columns(con, obj.table))
    for c in extras:
        if c not in existing:
            con.execute(f"ALTER TABLE {raw_table(obj)} ADD COLUMN {q(c)} VARCHAR")


def _compute_line_offsets(con: duckdb.DuckDBPyConnection) -> None:
    """CSV: the first record of a file starts on the line right after its header."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_OFFSETS} AS
            SELECT s._file_id, any_value(f.header_lines) + 1 - min(s._line) AS line_offset
            FROM {_STAGE} AS s JOIN {_FILES} AS f ON f.file_id = s._file_id
            WHERE f.fmt = 'csv' GROUP BY s._file_id"""
    )


def _replace_partitions(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    dates: list[date],
    extras: list[str],
    loaded_at: datetime,
    date_format: str | None,
) -> None:
    """Delete the partitions; cast the stage once; good rows to raw, bad cells to the rejects;
    finally move conflicting duplicates from raw to the rejects."""
    con.execute(f"DELETE FROM {raw_table(obj)} WHERE _extract_date {_IN_DATES}", {"dates": dates})
    for table in (REJECTS_TABLE, LOAD_AUDIT_TABLE):
        con.execute(
            f"DELETE FROM {RAW_SCHEMA}.{table} WHERE object = $object AND extract_date {_IN_DATES}",
            {"dates": dates, "object": obj.name},
        )
    _build_typed(con, obj, extras, date_format)
    data_cols = ", ".join(q(c) for c in [*obj.columns, *extras])
    target = ", ".join(q(c) for c in [*obj.columns, *extras, *LINEAGE_COLUMNS])
    con.execute(
        f"""INSERT INTO {raw_table(obj)} ({target})
            SELECT {data_cols}, _extract_date, _rel, _line, $loaded_at FROM {_TYPED} WHERE _ok""",
        {"loaded_at": loaded_at},
    )
    con.execute(
        f"""INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE}
            SELECT $object, r.*, $loaded_at FROM ({_cell_rejects_sql(obj, date_format)}) AS r
            ORDER BY 2, 3, 4""",
        {"object": obj.name, "loaded_at": loaded_at},
    )
    _move_conflicting_duplicates(con, obj, dates, extras, loaded_at)


def _count_by_date(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> dict[date, int]:
    return {d: n for d, n in con.execute(sql, params).fetchall()}


def _audit(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    batches: dict[date, tuple[bool, list[_SourceFile]]],
    loaded_at: datetime,
) -> list[BatchResult]:
    """Count rows three independent ways, check they add up, and record one audit row per batch."""
    dates = list(batches)
    source = _count_by_date(
        con,
        f"""SELECT f.extract_date, count(*)
            FROM {_STAGE} AS s JOIN {_FILES} AS f ON f.file_id = s._file_id GROUP BY 1""",
    )
    rejected = _count_by_date(
        con,
        f"""SELECT extract_date, count(DISTINCT (source_file, source_line))
            FROM {RAW_SCHEMA}.{REJECTS_TABLE} WHERE object = $object AND extract_date {_IN_DATES}
            GROUP BY 1""",
        {"object": obj.name, "dates": dates},
    )
    loaded = _count_by_date(
        con,
        f"SELECT _extract_date, count(*) FROM {raw_table(obj)} WHERE _extract_date {_IN_DATES} GROUP BY 1",
        {"dates": dates},
    )
    results = []
    for d, (found, files) in batches.items():
        result = BatchResult(
            object=obj.name,
            extract_date=d,
            files=tuple(f.rel for f in files),
            source_rows=source.get(d, 0),
            loaded_rows=loaded.get(d, 0),
            rejected_rows=rejected.get(d, 0),
            found=found,
        )
        if result.source_rows != result.loaded_rows + result.rejected_rows:
            raise RuntimeError(
                f"{obj.name} {d}: {result.source_rows} source rows but {result.loaded_rows} loaded "
                f"+ {result.rejected_rows} rejected; nothing was loaded (loader bug, please report)"
            )
        results.append(result)
    con.executemany(
        f"INSERT INTO {RAW_SCHEMA}.{LOAD_AUDIT_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            [r.object, r.extract_date, len(r.files), r.source_rows, r.loaded_rows, r.rejected_rows, loaded_at]
            for r in results
        ],
    )
    return results


def load_batches(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    landing_dir: Path,
    extract_dates: Sequence[date],
    *,
    date_format: str | None = None,
    before_commit: Callable[[duckdb.DuckDBPyConnection], bool] | None = None,
) -> list[BatchResult]:
    """Load the batches of ``obj`` for ``extract_dates`` and replace those partitions, in one transaction.

    ``before_commit(con)`` runs inside the transaction once the rows are in place (it sees them); when it
    returns False the whole load is rolled back, so the raw table keeps what it had: a batch that fails a
    blocking landing check never reaches raw, and no later run can build on it.

    A missing folder is a batch with ``found=False`` and no rows (its partition is emptied, so the raw
    table mirrors the landing folder). ``date_format`` (strptime, e.g. ``%m/%d/%y``) parses the
    object's dates instead of ISO ``%Y-%m-%d``. Raises :class:`BatchError` when a batch is wrong as a
    whole; then nothing of this call is loaded. Returns one result per date, in date order.
    """
    landing_dir = Path(landing_dir).absolute()
    dates = sorted(set(extract_dates))
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    time_zone = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    con.execute("SET TimeZone = 'UTC'")  # naive timestamps are UTC; offsets convert to UTC
    con.begin()
    try:
        ensure_raw_schema(con)
        batches, files = _prepare_files(con, obj, landing_dir, dates)
        extras = _stage_all(con, obj, files, date_format)
        _compute_line_offsets(con)
        _add_raw_extras(con, obj, extras)
        _replace_partitions(con, obj, dates, extras, loaded_at, date_format)
        results = _audit(con, obj, batches, loaded_at)
        if before_commit is not None and not before_commit(con):
            con.rollback()
            return [replace(r, committed=False) for r in results]
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        for table in (_FILES, _READ, f"{_READ}_lines", _STAGE, _OFFSETS, _TYPED, _DUPS):
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
        con.execute("SET TimeZone = ?", [time_zone])
    return results
