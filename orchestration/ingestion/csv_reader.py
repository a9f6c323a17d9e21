"""CSV files into the stage through DuckDB's CSV reader, each record with the physical line it starts on.

The reader's records are matched to the record starts that :mod:`.csv_lines` finds in the same files
read as lines, by position in the file, and the per-file counts must agree, else the file is
unreadable. Each group is read with its detected delimiter (:mod:`.dialect`) and, when a line is longer
than DuckDB's 2 MB default, a larger limit.

Files without odd lines or inner blank lines (*plain*: one record per line) are staged straight from
DuckDB's strict, parallel reader; the others through a temp table matched to the record starts. The
strict reader fails on a record whose field count is not the header's: the files that fail on their
own are read again with each record's field count and padded to the widest record. Such a *ragged
row* is a whole-row reject (``row has 9 fields, header has 7``, the first line as value), never raw.
DuckDB's own ``store_rejects`` was weighed against this and not taken: see docs/DECISIONLOG.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import duckdb

from orchestration.ingestion.batch import BatchError, Group, SourceFile
from orchestration.ingestion.csv_lines import (
    IN_IDS,
    LINE_COUNTS,
    RECORDS,
    drop_line_tables,
    file_id_sql,
    file_rows_sql,
    flag_csv_lines,
    read_csv_records,
    record_starts,
)
from orchestration.ingestion.readers import check_file_order, read_failed, stage_insert
from orchestration.ingestion.temp import COUNTS, FILES, STAGE, temp_table
from orchestration.sql import lit, one_row, q

# Temp tables of one CSV group (dropped as soon as the group is staged, and by ``temp_tables``).
_CSV_READ = temp_table("_load_csv_read")  # one CSV group as read by DuckDB's CSV reader
_CSV_FILES = temp_table("_load_csv_files")  # per file of _CSV_READ (or of the stage): first rowid, rows


def _csv_reader_sql(g: Group, n_columns: int, *, ragged: bool, header: bool = False) -> str:
    """DuckDB's CSV reader, every value as text; the header is a data row (record 0) unless ``header``
    (then the first line is skipped). The group's delimiter; a line limit above DuckDB's 2 MB default
    only for a group holding a longer line (``g.max_line_size``).

    Without ragged rows it is strict (a field-count mismatch is an error) and parallel. With them, it
    pads short rows (``null_padding``, which DuckDB supports with quoted newlines only when not
    parallel) and reads ``n_columns`` >= the widest row; ``nullstr = chr(2)`` then keeps empty
    fields as '' so only padding is NULL.
    """
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n_columns))
    padding = "null_padding = true, parallel = false, nullstr = chr(2)" if ragged else "null_padding = false"
    if g.max_line_size:
        padding += f", max_line_size = {g.max_line_size}"
    return (
        f"read_csv($paths, header = {str(header).lower()}, columns = {{{columns}}}, "
        f"delim = {lit(g.delimiter)}, quote = '\"', escape = '\"', auto_detect = false, filename = true, "
        f"encoding = 'utf-8', {padding})"
    )


def read_csv_group(con: duckdb.DuckDBPyConnection, g: Group) -> None:
    """Stage the files of one CSV header, each record with its physical line.

    :func:`flag_csv_lines` sorts the files into plain ones (one record per line) and the others;
    each kind is read with DuckDB's strict, parallel CSV reader, which fails on a record whose field
    count is not the header's. The files that fail it on their own (a ragged row, usually in one file)
    are read again with their field counts (:func:`_read_ragged_files`). Reads run outside the load's
    transaction, so a failed read leaves the connection usable.
    """
    plain, spanning = flag_csv_lines(con, g)
    strict = _csv_reader_sql(g, len(g.headers), ragged=False)
    failing, failure = _read_strict(con, g, plain, strict, _stage_plain_files)
    more, more_failure = _read_strict(con, g, spanning, strict, _stage_spanning_files)
    failing, failure = failing + more, failure or more_failure
    if failing and failure is not None:
        _read_ragged_files(con, replace(g, files=failing), strict, failure)
    drop_line_tables(con)


def _read_strict(
    con: duckdb.DuckDBPyConnection,
    g: Group,
    files: list[SourceFile],
    strict: str,
    stage: Callable[[duckdb.DuckDBPyConnection, Group, str], duckdb.Error | None],
) -> tuple[list[SourceFile], duckdb.Error | None]:
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


def _failing_files(con: duckdb.DuckDBPyConnection, files: list[SourceFile], reader: str) -> list[SourceFile]:
    """The files that ``reader`` fails to read on their own (all of them if none does)."""
    failing = []
    for f in files:
        try:
            con.execute(f"SELECT count(*) FROM {reader}", {"paths": [f.src]}).fetchall()
        except duckdb.Error:
            failing.append(f)
    return failing or files


def _stage_plain_files(con: duckdb.DuckDBPyConnection, g: Group, strict: str) -> duckdb.Error | None:
    """Stage plain files straight from the strict reader (no copy in between), or return its error.

    Their header is line 1 (``header = true`` skips it) and each record one line: the rows of a file
    stay contiguous and in order in the stage, so a row's line is ``rowid - line_base`` (kept in
    ``_load_files``; ``_line`` stays NULL). The reader's rows per file must be the non-blank lines
    less the header.
    """
    ids = [f.file_id for f in g.files]
    values = ", ".join(f"nullif(c{i}, '')" for i in range(len(g.headers)))
    cols = ", ".join(["_file_id", "_line", *(q(t) for t in g.targets)])
    reader = _csv_reader_sql(g, len(g.headers), ragged=False, header=True)
    try:
        con.execute(
            f"INSERT INTO {STAGE} ({cols}) SELECT {file_id_sql()}, NULL, {values} FROM {reader}",
            {"paths": g.paths, "ids": ids},
        )
    except duckdb.Error as exc:
        return exc
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_CSV_FILES} AS
            SELECT c.file_id, c.n_text - 1 AS source_rows, s.base, coalesce(s.n_rows, 0) AS n_rows,
                   s.last_rowid - s.base + 1 = s.n_rows AS in_order
            FROM {LINE_COUNTS} AS c
            LEFT JOIN (SELECT _file_id, min(rowid) AS base, max(rowid) AS last_rowid, count(*) AS n_rows
                       FROM {STAGE} WHERE _file_id {IN_IDS} GROUP BY 1) AS s ON s._file_id = c.file_id
            WHERE c.file_id {IN_IDS}""",
        {"ids": ids},
    )
    broken = con.execute(
        f"SELECT f.origin FROM {_CSV_FILES} AS c JOIN {FILES} AS f USING (file_id) WHERE NOT in_order LIMIT 1"
    ).fetchone()
    if broken:
        raise RuntimeError(f"{broken[0]}: rows were not read in file order (loader bug, please report)")
    mismatch = con.execute(
        f"""SELECT f.origin FROM {_CSV_FILES} AS c JOIN {FILES} AS f USING (file_id)
            WHERE c.n_rows <> c.source_rows ORDER BY f.file_id LIMIT 1"""
    ).fetchone()
    if mismatch:
        _records_disagree(mismatch[0], None)
    con.execute(f"INSERT INTO {COUNTS} SELECT file_id, source_rows FROM {_CSV_FILES}")
    # Data line 2 is the file's first row in the stage.
    con.execute(
        f"""UPDATE {FILES} AS f SET line_base = c.base - 2
            FROM {_CSV_FILES} AS c WHERE c.file_id = f.file_id"""
    )
    con.execute(f"DROP TABLE {_CSV_FILES}")
    return None


def _stage_spanning_files(con: duckdb.DuckDBPyConnection, g: Group, strict: str) -> duckdb.Error | None:
    """Stage files with blank lines or values spanning lines: strict read into ``_load_csv_read``,
    record starts from the line flags, matched by position (:func:`_stage_csv_read`); or return the
    strict read's error."""
    try:
        _read_csv_as(con, g.files, strict, len(g.headers))
    except duckdb.Error as exc:
        return exc
    record_starts(con, g)
    _stage_csv_read(con, g)
    return None


def _read_ragged_files(con: duckdb.DuckDBPyConnection, g: Group, strict: str, failure: duckdb.Error) -> None:
    """Files whose strict read failed: count each record's fields; with ragged records, read the files
    padded to the widest record and stage the others (the ragged ones are rejects); without, the
    files are unreadable."""
    n = len(g.headers)
    read_csv_records(con, g.files, n_headers=n, delim=g.delimiter)
    widest, n_ragged = one_row(con, f"SELECT max(n_fields), count(*) FILTER (n_fields <> {n}) FROM {RECORDS}")
    if not n_ragged:
        read_failed(g.files, strict, failure)
    width = max(n, widest)
    padded = _csv_reader_sql(g, width, ragged=True)
    try:
        _read_csv_as(con, g.files, padded, width)
    except duckdb.Error as exc:
        read_failed(g.files, padded, exc)
    _stage_csv_read(con, g, padded_width=width)


def _read_csv_as(con: duckdb.DuckDBPyConnection, files: list[SourceFile], reader: str, width: int) -> None:
    """``_load_csv_read``: ``files`` as ``reader`` reads them, header row included, in file order."""
    cols = ", ".join(f"c{i}" for i in range(width))
    con.execute(
        # No join here: a hash join does not keep the reader's order, which numbers the rows.
        f"CREATE OR REPLACE TEMP TABLE {_CSV_READ} AS SELECT filename, {cols} FROM {reader}",
        {"paths": [f.src for f in files]},
    )
    check_file_order(con, _CSV_READ)


def _records_disagree(path: str, line: int | None) -> None:
    where = f" near line {line}" if line is not None else ""
    raise BatchError(
        f"{path}: unreadable CSV file: its records could not be told apart{where} "
        "(a stray quote? RFC 4180 quoting expected)"
    )


def _stage_csv_read(con: duckdb.DuckDBPyConnection, g: Group, *, padded_width: int | None = None) -> None:
    """Stage ``_load_csv_read``: its rows are matched to ``_load_csv_records`` by their position in the
    file, ragged records left out (they are rejects).

    The per-file counts must agree with the line-level ones, and with ragged rows present (a padded
    read) every kept row must have exactly the header's fields, so a disagreement between the two
    reads fails the file instead of shifting lines.
    """
    n = len(g.headers)
    ids = [f.file_id for f in g.files]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_CSV_FILES} AS {file_rows_sql(_CSV_READ)}")
    rows = f"""SELECT c.file_id AS _file_id, r.*, r.rowid - c.base - 1 AS _record
               FROM {_CSV_READ} AS r JOIN {_CSV_FILES} AS c ON c.filename = r.filename"""
    bad_rows = "SELECT NULL::INTEGER AS _file_id, NULL::BIGINT AS _line WHERE false"
    if padded_width is not None:
        # Only the padded read tells short rows apart (NULL is padding); the strict read errors on them.
        width_ok = f"r.c{n - 1} IS NOT NULL" + (f" AND r.c{n} IS NULL" if padded_width > n else "")
        bad_rows = f"""SELECT r._file_id, min(k._line) AS _line FROM ({rows}) AS r
                       JOIN {RECORDS} AS k ON k._file_id = r._file_id AND k._record = r._record
                       WHERE k.n_fields = {n} AND NOT ({width_ok}) GROUP BY 1"""
    mismatch = con.execute(
        f"""WITH line_counts AS (
                    SELECT file_id, sum(source_rows) AS n FROM {COUNTS}
                    WHERE file_id {IN_IDS} GROUP BY 1),
                 bad_rows AS ({bad_rows})
            SELECT f.origin, b._line FROM {FILES} AS f
            LEFT JOIN {_CSV_FILES} AS c ON c.file_id = f.file_id
            LEFT JOIN line_counts AS lc ON lc.file_id = f.file_id
            LEFT JOIN bad_rows AS b ON b._file_id = f.file_id
            WHERE f.file_id {IN_IDS}
              AND (coalesce(c.n_rows - 1, -1) <> coalesce(lc.n, 0) OR b._line IS NOT NULL)
            ORDER BY f.file_id LIMIT 1""",
        {"ids": ids},
    ).fetchone()
    if mismatch:
        _records_disagree(*mismatch)
    values = ", ".join(f"nullif(r.c{i}, '')" for i in range(n))
    stage_insert(
        con,
        g.targets,
        f"""SELECT r._file_id, k._line, {values} FROM ({rows}) AS r
            JOIN {RECORDS} AS k ON k._file_id = r._file_id AND k._record = r._record
            WHERE k.n_fields = {n}""",
    )
    for table in (_CSV_READ, _CSV_FILES, RECORDS):
        con.execute(f"DROP TABLE {table}")
