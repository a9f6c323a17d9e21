"""CSV files as physical lines: the quote state of every line, where records start, their field counts.

DuckDB's CSV reader skips blank lines and cannot say where a record started, so each group of files
sharing a header is also read as plain lines (``delim = chr(1), quote = ''``). A line starts a record
when it is not blank and the quotes before it are balanced (an odd count means it continues a quoted
value). A quote opens a value only at the start of a field (``27" monitors`` is literal; lines with an
odd number of quotes are matched against that grammar, :func:`_kind_sql`), and a file that ends inside
a quoted value is refused naming the line where the quote opens. Blank lines are skipped but counted in
line numbers. This module only scans lines; :mod:`.csv_reader` runs DuckDB's CSV reader and matches its
records to the starts found here, so the record grammar lives apart from the read fallbacks.
"""

from __future__ import annotations

import duckdb

from orchestration.ingestion.batch import BatchError, Group, SourceFile
from orchestration.ingestion.readers import read_lines, with_lines_reader
from orchestration.ingestion.temp import COUNTS, FILES, RAGGED, temp_table
from orchestration.sql import lit

# Temp tables of one CSV group (dropped as soon as the group is staged, and by ``temp_tables``).
_LINES = temp_table("_load_csv_lines")  # CSV files with ragged rows as physical lines
_LINE_FILES = temp_table("_load_csv_lines_files")  # per file of _LINES: first rowid, lines
#: CSV records: first physical line (and field count); matched to the reader's rows by :mod:`.csv_reader`.
RECORDS = temp_table("_load_csv_records")
_LINE_FLAGS = temp_table("_load_csv_line_flags")  # per line: blank? its effect on the quote state
#: Per file: first rowid, non-blank lines (``n_text``), plain?
LINE_COUNTS = temp_table("_load_csv_line_counts")
_LINE_STATE = temp_table("_load_csv_line_state")  # lines of files that are not plain: inside quotes?
#: DuckDB's CSV reader refuses a line (a record) longer than this unless told more (``max_line_size``).
DUCKDB_MAX_LINE = 2_000_000
#: SQL: a file id among the call's ``$ids``.
IN_IDS = "IN (SELECT unnest(CAST($ids AS INTEGER[])))"


def _regex_char(c: str) -> str:
    return {"\t": "\\t", "|": "\\|"}.get(c, c)


def _kind_sql(line: str, delim: str) -> str:
    """SQL: what a physical line does to the quote state, as two bits: 1 = it ends inside a quoted
    value when it starts outside, 2 = when it starts inside. 2 keeps the state (every line with an even
    number of quotes, taken as is: cheap), 1 flips it, 0 ends outside and 3 inside whatever came before.

    RFC 4180 as Excel, Python's csv and Salesforce read it: a quote opens a quoted value only at the
    start of a field (``27" monitors`` is literal), and ``""`` inside one is a quote. Only lines with
    an odd number of quotes (rare) are matched against the grammar.
    """
    d = _regex_char(delim)
    quotes = _count_sql(line, '"')
    field = f'(?:"(?:[^"]|"")*"|[^{d}"][^{d}]*)?'
    opens = f'(?:{field}{d})*"(?:[^"]|"")*'  # complete fields, then a quoted value still open at the end
    from_out = f"^{opens}$"
    from_in = f'^(?:[^"]|"")*$|^(?:[^"]|"")*"{d}{opens}$'
    return (
        f"CASE WHEN {quotes} % 2 = 0 THEN 2 "
        f"ELSE CAST(regexp_full_match({line}, {lit(from_out)}) AS INTEGER) "
        f"+ 2 * CAST(regexp_full_match({line}, {lit(from_in)}) AS INTEGER) END"
    )


def _state_sql(source: str, file_col: str, order_col: str) -> str:
    """SQL over ``source`` (with ``kind`` from :func:`_kind_sql`): every column plus ``in_before`` and
    ``in_after`` (inside a quoted value before / after the line). The state after a line is the value
    of the last line that sets it (kind 0 or 3; else the file's start, outside) flipped by every kind
    1 line since."""
    w = f"(PARTITION BY {file_col} ORDER BY {order_col} ROWS UNBOUNDED PRECEDING)"
    return f"""
        SELECT * EXCLUDE (_flips, _last_set, _flips_at_set),
               coalesce(lag(in_after) OVER (PARTITION BY {file_col} ORDER BY {order_col}), false) AS in_before
        FROM (
            SELECT *, CASE WHEN _last_set IS NULL THEN _flips % 2 = 1
                           ELSE (_last_set % 2 + _flips - _flips_at_set) % 2 = 1 END AS in_after
            FROM (
                SELECT *, max(CASE WHEN kind IN (0, 3) THEN _flips END) OVER {w} AS _flips_at_set
                FROM (
                    SELECT *, sum(CAST(kind = 1 AS INTEGER)) OVER {w} AS _flips,
                           max(CASE WHEN kind IN (0, 3) THEN {order_col} * 2 + CAST(kind = 3 AS INTEGER) END)
                               OVER {w} AS _last_set
                    FROM ({source}))))"""


def _count_sql(text: str, char: str) -> str:
    """How many times the ASCII ``char`` occurs in ``text`` (in bytes: faster than in characters)."""
    return f"(strlen({text}) - strlen(replace({text}, {lit(char)}, '')))"


def file_rows_sql(table: str) -> str:
    """Per file of ``table`` (read in file order, with ``filename``): file id, first rowid, row count."""
    return f"""SELECT f.file_id, f.path AS filename, t.base, t.n_rows
               FROM (SELECT filename, min(rowid) AS base, count(*) AS n_rows FROM {table} GROUP BY 1) AS t
               JOIN {FILES} AS f ON f.path = t.filename"""


def file_id_sql() -> str:
    """The file id of a reader row, from its ``filename`` and the call's ``$paths`` and ``$ids``."""
    return "CAST($ids AS INTEGER[])[list_position($paths, filename)]"


def flag_csv_lines(con: duckdb.DuckDBPyConnection, g: Group) -> tuple[list[SourceFile], list[SourceFile]]:
    """Read the group's files as lines once, keeping per line only whether it is blank and what it does
    to the quote state (``kind``, :func:`_kind_sql`; ``_load_csv_line_flags``, in file order), and per
    file its first rowid, non-blank lines, longest line and whether a line holds a NUL byte
    (``_load_csv_line_counts``, ``f.may_hold_nul``); return the plain files and the others.

    A plain file has no line that changes the quote state (so no value spans lines) and no blank line
    before its last non-blank one: its records are its first non-blank lines, one per line, from line 1
    on. For the others, ``_load_csv_line_state`` says which lines start inside a quoted value; a file
    that ends inside one has an unbalanced quote and is refused, naming the line where it opens.
    A group with a line longer than DuckDB's limit gets a limit that fits (``g.max_line_size``).
    """

    def run(reader: str) -> None:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_LINE_FLAGS} AS
                SELECT {file_id_sql()} AS file_id, coalesce(line, '') = '' AS blank,
                       coalesce({_kind_sql("line", g.delimiter)}, 2) AS kind,
                       coalesce(strlen(line), 0) AS width, coalesce(contains(line, chr(0)), false) AS nul
                FROM {reader}""",
            {"paths": g.paths, "ids": [f.file_id for f in g.files]},
        )

    with_lines_reader(con, g.files, run)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {LINE_COUNTS} AS
            SELECT file_id, min(rowid) AS base, count(*) FILTER (NOT blank) AS n_text,
                   max(rowid) - min(rowid) + 1 = count(*) AS in_order, max(width) AS widest,
                   bool_or(nul) AS has_nul,
                   bool_and(kind = 2) AND coalesce(max(rowid) FILTER (NOT blank) - min(rowid) + 1
                                                  = count(*) FILTER (NOT blank), true) AS plain
            FROM {_LINE_FLAGS} GROUP BY 1"""
    )
    counts = con.execute(f"SELECT file_id, in_order, plain, widest, has_nul FROM {LINE_COUNTS}").fetchall()
    if not all(in_order for _, in_order, _, _, _ in counts):
        raise RuntimeError(
            f"{g.files[0].path}: lines were not read in file order (loader bug, please report)"
        )
    with_nul = {file_id for file_id, _, _, _, has_nul in counts if has_nul}
    for f in g.files:
        f.may_hold_nul = f.file_id in with_nul
    widest = max((w for _, _, _, w, _ in counts), default=0)
    if widest * 2 > DUCKDB_MAX_LINE:  # a record may span lines: leave room
        g.max_line_size = max(DUCKDB_MAX_LINE, 4 * widest)
    plain = {file_id for file_id, _, is_plain, _, _ in counts if is_plain}
    if len(plain) < len(counts):
        source = f"""SELECT l.file_id, l.rowid - c.base + 1 AS _line, l.blank, l.kind
                     FROM {_LINE_FLAGS} AS l JOIN {LINE_COUNTS} AS c USING (file_id) WHERE NOT c.plain"""
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_LINE_STATE} AS {_state_sql(source, 'file_id', '_line')}")
        _refuse_open_quote(con)
    return [f for f in g.files if f.file_id in plain], [f for f in g.files if f.file_id not in plain]


def _refuse_open_quote(con: duckdb.DuckDBPyConnection) -> None:
    """A file that ends inside a quoted value: the quote opened on its last line that starts outside."""
    open_quote = con.execute(
        f"""SELECT f.origin, s.opened FROM (
                SELECT file_id, max(_line) FILTER (NOT in_before) AS opened,
                       arg_max(in_after, _line) AS ends_inside
                FROM {_LINE_STATE} GROUP BY 1) AS s
            JOIN {FILES} AS f USING (file_id) WHERE s.ends_inside ORDER BY f.file_id LIMIT 1"""
    ).fetchone()
    if open_quote:
        path, line = open_quote
        raise BatchError(
            f"{path}: unreadable CSV file: the quote that opens a value on line {line} is never closed, "
            "so every later record would be read into that value; close the quote, or double a quote "
            'that is part of the value ("")'
        )


def record_starts(con: duckdb.DuckDBPyConnection, g: Group) -> None:
    """``_load_csv_records`` from the line state of files that are not plain: each data record's first
    line (the header's field count assumed: the strict read that runs first checks it); their counts
    are the files' source rows."""
    # Record starts: non-blank lines that start outside a quoted value. Record 1 is the header; data
    # records are numbered from 0 like the reader's rows.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {RECORDS} AS
            SELECT * FROM (
                SELECT file_id AS _file_id, _line, {len(g.headers)} AS n_fields,
                       row_number() OVER (PARTITION BY file_id ORDER BY _line) - 2 AS _record
                FROM {_LINE_STATE}
                WHERE file_id {IN_IDS} AND NOT in_before AND NOT blank)
            WHERE _record >= 0""",
        {"ids": [f.file_id for f in g.files]},
    )
    con.execute(f"INSERT INTO {COUNTS} SELECT _file_id, count(*) FROM {RECORDS} GROUP BY 1")


def drop_line_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the line flags, counts and state of a group once it is staged."""
    for table in (_LINE_FLAGS, LINE_COUNTS, _LINE_STATE):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def read_csv_records(
    con: duckdb.DuckDBPyConnection, files: list[SourceFile], *, n_headers: int, delim: str
) -> None:
    """Read CSV files as lines; ``_load_csv_records`` gets each data record's physical first line and
    field count, ``_load_ragged`` the records whose field count is not ``n_headers`` (the header's).

    Per line: whether it starts and ends inside a quoted value (:func:`_state_sql`). A line starts a
    record when it is not blank and starts outside; a record's lines are its start line and the
    following lines that begin inside quotes. Delimiters outside quotes are counted after closing and
    opening the quoted values cut by the line ends and removing the quoted values (which start a field).
    """
    read_lines(con, files, _LINES)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_LINE_FILES} AS {file_rows_sql(_LINES)}")
    window = "(PARTITION BY _file_id ORDER BY _line ROWS UNBOUNDED PRECEDING)"
    d = _regex_char(delim)
    quoted = f'(^|{d})"(?:[^"]|"")*"'
    outside = (
        f"regexp_replace(CASE WHEN in_before THEN '\"' ELSE '' END || _text "
        f"|| CASE WHEN in_after THEN '\"' ELSE '' END, {lit(quoted)}, '\\1', 'g')"
    )
    numbered = f"""SELECT b.file_id AS _file_id, n.rowid - b.base + 1 AS _line, coalesce(n.line, '') AS _text,
                          {_kind_sql("coalesce(n.line, '')", delim)} AS kind,
                          {_count_sql("coalesce(n.line, '')", '"')} AS _nq
                   FROM {_LINES} AS n JOIN {_LINE_FILES} AS b ON b.filename = n.filename"""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {RECORDS} AS
            WITH parity AS ({_state_sql(numbered, "_file_id", "_line")}
            ), starts AS (
                SELECT *, {_count_sql("_bare", delim)} AS _commas FROM (
                    SELECT *, NOT in_before AND _text <> '' AS _start,
                           CASE WHEN _nq = 0 AND NOT in_before THEN _text ELSE {outside} END AS _bare
                    FROM parity)
            ), records AS (
                SELECT *, sum(CAST(_start AS INTEGER)) OVER {window} AS _record FROM starts
            )
            -- record 1 is the header; data records are numbered from 0 like the CSV reader's rows
            SELECT _file_id, _record - 2 AS _record, min(_line) AS _line, 1 + sum(_commas) AS n_fields
            FROM records WHERE _record >= 2 AND (_start OR in_before)
            GROUP BY _file_id, _record"""
    )
    # The first line of a ragged record is its reject value: looked up for those records only.
    con.execute(
        f"""INSERT INTO {RAGGED} (_file_id, _line, n_fields, n_headers, first_line)
            SELECT r._file_id, r._line, r.n_fields, {n_headers}, left(coalesce(n.line, ''), 1000)
            FROM {RECORDS} AS r JOIN {_LINE_FILES} AS b ON b.file_id = r._file_id
            JOIN {_LINES} AS n ON n.rowid = b.base + r._line - 1
            WHERE r.n_fields <> {n_headers}"""
    )
    con.execute(f"INSERT INTO {COUNTS} SELECT _file_id, count(*) FROM {RECORDS} GROUP BY 1")
    con.execute(f"DROP TABLE {_LINES}")
    con.execute(f"DROP TABLE {_LINE_FILES}")
