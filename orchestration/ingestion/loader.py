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

Source rows are counted from the files, independently of the staging path, so a row the staging path
drops makes the load fail loudly instead of vanishing: CSV records from a line-level read (below),
JSON Lines non-blank lines, Parquet the row count in the file's metadata.

CSV files are also read once per object as plain lines (``delim = chr(1), quote = ''``): DuckDB's CSV
reader skips blank lines and cannot say where a record started, so the line-level read gives each
record its physical first line and its field count. A line starts a record when it is not blank and
the quotes before it are balanced (an odd count means it continues a quoted value); commas outside
quotes, plus one, are the record's fields. The CSV reader's records are matched to these by their
position in the file, and the per-file counts must agree (else the file is reported as unreadable).
A record whose field count differs from the header's is a *ragged row*: it goes to the rejects
(``row has 9 fields, header has 7``, no column, the first line as value), never to raw.

Blank lines: between and after records they are skipped but counted in the line numbers. A file
whose FIRST line is blank (or whose header cells are all empty) is refused with ``no header on
line 1`` (the header is never searched for further down: a real export starts with it); a file of
blank lines only, like a zero-byte file, is an empty file with no rows.

Amounts are exact: a value with more decimals than ``DECIMAL(18,2)`` holds is rejected (``more than
2 decimal places``), never rounded; trailing zeros (``1.500``) are fine.

No Python loop touches data rows; Python only handles file names and headers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

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
#: Amounts are parsed at this precision first (16 integer digits like DECIMAL(18,2)) to see extra decimals.
_WIDE_AMOUNT = "DECIMAL(38,22)"

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
_LINES = "_load_csv_lines"  # CSV files as physical lines
_RECORDS = "_load_csv_records"  # CSV records: first physical line and field count
_CSV_READ = "_load_csv_read"  # one CSV group as read by DuckDB's CSV reader
_RAGGED = "_load_ragged"  # CSV records with the wrong number of fields
_COUNTS = "_load_source_counts"  # source rows per file, counted from the files
_TYPED = "_load_typed"
_DUPS = "_load_duplicates"
# The staged rows with their file; ``_line`` is already the physical line of each.
_SOURCE = f"{_STAGE} AS s JOIN {_FILES} AS f ON f.file_id = s._file_id"
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
    empty: bool = False  # a zero-byte file or blank lines only: no header, no rows


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


def _only_blank(fh: TextIO) -> bool:
    """True when the rest of ``fh`` is whitespace; reads in chunks and stops at the first character."""
    return not any(chunk.strip() for chunk in iter(lambda: fh.read(1 << 16), ""))


def _sniff_csv_header(f: _SourceFile) -> None:
    """Header of a CSV file with Python's csv module (first record only; handles BOM and quoting).

    A zero-byte file or one of blank lines only is empty; any other file needs its header on line 1.
    """
    if f.path.stat().st_size == 0:
        f.empty = True
        return
    try:
        with f.path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=",", quotechar='"', doublequote=True, strict=True)
            header = next(reader, None)
            if header and any(h.strip() for h in header):
                f.headers = tuple(header)
                return
            if _only_blank(fh) and not any(h.strip() for h in header or ()):
                f.empty = True
                return
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchError(f"{f.path}: unreadable CSV header (UTF-8 CSV expected): {exc}") from exc
    raise BatchError(
        f"{f.path}: no header on line 1 (the first line is blank or its cells are all empty); "
        "a CSV file must start with its header"
    )


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


def _csv_reader_sql(n_columns: int, *, ragged: bool) -> str:
    """DuckDB's CSV reader, header included as a data row (record 0), every value as text.

    Without ragged rows it is strict (a field-count mismatch is an error) and parallel. With them, it
    pads short rows (``null_padding``, which DuckDB supports with quoted newlines only when not
    parallel) and reads ``n_columns`` >= the widest row; ``nullstr = chr(2)`` then keeps empty
    fields as '' so only padding is NULL.
    """
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n_columns))
    padding = "null_padding = true, parallel = false, nullstr = chr(2)" if ragged else "null_padding = false"
    return (
        f"read_csv($paths, header = false, columns = {{{columns}}}, delim = ',', quote = '\"', "
        f"escape = '\"', auto_detect = false, filename = true, encoding = 'utf-8', {padding})"
    )


def _lines_reader_sql() -> str:
    # Every physical line as one text column: blank lines stay (as NULL), so the row position in a
    # file is its line number. Used for JSON Lines and for finding where CSV records start.
    return (
        "read_csv($paths, header = false, columns = {'line': 'VARCHAR'}, delim = chr(1), quote = '', "
        "escape = '', auto_detect = false, filename = true, encoding = 'utf-8', max_line_size = 67108864)"
    )


def _jsonl_reader_sql() -> str:
    # JSON escapes newlines, so no JSON Lines record spans two lines: one line, one record.
    return _lines_reader_sql()


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


def _count_sql(text: str, char: str) -> str:
    return f"(length({text}) - length(replace({text}, {lit(char)}, '')))"


def _check_file_order(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Line numbers come from row positions: each file's rows must be contiguous, in reader order.

    DuckDB keeps insertion order (``preserve_insertion_order``) for a plain ``CREATE TABLE AS SELECT
    FROM read_csv``; this guards that assumption (a join in that statement, for one, breaks it).
    """
    broken = con.execute(
        f"""SELECT filename FROM {table} GROUP BY filename
            HAVING max(rowid) - min(rowid) + 1 <> count(*) LIMIT 1"""
    ).fetchone()
    if broken:
        raise RuntimeError(f"{broken[0]}: rows were not read in file order (loader bug, please report)")


def _read_csv_records(con: duckdb.DuckDBPyConnection, files: list[_SourceFile]) -> None:
    """Read every CSV file once as lines; ``_load_csv_records`` gets each data record's physical first
    line and field count, ``_load_ragged`` the records whose field count is not the header's.

    Per line: ``_q`` quotes up to and including it (parity: inside a quoted value or not). A line
    starts a record when it is not blank and its parity before is even; a record's lines are its start
    line and the following lines that begin inside quotes. Commas outside quotes are counted after
    closing/opening the quotes cut by the line ends, so ``"[^"]*"`` pairs up (``""`` escapes too).
    """
    reader = _lines_reader_sql()
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_LINES} AS SELECT filename, line FROM {reader}",
            {"paths": [str(f.path) for f in files]},
        )
    except duckdb.Error as exc:
        _read_failed(files, reader, exc)
    _check_file_order(con, _LINES)
    window = "(PARTITION BY _file_id ORDER BY _line ROWS UNBOUNDED PRECEDING)"
    outside = (
        "regexp_replace(CASE WHEN _in_before THEN '\"' ELSE '' END || _text "
        "|| CASE WHEN _q % 2 = 1 THEN '\"' ELSE '' END, '\"[^\"]*\"', '', 'g')"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_RECORDS} AS
            WITH numbered AS (
                SELECT f.file_id AS _file_id, n._line, coalesce(n.line, '') AS _text,
                       {_count_sql("coalesce(n.line, '')", '"')} AS _nq
                FROM (SELECT filename, rowid - min(rowid) OVER (PARTITION BY filename) + 1 AS _line, line
                      FROM {_LINES}) AS n
                JOIN {_FILES} AS f ON f.path = n.filename
            ), parity AS (
                SELECT *, (_q - _nq) % 2 = 1 AS _in_before
                FROM (SELECT *, sum(_nq) OVER {window} AS _q FROM numbered)
            ), starts AS (
                SELECT *, NOT _in_before AND _text <> '' AS _start,
                       CASE WHEN _nq = 0 AND NOT _in_before THEN {_count_sql("_text", ",")}
                            ELSE {_count_sql(outside, ",")} END AS _commas
                FROM parity
            ), records AS (
                SELECT *, sum(CAST(_start AS INTEGER)) OVER {window} AS _record FROM starts
            )
            -- record 1 is the header; data records are numbered from 0 like the CSV reader's rows
            SELECT _file_id, _record - 2 AS _record, min(_line) AS _line, 1 + sum(_commas) AS n_fields,
                   arg_min(_text, _line) AS first_line
            FROM records WHERE _record >= 2 AND (_start OR _in_before)
            GROUP BY _file_id, _record"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_RAGGED} AS
            SELECT r._file_id, r._line, r.n_fields, f.n_headers, left(r.first_line, 1000) AS first_line
            FROM {_RECORDS} AS r JOIN {_FILES} AS f ON f.file_id = r._file_id
            WHERE r.n_fields <> f.n_headers"""
    )
    con.execute(f"INSERT INTO {_COUNTS} SELECT _file_id, count(*) FROM {_RECORDS} GROUP BY 1")
    con.execute(f"DROP TABLE {_LINES}")


def _read_csv_group(con: duckdb.DuckDBPyConnection, g: _Group) -> None:
    """Stage the files of one CSV header with one CSV-reader call, matched to ``_load_csv_records``.

    The reader's rows of a file are numbered by position (insertion order is kept) and joined to the
    records of the line-level read; ragged records are left out (they are rejects). The per-file
    counts must agree, and with ragged rows present every kept row must have exactly the header's
    fields, so a disagreement between the two reads fails the file instead of shifting lines.
    """
    ids = [f.file_id for f in g.files]
    n = len(g.headers)
    widest = con.execute(
        f"SELECT max(n_fields), count(*) FILTER (n_fields <> {n}) FROM {_RECORDS} "
        "WHERE _file_id IN (SELECT unnest(CAST($ids AS INTEGER[])))",
        {"ids": ids},
    ).fetchone()
    ragged = bool(widest[1])
    width = max(n, widest[0] or 0)
    reader = _csv_reader_sql(width, ragged=ragged)
    cols = [f"c{i}" for i in range(width)]
    try:
        con.execute(
            # No join here: a hash join does not keep the reader's order, which numbers the rows.
            f"CREATE OR REPLACE TEMP TABLE {_CSV_READ} AS SELECT filename, {', '.join(cols)} FROM {reader}",
            {"paths": [str(f.path) for f in g.files]},
        )
    except duckdb.Error as exc:
        _read_failed(g.files, reader, exc)
    _check_file_order(con, _CSV_READ)
    numbered = f"""SELECT f.file_id AS _file_id, r.*
                   FROM (SELECT *, rowid - min(rowid) OVER (PARTITION BY filename) - 1 AS _record
                         FROM {_CSV_READ}) AS r
                   JOIN {_FILES} AS f ON f.path = r.filename"""
    # Only the padded read tells short rows apart (NULL is padding); the strict read errors on them.
    width_ok = f"r.c{n - 1} IS NOT NULL" + (f" AND r.c{n} IS NULL" if width > n else "") if ragged else "true"
    mismatch = con.execute(
        f"""WITH read_counts AS (
                    SELECT f.file_id AS _file_id, count(*) - 1 AS n
                    FROM {_CSV_READ} AS r JOIN {_FILES} AS f ON f.path = r.filename GROUP BY 1),
                 line_counts AS (SELECT _file_id, count(*) AS n FROM {_RECORDS} GROUP BY 1),
                 bad_rows AS (
                    SELECT r._file_id, min(k._line) AS _line FROM ({numbered}) AS r
                    JOIN {_RECORDS} AS k ON k._file_id = r._file_id AND k._record = r._record
                    WHERE k.n_fields = {n} AND NOT ({width_ok}) GROUP BY 1)
            SELECT f.path, b._line FROM {_FILES} AS f
            LEFT JOIN read_counts AS rc ON rc._file_id = f.file_id
            LEFT JOIN line_counts AS lc ON lc._file_id = f.file_id
            LEFT JOIN bad_rows AS b ON b._file_id = f.file_id
            WHERE f.file_id IN (SELECT unnest(CAST($ids AS INTEGER[])))
              AND (coalesce(rc.n, -1) <> coalesce(lc.n, 0) OR b._line IS NOT NULL)
            ORDER BY f.file_id LIMIT 1""",
        {"ids": ids},
    ).fetchone()
    if mismatch:
        where = f" near line {mismatch[1]}" if mismatch[1] is not None else ""
        raise BatchError(
            f"{mismatch[0]}: unreadable CSV file: its records could not be told apart{where} "
            "(a stray quote? RFC 4180 quoting expected)"
        )
    values = ", ".join(f"nullif(r.c{i}, '')" for i in range(n))
    _stage_insert(
        con,
        g.targets,
        f"""SELECT r._file_id, k._line, {values} FROM ({numbered}) AS r
            JOIN {_RECORDS} AS k ON k._file_id = r._file_id AND k._record = r._record
            WHERE k.n_fields = {n}""",
    )
    con.execute(f"DROP TABLE {_CSV_READ}")


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
    paths = {"paths": [str(f.path) for f in g.files]}
    con.execute(
        f"""INSERT INTO {_COUNTS} SELECT f.file_id, m.num_rows FROM parquet_file_metadata($paths) AS m
            JOIN {_FILES} AS f ON f.path = m.file_name""",
        paths,
    )
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
    _check_file_order(con, _READ)
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
        f"""INSERT INTO {_COUNTS} SELECT f.file_id, count(*) FROM ({numbered}) AS n
            JOIN {_FILES} AS f ON f.path = n.filename GROUP BY 1"""
    )
    with_lines = {r[0] for r in con.execute(f"SELECT DISTINCT file_id FROM {_COUNTS}").fetchall()}
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
        if f.file_id not in with_lines:  # blank lines only; lines of `{}` must pass the header check
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
        # try_cast to DECIMAL(18,2) rounds '1.005' to 1.01: cast wider (same 16 integer digits) and keep
        # only values that are exact at 2 decimals.
        wide = f"try_cast({t} AS {_WIDE_AMOUNT})"
        return f"CASE WHEN {wide} = round({wide}, 2) THEN CAST({wide} AS DECIMAL(18,2)) END"
    raise ValueError(f"unknown field type {fl.type!r}")


def _reason_sql(fl: Field, v: str, date_format: str | None) -> str:
    """SQL giving the reject reason of text ``v`` that did not cast."""
    reason = lit(_reason(fl, date_format))
    if fl.type == "amount":
        exact_too_long = f"try_cast({v} AS {_WIDE_AMOUNT}) IS NOT NULL"
        return f"CASE WHEN {exact_too_long} THEN 'more than 2 decimal places' ELSE {reason} END"
    return reason


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
        f"SELECT s.rowid AS _rid, f.extract_date AS _extract_date, f.rel AS _rel, s._line, "
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
        trimmed = f"nullif(trim({v}), '')"
        cast = _cast_sql(fl, trimmed, date_format)
        if cast:
            parts.append(
                f"SELECT s._d, s._rel, s._ln, {lit(fl.column)}, {v}, {_reason_sql(fl, trimmed, date_format)} "
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
            file_id INTEGER, path VARCHAR, rel VARCHAR, extract_date DATE, n_headers INTEGER, fmt VARCHAR)"""
    )
    if all_files:
        con.executemany(
            f"INSERT INTO {_FILES} VALUES (?, ?, ?, ?, ?, ?)",
            [[f.file_id, str(f.path), f.rel, f.extract_date, len(f.headers), f.fmt] for f in all_files],
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
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_COUNTS} (file_id INTEGER, source_rows BIGINT)")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_RAGGED} (
            _file_id INTEGER, _line BIGINT, n_fields BIGINT, n_headers INTEGER, first_line VARCHAR)"""
    )
    csv_files = [f for f in files if f.fmt == "csv" and not f.empty]
    if csv_files:
        _read_csv_records(con, csv_files)
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
    # Ragged CSV rows: the whole row is rejected (no column), with its first line as the value.
    con.execute(
        f"""INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE}
            SELECT $object, f.extract_date, f.rel, r._line, NULL, r.first_line,
                   'row has ' || r.n_fields || ' field' || CASE WHEN r.n_fields = 1 THEN '' ELSE 's' END
                   || ', header has ' || r.n_headers, $loaded_at
            FROM {_RAGGED} AS r JOIN {_FILES} AS f ON f.file_id = r._file_id ORDER BY 2, 3, 4""",
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
    # Source rows from the files themselves (line-level read, Parquet metadata), not from the stage.
    source = _count_by_date(
        con,
        f"""SELECT f.extract_date, sum(c.source_rows)
            FROM {_COUNTS} AS c JOIN {_FILES} AS f ON f.file_id = c.file_id GROUP BY 1""",
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
        for table in (
            _FILES,
            _READ,
            f"{_READ}_lines",
            _STAGE,
            _LINES,
            _RECORDS,
            _CSV_READ,
            _RAGGED,
            _COUNTS,
            _TYPED,
            _DUPS,
        ):
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
        con.execute("SET TimeZone = ?", [time_zone])
    return results
