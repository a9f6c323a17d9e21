"""Load landing batches (one folder per object and extract date) into the ``raw`` schema.

Every batch goes through one path, whatever its file format:

1. each file's header is matched to the contract (``contract.header_key``); a missing key column,
   an unsupported file or an unreadable file fails the whole call (:class:`BatchError`);
2. the files of one format and header are read together (one DuckDB reader call; for CSV one per
   kind of file, see below, and a few more when rows are ragged), every value as text, into a staging
   table that keeps the file and the physical line each record starts on; reading only fills temp
   tables and happens before the load's transaction, so a failed read (the strict CSV read below)
   leaves the connection usable;
3. each value is trimmed and cast once in SQL (``TRY_CAST`` / ``try_strptime``); good rows go to the raw
   table, each bad cell of a bad row (unparseable, or an empty required field) to ``raw._rejects``;
   rows sharing key and version with different content are then moved from raw to the rejects;
4. all of it replaces the requested partitions (rows, rejects, audit) in one transaction, and
   ``source rows = loaded + rejected`` is checked per batch before committing.

Source rows are counted from the files, independently of the staging path, so a row the staging path
drops makes the load fail loudly instead of vanishing: CSV records from a line-level read (below),
JSON Lines non-blank lines, Parquet the row count in the file's metadata.

CSV files are also read as plain lines (``delim = chr(1), quote = ''``): DuckDB's CSV reader skips
blank lines and cannot say where a record started, so the line-level read gives each record its
physical first line. A line starts a record when it is not blank and the quotes before it are
balanced (an odd count means it continues a quoted value). The CSV reader's records are matched to
these by their position in the file, and the per-file counts must agree (else the file is reported as
unreadable). Per group of files sharing a header:

- One pass over the lines keeps, per line, only whether it is blank and whether its number of quotes
  is odd. A *plain* file (no odd line, no blank line before its last non-blank one) has one record
  per line: DuckDB's strict, parallel CSV reader stages it directly (its ``k``-th row on line
  ``k + 1``), with as many rows as non-blank lines less the header. The other files are read by the
  same reader into a temp table and matched to the record starts found from those flags.
- The strict reader fails on any record whose field count is not the header's. Then the files that
  fail on their own (the others are staged as above) are read as lines again for each record's field
  count (commas outside quotes, plus one) and with the CSV reader padding to the widest record. A
  record whose field count differs from the header's is a *ragged row*: it goes to the rejects
  (``row has 9 fields, header has 7``, no column, the first line as value), never to raw. A file
  that fails the strict read without a ragged row is unreadable.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

import duckdb

from orchestration.contract import (
    CONNECTOR_DELETED_COLUMNS,
    CONNECTOR_SYNC_COLUMNS,
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
from orchestration.ingestion import formats
from orchestration.sql import lit, q

#: File suffix -> reader. Files starting with ``.`` or ``_`` (``.DS_Store``, Spark's ``_SUCCESS``) are
#: not data and are skipped.
FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}
#: Amounts are parsed at this precision first (16 integer digits like DECIMAL(18,2)) to see extra decimals.
_WIDE_AMOUNT = "DECIMAL(38,22)"

#: ``committed`` is false for the rejects of a load that was refused (a failed blocking check, or a
#: batch error): they are written after the rollback, so a blocked batch still shows why.
REJECTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{REJECTS_TABLE} (
    object VARCHAR, extract_date DATE, source_file VARCHAR, source_line BIGINT,
    column_name VARCHAR, value VARCHAR, reason VARCHAR, loaded_at TIMESTAMP, committed BOOLEAN DEFAULT true
)"""
REJECT_COLUMNS = "object, extract_date, source_file, source_line, column_name, value, reason, loaded_at"
AUDIT_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{LOAD_AUDIT_TABLE} (
    object VARCHAR, extract_date DATE, source_files BIGINT, source_rows BIGINT,
    loaded_rows BIGINT, rejected_rows BIGINT, loaded_at TIMESTAMP
)"""

# Temporary tables of one load (per connection, dropped at the end).
_FILES = "_load_files"
_READ = "_load_read"
_STAGE = "_load_stage"
_LINES = "_load_csv_lines"  # CSV files with ragged rows as physical lines
_RECORDS = "_load_csv_records"  # CSV records: first physical line (and field count)
_CSV_READ = "_load_csv_read"  # one CSV group as read by DuckDB's CSV reader
_CSV_FILES = "_load_csv_files"  # per file of _CSV_READ (or of the stage): first rowid, rows
_LINE_FLAGS = "_load_csv_line_flags"  # per line of a CSV group: blank? odd number of quotes?
_LINE_COUNTS = "_load_csv_line_counts"  # per CSV file: first rowid of its lines, non-blank lines, plain?
_RAGGED = "_load_ragged"  # CSV records with the wrong number of fields
_COUNTS = "_load_source_counts"  # source rows per file, counted from the files
_TYPED = "_load_typed"
_DUPS = "_load_duplicates"
# The staged rows with their file. ``_line`` is the physical line of each, but NULL for the rows of a
# plain CSV file (staged straight from the reader): their line is ``rowid - line_base``.
_SOURCE = f"{_STAGE} AS s JOIN {_FILES} AS f ON f.file_id = s._file_id"
_SOURCE_LINE = "coalesce(s._line, s.rowid - f.line_base)"
_IN_DATES = "IN (SELECT unnest(CAST($dates AS DATE[])))"
_IN_IDS = "IN (SELECT unnest(CAST($ids AS INTEGER[])))"


class BatchError(Exception):
    """A batch that is wrong as a whole; the message names the file and the problem (and the fix).

    ``file`` (relative to the landing folder), ``extract_date`` and ``column`` say where, when known:
    the load records the error in ``raw._rejects`` (not committed) so a blocked batch shows why.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        extract_date: date | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.extract_date = extract_date
        self.column = column


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
    #: Contract columns absent from a file of the batch (loaded as NULL).
    missing_columns: tuple[str, ...] = ()
    #: Columns outside the contract, kept as VARCHAR.
    extra_columns: tuple[str, ...] = ()
    #: Raw date/timestamp column -> detected format label (several labels joined when files differ).
    column_formats: dict[str, str] = field(default_factory=dict)


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
    targets: tuple[str, ...] = ()  # raw column of each header, once mapped


@dataclass
class _Group:
    """Files of one format with the same columns: read with one reader call."""

    fmt: str
    headers: tuple[str, ...]
    types: tuple[str, ...]
    targets: tuple[str, ...]  # raw column of each source column
    files: list[_SourceFile] = field(default_factory=list)


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
    if "committed" not in _existing_columns(con, REJECTS_TABLE):  # warehouses from before the column
        con.execute(f"ALTER TABLE {RAW_SCHEMA}.{REJECTS_TABLE} ADD COLUMN committed BOOLEAN DEFAULT true")
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
        raise BatchError(
            f"{f.path}: unreadable CSV header (UTF-8 CSV expected): {exc}",
            file=f.rel,
            extract_date=f.extract_date,
        ) from exc
    raise BatchError(
        f"{f.path}: no header on line 1 (the first line is blank or its cells are all empty); "
        "a CSV file must start with its header"
    )


def _sniff_parquet_schema(con: duckdb.DuckDBPyConnection, f: _SourceFile) -> None:
    try:
        rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(f.path)]).fetchall()
    except duckdb.Error as exc:
        raise BatchError(
            f"{f.path}: unreadable Parquet file: {exc}", file=f.rel, extract_date=f.extract_date
        ) from exc
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
    # Report exports label the key "<Object> ID" ("Opportunity ID"); in another object's file the same
    # label is a lookup field of that object (OpportunityHistory.OpportunityId) and keeps that meaning.
    by_key.setdefault(header_key(obj.name + "Id"), obj.field(obj.key[0]))
    targets: list[str] = []
    seen: dict[str, str] = {}
    for h in f.headers:
        fl = by_key.get(header_key(h))
        target = fl.column if fl else _extra_column(h)
        if target in seen:
            raise BatchError(
                f"{f.path}: columns {seen[target]!r} and {h!r} both map to {target!r}; remove or rename one",
                file=f.rel,
                extract_date=f.extract_date,
                column=h,
            )
        seen[target] = h
        targets.append(target)
    fallbacks = {obj.field(k).column: obj.field(fb).column for k, fb in obj.key_fallbacks}
    missing = [
        fl.name
        for fl in obj.required_fields
        if fl.column not in seen and fallbacks.get(fl.column) not in seen
    ]
    if missing:
        raise BatchError(
            f"{f.path}: key column(s) {', '.join(missing)} missing from the header "
            f"(found: {', '.join(f.headers) or 'none'}); a record cannot be loaded without its key",
            file=f.rel,
            extract_date=f.extract_date,
            column=obj.field(missing[0]).column,
        )
    f.targets = tuple(targets)
    return f.targets


# -------------------------------------------------------------------------------------------- reading


def _csv_reader_sql(n_columns: int, *, ragged: bool, header: bool = False) -> str:
    """DuckDB's CSV reader, every value as text; the header is a data row (record 0) unless ``header``
    (then the first line is skipped).

    Without ragged rows it is strict (a field-count mismatch is an error) and parallel. With them, it
    pads short rows (``null_padding``, which DuckDB supports with quoted newlines only when not
    parallel) and reads ``n_columns`` >= the widest row; ``nullstr = chr(2)`` then keeps empty
    fields as '' so only padding is NULL.
    """
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n_columns))
    padding = "null_padding = true, parallel = false, nullstr = chr(2)" if ragged else "null_padding = false"
    return (
        f"read_csv($paths, header = {str(header).lower()}, columns = {{{columns}}}, delim = ',', "
        f"quote = '\"', escape = '\"', auto_detect = false, filename = true, encoding = 'utf-8', {padding})"
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

    Runs on a scratch connection, whatever state the failed read left the load's connection in.
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
    """How many times the ASCII ``char`` occurs in ``text`` (in bytes: faster than in characters)."""
    return f"(strlen({text}) - strlen(replace({text}, {lit(char)}, '')))"


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


def _file_rows_sql(table: str) -> str:
    """Per file of ``table`` (read in file order, with ``filename``): file id, first rowid, row count."""
    return f"""SELECT f.file_id, f.path AS filename, t.base, t.n_rows
               FROM (SELECT filename, min(rowid) AS base, count(*) AS n_rows FROM {table} GROUP BY 1) AS t
               JOIN {_FILES} AS f ON f.path = t.filename"""


def _file_id_sql() -> str:
    """The file id of a reader row, from its ``filename`` and the call's ``$paths`` and ``$ids``."""
    return "CAST($ids AS INTEGER[])[list_position($paths, filename)]"


def _read_csv_group(con: duckdb.DuckDBPyConnection, g: _Group) -> None:
    """Stage the files of one CSV header, each record with its physical line.

    :func:`_flag_csv_lines` sorts the files into plain ones (one record per line) and the others;
    each kind is read with DuckDB's strict, parallel CSV reader, which fails on a record whose field
    count is not the header's. The files that fail it on their own (a ragged row, usually in one file)
    are read again with their field counts (:func:`_read_ragged_files`). Reads run outside the load's
    transaction, so a failed read leaves the connection usable.
    """
    strict = _csv_reader_sql(len(g.headers), ragged=False)
    plain, spanning = _flag_csv_lines(con, g)
    failing, failure = _read_strict(con, g, plain, strict, _stage_plain_files)
    more, more_failure = _read_strict(con, g, spanning, strict, _stage_spanning_files)
    failing, failure = failing + more, failure or more_failure
    if failing and failure is not None:
        _read_ragged_files(con, replace(g, files=failing), strict, failure)
    for table in (_LINE_FLAGS, _LINE_COUNTS):
        con.execute(f"DROP TABLE {table}")


def _read_strict(
    con: duckdb.DuckDBPyConnection,
    g: _Group,
    files: list[_SourceFile],
    strict: str,
    stage: Callable[[duckdb.DuckDBPyConnection, _Group, str], duckdb.Error | None],
) -> tuple[list[_SourceFile], duckdb.Error | None]:
    """Stage ``files`` with ``stage``, which returns the error of its strict read when that fails (and
    stages nothing); return the files the strict read fails on (the others are staged) and the error."""
    failure = stage(con, replace(g, files=files), strict) if files else None
    if failure is None:
        return [], None
    failing = _failing_files(con, files, strict) if len(files) > 1 else files
    readable = [f for f in files if f not in failing]
    if readable and stage(con, replace(g, files=readable), strict) is not None:
        return files, failure
    return failing, failure


def _failing_files(
    con: duckdb.DuckDBPyConnection, files: list[_SourceFile], reader: str
) -> list[_SourceFile]:
    """The files that ``reader`` fails to read on their own (all of them if none does)."""
    failing = []
    for f in files:
        try:
            con.execute(f"SELECT count(*) FROM {reader}", {"paths": [str(f.path)]}).fetchall()
        except duckdb.Error:
            failing.append(f)
    return failing or files


def _flag_csv_lines(con: duckdb.DuckDBPyConnection, g: _Group) -> tuple[list[_SourceFile], list[_SourceFile]]:
    """Read the group's files as lines once, keeping per line only whether it is blank and whether it
    holds an odd number of quotes (``_load_csv_line_flags``, in file order), and per file its first
    rowid and non-blank lines (``_load_csv_line_counts``); return the plain files and the others.

    A plain file has no odd line (so no value spans lines) and no blank line before its last non-blank
    one: its records are its first non-blank lines, one per line, from line 1 on.
    """
    reader = _lines_reader_sql()
    odd = _count_sql("line", '"') + " % 2 = 1"
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_LINE_FLAGS} AS
                SELECT {_file_id_sql()} AS file_id, coalesce(line, '') = '' AS blank,
                       coalesce({odd}, false) AS odd
                FROM {reader}""",
            {"paths": [str(f.path) for f in g.files], "ids": [f.file_id for f in g.files]},
        )
    except duckdb.Error as exc:
        _read_failed(g.files, reader, exc)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_LINE_COUNTS} AS
            SELECT file_id, min(rowid) AS base, count(*) FILTER (NOT blank) AS n_text,
                   max(rowid) - min(rowid) + 1 = count(*) AS in_order,
                   NOT bool_or(odd) AND coalesce(max(rowid) FILTER (NOT blank) - min(rowid) + 1
                                                 = count(*) FILTER (NOT blank), true) AS plain
            FROM {_LINE_FLAGS} GROUP BY 1"""
    )
    counts = con.execute(f"SELECT file_id, in_order, plain FROM {_LINE_COUNTS}").fetchall()
    if not all(in_order for _, in_order, _ in counts):
        raise RuntimeError(
            f"{g.files[0].path}: lines were not read in file order (loader bug, please report)"
        )
    plain = {file_id for file_id, _, is_plain in counts if is_plain}
    return [f for f in g.files if f.file_id in plain], [f for f in g.files if f.file_id not in plain]


def _stage_plain_files(con: duckdb.DuckDBPyConnection, g: _Group, strict: str) -> duckdb.Error | None:
    """Stage plain files straight from the strict reader (no copy in between), or return its error.

    Their header is line 1 (``header = true`` skips it) and each record one line: the rows of a file
    stay contiguous and in order in the stage, so a row's line is ``rowid - line_base`` (kept in
    ``_load_files``; ``_line`` stays NULL). The reader's rows per file must be the non-blank lines
    less the header.
    """
    ids = [f.file_id for f in g.files]
    values = ", ".join(f"nullif(c{i}, '')" for i in range(len(g.headers)))
    cols = ", ".join(["_file_id", "_line", *(q(t) for t in g.targets)])
    reader = _csv_reader_sql(len(g.headers), ragged=False, header=True)
    try:
        con.execute(
            f"INSERT INTO {_STAGE} ({cols}) SELECT {_file_id_sql()}, NULL, {values} FROM {reader}",
            {"paths": [str(f.path) for f in g.files], "ids": ids},
        )
    except duckdb.Error as exc:
        return exc
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_CSV_FILES} AS
            SELECT c.file_id, c.n_text - 1 AS source_rows, s.base, coalesce(s.n_rows, 0) AS n_rows,
                   s.last_rowid - s.base + 1 = s.n_rows AS in_order
            FROM {_LINE_COUNTS} AS c
            LEFT JOIN (SELECT _file_id, min(rowid) AS base, max(rowid) AS last_rowid, count(*) AS n_rows
                       FROM {_STAGE} WHERE _file_id {_IN_IDS} GROUP BY 1) AS s ON s._file_id = c.file_id
            WHERE c.file_id {_IN_IDS}""",
        {"ids": ids},
    )
    broken = con.execute(
        f"SELECT f.path FROM {_CSV_FILES} AS c JOIN {_FILES} AS f USING (file_id) WHERE NOT in_order LIMIT 1"
    ).fetchone()
    if broken:
        raise RuntimeError(f"{broken[0]}: rows were not read in file order (loader bug, please report)")
    mismatch = con.execute(
        f"""SELECT f.path FROM {_CSV_FILES} AS c JOIN {_FILES} AS f USING (file_id)
            WHERE c.n_rows <> c.source_rows ORDER BY f.file_id LIMIT 1"""
    ).fetchone()
    if mismatch:
        _records_disagree(mismatch[0], None)
    con.execute(f"INSERT INTO {_COUNTS} SELECT file_id, source_rows FROM {_CSV_FILES}")
    # Data line 2 is the file's first row in the stage.
    con.execute(
        f"""UPDATE {_FILES} AS f SET line_base = c.base - 2
            FROM {_CSV_FILES} AS c WHERE c.file_id = f.file_id"""
    )
    con.execute(f"DROP TABLE {_CSV_FILES}")
    return None


def _stage_spanning_files(con: duckdb.DuckDBPyConnection, g: _Group, strict: str) -> duckdb.Error | None:
    """Stage files with blank lines or values spanning lines: strict read into ``_load_csv_read``,
    record starts from the line flags, matched by position (:func:`_stage_csv_read`); or return the
    strict read's error."""
    try:
        _read_csv_as(con, g.files, strict, len(g.headers))
    except duckdb.Error as exc:
        return exc
    # Record starts: non-blank lines with an even number of quotes before them (the odd lines tell the
    # parity). Record 1 is the header; data records are numbered from 0 like the reader's rows.
    window = "(PARTITION BY l.file_id ORDER BY l.rowid ROWS UNBOUNDED PRECEDING)"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_RECORDS} AS
            SELECT * FROM (
                SELECT file_id AS _file_id, _line, {len(g.headers)} AS n_fields,
                       row_number() OVER (PARTITION BY file_id ORDER BY _line) - 2 AS _record
                FROM (SELECT l.file_id, l.rowid - c.base + 1 AS _line, l.blank,
                             (sum(CAST(l.odd AS INTEGER)) OVER {window} - CAST(l.odd AS INTEGER)) % 2 = 1
                                 AS in_quotes
                      FROM {_LINE_FLAGS} AS l JOIN {_LINE_COUNTS} AS c USING (file_id)
                      WHERE l.file_id {_IN_IDS})
                WHERE NOT in_quotes AND NOT blank)
            WHERE _record >= 0""",
        {"ids": [f.file_id for f in g.files]},
    )
    con.execute(f"INSERT INTO {_COUNTS} SELECT _file_id, count(*) FROM {_RECORDS} GROUP BY 1")
    _stage_csv_read(con, g)
    return None


def _read_ragged_files(con: duckdb.DuckDBPyConnection, g: _Group, strict: str, failure: duckdb.Error) -> None:
    """Files whose strict read failed: count each record's fields; with ragged records, read the files
    padded to the widest record and stage the others (the ragged ones are rejects); without, the
    files are unreadable."""
    n = len(g.headers)
    _read_csv_records(con, g.files, n_headers=n)
    widest, n_ragged = con.execute(
        f"SELECT max(n_fields), count(*) FILTER (n_fields <> {n}) FROM {_RECORDS}"
    ).fetchone()
    if not n_ragged:
        _read_failed(g.files, strict, failure)
    width = max(n, widest)
    padded = _csv_reader_sql(width, ragged=True)
    try:
        _read_csv_as(con, g.files, padded, width)
    except duckdb.Error as exc:
        _read_failed(g.files, padded, exc)
    _stage_csv_read(con, g, padded_width=width)


def _read_csv_as(con: duckdb.DuckDBPyConnection, files: list[_SourceFile], reader: str, width: int) -> None:
    """``_load_csv_read``: ``files`` as ``reader`` reads them, header row included, in file order."""
    cols = ", ".join(f"c{i}" for i in range(width))
    con.execute(
        # No join here: a hash join does not keep the reader's order, which numbers the rows.
        f"CREATE OR REPLACE TEMP TABLE {_CSV_READ} AS SELECT filename, {cols} FROM {reader}",
        {"paths": [str(f.path) for f in files]},
    )
    _check_file_order(con, _CSV_READ)


def _read_csv_records(con: duckdb.DuckDBPyConnection, files: list[_SourceFile], *, n_headers: int) -> None:
    """Read CSV files as lines; ``_load_csv_records`` gets each data record's physical first line and
    field count, ``_load_ragged`` the records whose field count is not ``n_headers`` (the header's).

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
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_LINES}_files AS {_file_rows_sql(_LINES)}")
    window = "(PARTITION BY _file_id ORDER BY _line ROWS UNBOUNDED PRECEDING)"
    outside = (
        "regexp_replace(CASE WHEN _in_before THEN '\"' ELSE '' END || _text "
        "|| CASE WHEN _q % 2 = 1 THEN '\"' ELSE '' END, '\"[^\"]*\"', '', 'g')"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_RECORDS} AS
            WITH numbered AS (
                SELECT b.file_id AS _file_id, n.rowid - b.base + 1 AS _line, coalesce(n.line, '') AS _text,
                       {_count_sql("coalesce(n.line, '')", '"')} AS _nq
                FROM {_LINES} AS n JOIN {_LINES}_files AS b ON b.filename = n.filename
            ), parity AS (
                SELECT *, (_q - _nq) % 2 = 1 AS _in_before
                FROM (SELECT *, sum(_nq) OVER {window} AS _q FROM numbered)
            ), starts AS (
                SELECT *, {_count_sql("_bare", ",")} AS _commas FROM (
                    SELECT *, NOT _in_before AND _text <> '' AS _start,
                           CASE WHEN _nq = 0 AND NOT _in_before THEN _text ELSE {outside} END AS _bare
                    FROM parity)
            ), records AS (
                SELECT *, sum(CAST(_start AS INTEGER)) OVER {window} AS _record FROM starts
            )
            -- record 1 is the header; data records are numbered from 0 like the CSV reader's rows
            SELECT _file_id, _record - 2 AS _record, min(_line) AS _line, 1 + sum(_commas) AS n_fields
            FROM records WHERE _record >= 2 AND (_start OR _in_before)
            GROUP BY _file_id, _record"""
    )
    # The first line of a ragged record is its reject value: looked up for those records only.
    con.execute(
        f"""INSERT INTO {_RAGGED}
            SELECT r._file_id, r._line, r.n_fields, {n_headers}, left(coalesce(n.line, ''), 1000)
            FROM {_RECORDS} AS r JOIN {_LINES}_files AS b ON b.file_id = r._file_id
            JOIN {_LINES} AS n ON n.rowid = b.base + r._line - 1
            WHERE r.n_fields <> {n_headers}"""
    )
    con.execute(f"INSERT INTO {_COUNTS} SELECT _file_id, count(*) FROM {_RECORDS} GROUP BY 1")
    con.execute(f"DROP TABLE {_LINES}")
    con.execute(f"DROP TABLE {_LINES}_files")


def _records_disagree(path: str, line: int | None) -> None:
    where = f" near line {line}" if line is not None else ""
    raise BatchError(
        f"{path}: unreadable CSV file: its records could not be told apart{where} "
        "(a stray quote? RFC 4180 quoting expected)"
    )


def _stage_csv_read(con: duckdb.DuckDBPyConnection, g: _Group, *, padded_width: int | None = None) -> None:
    """Stage ``_load_csv_read``: its rows are matched to ``_load_csv_records`` by their position in the
    file, ragged records left out (they are rejects).

    The per-file counts must agree with the line-level ones, and with ragged rows present (a padded
    read) every kept row must have exactly the header's fields, so a disagreement between the two
    reads fails the file instead of shifting lines.
    """
    n = len(g.headers)
    ids = [f.file_id for f in g.files]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_CSV_FILES} AS {_file_rows_sql(_CSV_READ)}")
    rows = f"""SELECT c.file_id AS _file_id, r.*, r.rowid - c.base - 1 AS _record
               FROM {_CSV_READ} AS r JOIN {_CSV_FILES} AS c ON c.filename = r.filename"""
    bad_rows = "SELECT NULL::INTEGER AS _file_id, NULL::BIGINT AS _line WHERE false"
    if padded_width is not None:
        # Only the padded read tells short rows apart (NULL is padding); the strict read errors on them.
        width_ok = f"r.c{n - 1} IS NOT NULL" + (f" AND r.c{n} IS NULL" if padded_width > n else "")
        bad_rows = f"""SELECT r._file_id, min(k._line) AS _line FROM ({rows}) AS r
                       JOIN {_RECORDS} AS k ON k._file_id = r._file_id AND k._record = r._record
                       WHERE k.n_fields = {n} AND NOT ({width_ok}) GROUP BY 1"""
    mismatch = con.execute(
        f"""WITH line_counts AS (
                    SELECT file_id, sum(source_rows) AS n FROM {_COUNTS}
                    WHERE file_id {_IN_IDS} GROUP BY 1),
                 bad_rows AS ({bad_rows})
            SELECT f.path, b._line FROM {_FILES} AS f
            LEFT JOIN {_CSV_FILES} AS c ON c.file_id = f.file_id
            LEFT JOIN line_counts AS lc ON lc.file_id = f.file_id
            LEFT JOIN bad_rows AS b ON b._file_id = f.file_id
            WHERE f.file_id {_IN_IDS}
              AND (coalesce(c.n_rows - 1, -1) <> coalesce(lc.n, 0) OR b._line IS NOT NULL)
            ORDER BY f.file_id LIMIT 1""",
        {"ids": ids},
    ).fetchone()
    if mismatch:
        _records_disagree(*mismatch)
    values = ", ".join(f"nullif(r.c{i}, '')" for i in range(n))
    _stage_insert(
        con,
        g.targets,
        f"""SELECT r._file_id, k._line, {values} FROM ({rows}) AS r
            JOIN {_RECORDS} AS k ON k._file_id = r._file_id AND k._record = r._record
            WHERE k.n_fields = {n}""",
    )
    for table in (_CSV_READ, _CSV_FILES, _RECORDS):
        con.execute(f"DROP TABLE {table}")


def _parquet_value(column: str, duck_type: str) -> str:
    """A Parquet value as text, so it goes through the same casts as CSV (typed dates and timestamps
    become ISO 8601 text, which the format detection reads as such)."""
    ref = f"r.{q(column)}"
    if duck_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"strftime(timezone('UTC', {ref}), '%Y-%m-%dT%H:%M:%S.%f')"
    return f"nullif(CAST({ref} AS VARCHAR), '')"


def _read_parquet_group(con: duckdb.DuckDBPyConnection, g: _Group) -> None:
    paths = {"paths": [str(f.path) for f in g.files]}
    con.execute(
        f"""INSERT INTO {_COUNTS} SELECT f.file_id, m.num_rows FROM parquet_file_metadata($paths) AS m
            JOIN {_FILES} AS f ON f.path = m.file_name""",
        paths,
    )
    reader = "read_parquet($paths, filename = true, file_row_number = true)"
    values = ", ".join(_parquet_value(h, t) for h, t in zip(g.headers, g.types, strict=True))
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

#: Raw column -> file id -> the date format its values are read in (date and timestamp fields only).
ColumnFormats = dict[str, dict[int, formats.DateFormat]]


def _trimmed(column: str) -> str:
    return f"nullif(trim({q(column)}), '')"


def _setting_for(obj: LandingObject, fl: Field, date_formats: Mapping[str, str]) -> formats.DateFormat | None:
    text = date_formats.get(fl.name) or date_formats.get(fl.column) or date_formats.get("*")
    return formats.from_setting(text) if text else None


def _detect_formats(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    files: list[_SourceFile],
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
    rows = con.execute(formats.stats_query(_STAGE, [q(fl.column) for fl in fields])).fetchall()
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


def _raise_ambiguous(con: duckdb.DuckDBPyConnection, obj: LandingObject, fl: Field, f: _SourceFile) -> None:
    samples = [
        r[0]
        for r in con.execute(
            f"""SELECT DISTINCT {_trimmed(fl.column)} AS v FROM {_STAGE}
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


def _is_empty(v: str) -> str:
    return f"({v} IS NULL OR trim({v}) = '')"


def _connector_overrides(obj: LandingObject, extras: Sequence[str]) -> dict[str, str]:
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


def _build_typed(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, extras: list[str], fmts: ColumnFormats
) -> None:
    """``_load_typed``: each staged row cast once, with its batch, file, line and ``_ok`` (no bad cell).

    Three levels so each value is trimmed once and cast once: text -> trimmed -> typed -> verdict.
    """
    overrides = _connector_overrides(obj, extras)
    trimmed, casts, outputs, checks = [], [], [], []
    for i, fl in enumerate(obj.fields):
        raw = f"s.{q(fl.column)}"
        cast = _cast_sql(fl, f"__v{i}", fmts.get(fl.column))
        if cast is None:
            outputs.append(f"{q(fl.column)}")
            if fl.required:
                checks.append(f"NOT {_is_empty(q(fl.column))}")
            continue
        trimmed.append(f"nullif(trim({raw}), '') AS __v{i}")
        casts.append(f"{cast} AS __t{i}")
        value = overrides.get(fl.column, "{value}").replace("{value}", f"__t{i}")
        outputs.append(f"{value} AS {q(fl.column)}")
        checks.append(f"(__v{i} IS NOT NULL OR NOT {str(fl.required).lower()})")
        checks.append(f"(__v{i} IS NULL OR __t{i} IS NOT NULL)")
    ok = " AND ".join(checks) or "true"
    extra_cols = "".join(f", {q(c)}" for c in extras)
    level1 = (
        f"SELECT s.rowid AS _rid, f.extract_date AS _extract_date, f.rel AS _rel, {_SOURCE_LINE} AS _line, "
        f"s.* EXCLUDE (_line), {', '.join(trimmed) or 'NULL AS __none'} FROM {_SOURCE}"
    )
    level2 = f"SELECT *, {', '.join(casts) or 'NULL AS __none2'} FROM ({level1})"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_TYPED} AS
            SELECT _rid, _extract_date, _rel, _line, {", ".join(outputs)}{extra_cols}, {ok} AS _ok
            FROM ({level2})"""
    )


def _cell_rejects_sql(obj: LandingObject, fmts: ColumnFormats) -> str:
    """One reject row per bad cell; the per-column checks run only over the rows that failed (few)."""
    parts = []
    for fl in obj.fields:
        v = f"s.{q(fl.column)}"
        if fl.required:
            parts.append(
                f"SELECT s._d, s._rel, s._ln, {lit(fl.column)} AS column_name, {v} AS value, "
                f"'key field is empty' AS reason FROM bad AS s WHERE {_is_empty(v)}"
            )
        trimmed = f"nullif(trim({v}), '')"
        cast = _cast_sql(fl, trimmed, fmts.get(fl.column))
        if cast:
            parts.append(
                f"SELECT s._d, s._rel, s._ln, {lit(fl.column)}, {v}, "
                f"{_reason_sql(fl, trimmed, fmts.get(fl.column))} "
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
        f"""INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE} ({REJECT_COLUMNS})
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
            file_id INTEGER, path VARCHAR, rel VARCHAR, extract_date DATE, n_headers INTEGER, fmt VARCHAR,
            line_base BIGINT)"""
    )
    if all_files:
        con.executemany(
            f"INSERT INTO {_FILES} VALUES (?, ?, ?, ?, ?, ?, NULL)",
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


def _stage_all(con: duckdb.DuckDBPyConnection, obj: LandingObject, files: list[_SourceFile]) -> list[str]:
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
            _read_parquet_group(con, g)
    if jsonl:
        _read_jsonl_files(con, obj, jsonl, add_extras)
    for key, fallback in obj.key_fallbacks:  # e.g. OpportunityStage exported with MasterLabel only
        k, fb = q(obj.field(key).column), q(obj.field(fallback).column)
        con.execute(f"UPDATE {_STAGE} SET {k} = {fb} WHERE {_is_empty(k)}")
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
    fmts: ColumnFormats,
) -> None:
    """Delete the partitions; cast the stage once; good rows to raw, bad cells to the rejects;
    finally move conflicting duplicates from raw to the rejects."""
    con.execute(f"DELETE FROM {raw_table(obj)} WHERE _extract_date {_IN_DATES}", {"dates": dates})
    for table in (REJECTS_TABLE, LOAD_AUDIT_TABLE):
        con.execute(
            f"DELETE FROM {RAW_SCHEMA}.{table} WHERE object = $object AND extract_date {_IN_DATES}",
            {"dates": dates, "object": obj.name},
        )
    _build_typed(con, obj, extras, fmts)
    data_cols = ", ".join(q(c) for c in [*obj.columns, *extras])
    target = ", ".join(q(c) for c in [*obj.columns, *extras, *LINEAGE_COLUMNS])
    con.execute(
        f"""INSERT INTO {raw_table(obj)} ({target})
            SELECT {data_cols}, _extract_date, _rel, _line, $loaded_at FROM {_TYPED} WHERE _ok""",
        {"loaded_at": loaded_at},
    )
    con.execute(
        f"""INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE} ({REJECT_COLUMNS})
            SELECT $object, r.*, $loaded_at FROM ({_cell_rejects_sql(obj, fmts)}) AS r
            ORDER BY 2, 3, 4""",
        {"object": obj.name, "loaded_at": loaded_at},
    )
    # Ragged CSV rows: the whole row is rejected (no column), with its first line as the value.
    con.execute(
        f"""INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE} ({REJECT_COLUMNS})
            SELECT $object, f.extract_date, f.rel, r._line, NULL, r.first_line,
                   'row has ' || r.n_fields || ' field' || CASE WHEN r.n_fields = 1 THEN '' ELSE 's' END
                   || ', header has ' || r.n_headers, $loaded_at
            FROM {_RAGGED} AS r JOIN {_FILES} AS f ON f.file_id = r._file_id ORDER BY 2, 3, 4""",
        {"object": obj.name, "loaded_at": loaded_at},
    )
    _move_conflicting_duplicates(con, obj, dates, extras, loaded_at)


def _batch_shape(
    obj: LandingObject, files: Sequence[_SourceFile], extras: Sequence[str], fmts: ColumnFormats
) -> dict[str, object]:
    """Missing and extra columns and the detected date formats of one batch's files."""
    read = [f for f in files if not f.empty]
    seen = {t for f in read for t in f.targets}
    filled = {obj.field(k).column: obj.field(fb).column for k, fb in obj.key_fallbacks}
    stand_in = _connector_overrides(obj, extras)  # a connector's columns stand in for these

    def absent(column: str, f: _SourceFile) -> bool:
        return column not in f.targets and filled.get(column) not in f.targets and column not in stand_in

    missing = [fl.column for fl in obj.fields if read and any(absent(fl.column, f) for f in read)]
    labels: dict[str, str] = {}
    for column, by_file in fmts.items():
        used = sorted({by_file[f.file_id].label for f in read if f.file_id in by_file})
        if used:
            labels[column] = " / ".join(used)
    return {
        "missing_columns": tuple(missing),
        "extra_columns": tuple(c for c in extras if c in seen),
        "column_formats": labels,
    }


def _count_by_date(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> dict[date, int]:
    return {d: n for d, n in con.execute(sql, params).fetchall()}


def _audit(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    batches: dict[date, tuple[bool, list[_SourceFile]]],
    loaded_at: datetime,
    extras: Sequence[str],
    fmts: ColumnFormats,
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
            FROM {RAW_SCHEMA}.{REJECTS_TABLE}
            WHERE object = $object AND extract_date {_IN_DATES} AND committed IS NOT FALSE
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
            **_batch_shape(obj, files, extras, fmts),
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


def _locate(exc: BatchError, landing_dir: Path) -> None:
    """Fill in the file and extract date of a batch error whose message starts with the file's path
    (``<landing>/<Object>/<YYYY-MM-DD>/<file>: ...``), so the error is recorded against its batch."""
    if exc.file is not None:
        return
    path = Path(str(exc).split(": ", 1)[0])
    try:
        rel = path.relative_to(landing_dir)
    except ValueError:
        return
    if len(rel.parts) >= 3 and (day := _parse_date(rel.parts[1])) is not None:
        exc.file, exc.extract_date = rel.as_posix(), day


def _keep_refused_rejects(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, dates: list[date], rows: list[tuple]
) -> None:
    """Write the rejects of a refused load (``committed = false``) after its rollback, replacing the
    refused rejects an earlier attempt left for the same dates."""
    con.begin()
    try:
        ensure_raw_schema(con)
        con.execute(
            f"""DELETE FROM {RAW_SCHEMA}.{REJECTS_TABLE}
                WHERE object = $object AND extract_date {_IN_DATES} AND committed = false""",
            {"object": obj.name, "dates": dates},
        )
        if rows:
            con.executemany(
                f"INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE} ({REJECT_COLUMNS}, committed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, false)",
                rows,
            )
        con.commit()
    except BaseException:
        con.rollback()
        raise


#: Most rejects of a refused load kept after its rollback (each one a row in ``raw._rejects``).
MAX_REFUSED_REJECTS = 100_000


def load_batches(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    landing_dir: Path,
    extract_dates: Sequence[date],
    *,
    date_formats: Mapping[str, str] | None = None,
    before_commit: Callable[[duckdb.DuckDBPyConnection], bool] | None = None,
) -> list[BatchResult]:
    """Load the batches of ``obj`` for ``extract_dates`` and replace those partitions, in one transaction.

    ``before_commit(con)`` runs inside the transaction once the rows are in place (it sees them); when it
    returns False the whole load is rolled back, so the raw table keeps what it had: a batch that fails a
    blocking landing check never reaches raw, and no later run can build on it. Its rejects are then
    kept in ``raw._rejects`` with ``committed = false`` (so are batch errors), so a refused load still
    shows why.

    A missing folder is a batch with ``found=False`` and no rows (its partition is emptied, so the raw
    table mirrors the landing folder). Date and timestamp formats are detected per file and column;
    ``date_formats`` settles US/day-first ambiguity: field API name (or ``"*"`` for every field) ->
    ``MDY``, ``DMY`` or a strptime pattern. Raises :class:`BatchError` when a batch is wrong as a
    whole; then nothing of this call is loaded. Returns one result per date, in date order.
    """
    landing_dir = Path(landing_dir).absolute()
    dates = sorted(set(extract_dates))
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    time_zone = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    con.execute("SET TimeZone = 'UTC'")  # naive timestamps are UTC; offsets convert to UTC
    try:
        # Files are read into temp tables before the transaction: a failed read (the strict CSV read of
        # a group with ragged rows) must leave the connection usable for the next read.
        try:
            batches, files = _prepare_files(con, obj, landing_dir, dates)
            extras = _stage_all(con, obj, files)
            fmts = _detect_formats(con, obj, files, date_formats or {})
        except BatchError as exc:
            _locate(exc, landing_dir)
            row = (obj.name, exc.extract_date, exc.file, None, exc.column, None, str(exc)[:4000], loaded_at)
            _keep_refused_rejects(con, obj, dates, [row] if exc.extract_date else [])
            raise
        con.begin()
        try:
            ensure_raw_schema(con)
            _add_raw_extras(con, obj, extras)
            _replace_partitions(con, obj, dates, extras, loaded_at, fmts)
            results = _audit(con, obj, batches, loaded_at, extras, fmts)
            accepted = before_commit is None or before_commit(con)
            refused = []
            if not accepted:
                refused = con.execute(
                    f"""SELECT {REJECT_COLUMNS} FROM {RAW_SCHEMA}.{REJECTS_TABLE}
                        WHERE object = $object AND extract_date {_IN_DATES}
                        ORDER BY extract_date, source_file, source_line LIMIT {MAX_REFUSED_REJECTS}""",
                    {"object": obj.name, "dates": dates},
                ).fetchall()
        except BaseException:
            con.rollback()
            raise
        if accepted:
            con.commit()
        else:
            con.rollback()
            _keep_refused_rejects(con, obj, dates, refused)
            results = [replace(r, committed=False) for r in results]
    finally:
        for table in (
            _FILES,
            _READ,
            f"{_READ}_lines",
            _STAGE,
            _LINES,
            _RECORDS,
            _CSV_READ,
            _CSV_FILES,
            _LINE_FLAGS,
            _LINE_COUNTS,
            f"{_LINES}_files",
            _RAGGED,
            _COUNTS,
            _TYPED,
            _DUPS,
        ):
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
        con.execute("SET TimeZone = ?", [time_zone])
    return results
