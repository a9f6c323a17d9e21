"""Reading files into the stage, every value as text: Parquet and JSON Lines here, with the helpers
every reader shares (CSV has its own modules, :mod:`csv_reader` and :mod:`csv_lines`).

Source rows are counted from the files, independently of the staging path, so a row the staging
path drops fails the load instead of vanishing: Parquet from the row count in its metadata, JSON
Lines as non-blank lines. Reads only fill temp tables and run before the load's transaction, so a
failed read leaves the connection usable. No Python loop touches data rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb

from orchestration.contract import LandingObject
from orchestration.ingestion.batch import BatchError, Group, SourceFile
from orchestration.ingestion.dialect import transcode_if_not_utf8
from orchestration.ingestion.headers import map_headers
from orchestration.ingestion.temp import COUNTS, FILES, RAGGED, STAGE, temp_table
from orchestration.sql import lit, q

_READ = temp_table("_load_read")  # JSON Lines files as physical lines
_READ_LINES = temp_table("_load_read_lines")  # their non-blank lines as JSON, with file and line number
_READ_CHECKED = temp_table("_load_read_checked")  # their non-blank lines, each a JSON object or not (ok)


def lines_reader_sql(*, mixed_line_ends: bool = False) -> str:
    """Every physical line as one text column: blank lines stay (as NULL), so the row position in a
    file is its line number. Used for JSON Lines and for finding where CSV records start.

    DuckDB's strict reader takes the first line end as the file's; ``mixed_line_ends`` reads a file
    that also holds the other kind (``\\n`` inside a quoted value of a CRLF file, or ``\\r\\n`` in an LF
    file: valid RFC 4180) with each ``\\r\\n`` or ``\\n`` one line end."""
    lenient = ", strict_mode = false, new_line = '\\r\\n'" if mixed_line_ends else ""
    return (
        "read_csv($paths, header = false, columns = {'line': 'VARCHAR'}, delim = chr(1), quote = '', "
        "escape = '', auto_detect = false, filename = true, encoding = 'utf-8', max_line_size = 67108864"
        f"{lenient})"
    )


def with_lines_reader(
    con: duckdb.DuckDBPyConnection, files: list[SourceFile], run: Callable[[str], None]
) -> None:
    """``run(reader)`` with the lines reader; when it fails, the fallbacks of the error path: files
    that turn out not to be UTF-8 are read from a UTF-8 copy (:func:`.dialect.transcode_if_not_utf8`),
    then a file with mixed line ends is read with each ``\\r\\n`` or ``\\n`` one line end."""
    reader = lines_reader_sql()
    try:
        run(reader)
        return
    except duckdb.Error as exc:
        first = exc
    copied = [f for f in files if f.fmt != "parquet" and f.scratch and transcode_if_not_utf8(f, f.scratch)]
    if copied:
        con.executemany(
            f"UPDATE {FILES} SET path = ? WHERE file_id = ?", [[f.src, f.file_id] for f in copied]
        )
        try:
            run(reader)
            return
        except duckdb.Error as exc:
            first = exc
    lenient = lines_reader_sql(mixed_line_ends=True)
    try:
        run(lenient)
    except duckdb.Error:
        read_failed(files, reader, first)


def read_failed(files: list[SourceFile], reader: str, exc: Exception) -> None:
    """Find the file that broke a multi-file read, so the message names it (error path only).

    Runs on a scratch connection, whatever state the failed read left the load's connection in.
    """
    with duckdb.connect() as scratch:
        for f in files:
            try:
                scratch.execute(f"SELECT count(*) FROM {reader}", {"paths": [f.src]}).fetchall()
            except duckdb.Error as single:
                raise BatchError(f"{f.path}: unreadable {f.fmt.upper()} file: {single}") from single
    raise BatchError(f"unreadable files {', '.join(str(f.path) for f in files)}: {exc}") from exc


def stage_insert(
    con: duckdb.DuckDBPyConnection, targets: Sequence[str], select_sql: str, params: dict | None = None
) -> None:
    cols = ", ".join(["_file_id", "_line", *(q(t) for t in targets)])
    con.execute(f"INSERT INTO {STAGE} ({cols}) {select_sql}", params)


def check_file_order(con: duckdb.DuckDBPyConnection, table: str) -> None:
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


def read_lines(con: duckdb.DuckDBPyConnection, files: list[SourceFile], into: str) -> None:
    """Temp table ``into``: every physical line of ``files`` (``filename``, ``line``), in file order."""

    def run(reader: str) -> None:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {into} AS SELECT filename, line FROM {reader}",
            {"paths": [f.src for f in files]},
        )

    with_lines_reader(con, files, run)
    check_file_order(con, into)


def _parquet_value(column: str, duck_type: str) -> str:
    """A Parquet value as text, so it goes through the same casts as CSV (typed dates and timestamps
    become ISO 8601 text, which the format detection reads as such)."""
    ref = f"r.{q(column)}"
    if duck_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"strftime(timezone('UTC', {ref}), '%Y-%m-%dT%H:%M:%S.%f')"
    return f"nullif(CAST({ref} AS VARCHAR), '')"


def read_parquet_group(con: duckdb.DuckDBPyConnection, g: Group) -> None:
    for f in g.files:
        f.may_hold_nul = True  # not looked for in the file: the cast checks every text value
    paths = {"paths": [f.src for f in g.files]}
    con.execute(
        f"""INSERT INTO {COUNTS} SELECT f.file_id, m.num_rows FROM parquet_file_metadata($paths) AS m
            JOIN {FILES} AS f ON f.path = m.file_name""",
        paths,
    )
    reader = "read_parquet($paths, filename = true, file_row_number = true)"
    values = ", ".join(_parquet_value(h, t) for h, t in zip(g.headers, g.types, strict=True))
    try:
        stage_insert(
            con,
            g.targets,
            f"""SELECT f.file_id, r.file_row_number + 1, {values}
                FROM {reader} AS r JOIN {FILES} AS f ON f.path = r.filename""",
            {"paths": [f.src for f in g.files]},
        )
    except duckdb.Error as exc:
        read_failed(g.files, reader, exc)


def read_jsonl_files(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    files: list[SourceFile],
    add_extras: Callable[[Sequence[str]], None],
) -> None:
    """Read all JSONL files at once; the keys of each file act as its header."""
    # JSON escapes newlines, so no JSON Lines record spans two lines: one line, one record.
    read_lines(con, files, _READ)
    numbered = f"""SELECT * FROM (
                        SELECT filename, rowid - min(rowid) OVER (PARTITION BY filename) + 1 AS line_no, line
                        FROM {_READ})
                    WHERE line IS NOT NULL AND trim(line) <> ''"""
    # Blank lines are skipped. A line that is not a JSON object (cut off, broken) is one bad record: it
    # is rejected whole, like a ragged CSV row; a file of which no line is a JSON object is unreadable.
    is_object = "coalesce(CASE WHEN json_valid(line) THEN json_type(line) END, '') = 'OBJECT'"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_READ_CHECKED} AS
            SELECT f.file_id, n.line_no, n.line, {is_object} AS ok,
                   contains(n.line, chr(0)) OR contains(n.line, '\\u0000') AS nul
            FROM ({numbered}) AS n JOIN {FILES} AS f ON f.path = n.filename"""
    )
    with_nul = {
        r[0] for r in con.execute(f"SELECT DISTINCT file_id FROM {_READ_CHECKED} WHERE nul").fetchall()
    }
    for f in files:
        f.may_hold_nul = f.file_id in with_nul
    unreadable = con.execute(
        f"""SELECT f.origin, min(l.line_no) FROM {_READ_CHECKED} AS l JOIN {FILES} AS f USING (file_id)
            GROUP BY f.file_id, f.origin HAVING NOT bool_or(l.ok) ORDER BY f.file_id LIMIT 1"""
    ).fetchone()
    if unreadable:
        raise BatchError(
            f"{unreadable[0]}: line {unreadable[1]} is not a JSON object, nor is any other line "
            "(JSON Lines expected: one JSON object per line)"
        )
    con.execute(f"INSERT INTO {COUNTS} SELECT file_id, count(*) FROM {_READ_CHECKED} GROUP BY 1")
    con.execute(
        f"""INSERT INTO {RAGGED} (_file_id, _line, first_line, reason)
            SELECT file_id, line_no, left(line, 1000),
                   'not a JSON object (broken or cut-off JSON; JSON Lines expect one object per line)'
            FROM {_READ_CHECKED} WHERE NOT ok"""
    )
    with_lines = {r[0] for r in con.execute(f"SELECT DISTINCT file_id FROM {COUNTS}").fetchall()}
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_READ_LINES} AS
            SELECT file_id, line_no, CAST(line AS JSON) AS j FROM {_READ_CHECKED} WHERE ok"""
    )
    con.execute(f"DROP TABLE {_READ_CHECKED}")
    keys = con.execute(
        f"""SELECT file_id, list(k ORDER BY first_line) FROM (
                SELECT file_id, k, min(line_no) AS first_line
                FROM (SELECT file_id, line_no, unnest(json_keys(j)) AS k FROM {_READ_LINES})
                GROUP BY ALL)
            GROUP BY file_id"""
    ).fetchall()
    keys_by_file = {file_id: tuple(k) for file_id, k in keys}
    for f in files:
        f.headers = keys_by_file.get(f.file_id, ())
        if f.file_id not in with_lines:  # blank lines only; lines of `{}` must pass the header check
            f.empty = True
            continue
        targets = map_headers(obj, f)
        add_extras(targets)
        values = ", ".join(
            "json_extract_string(j, " + lit('$."' + h.replace('"', '\\"') + '"') + ")" for h in f.headers
        )
        stage_insert(
            con,
            targets,
            f"SELECT file_id, line_no, {values} FROM {_READ_LINES} WHERE file_id = {f.file_id}",
        )
    con.execute(f"DROP TABLE IF EXISTS {_READ_LINES}")
