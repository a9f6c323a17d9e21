"""CSV files into the stage, each record with the physical line it starts on.

DuckDB's CSV reader skips blank lines and cannot say where a record started, so each group of files
sharing a header is also read as plain lines (``delim = chr(1), quote = ''``). A line starts a record
when it is not blank and the quotes before it are balanced (an odd count means it continues a quoted
value). The reader's records are matched to those starts by position in the file, and the per-file
counts must agree, else the file is unreadable. Blank lines are skipped but counted in line numbers.
A quote opens a value only at the start of a field (``27" monitors`` is literal; lines with an odd
number of quotes are matched against that grammar, :func:`_kind_sql`), and a file that ends inside a
quoted value is refused naming the line where the quote opens. Each group is read with its detected
delimiter (:mod:`.dialect`) and, when a line is longer than DuckDB's 2 MB default, a larger limit.

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
from orchestration.ingestion.readers import (
    check_file_order,
    read_failed,
    read_lines,
    stage_insert,
    with_lines_reader,
)
from orchestration.ingestion.temp import COUNTS, FILES, RAGGED, STAGE, temp_table
from orchestration.sql import lit, one_row, q

# Temp tables of one CSV group (dropped as soon as the group is staged, and by ``temp_tables``).
_LINES = temp_table("_load_csv_lines")  # CSV files with ragged rows as physical lines
_LINE_FILES = temp_table("_load_csv_lines_files")  # per file of _LINES: first rowid, lines
_RECORDS = temp_table("_load_csv_records")  # CSV records: first physical line (and field count)
_CSV_READ = temp_table("_load_csv_read")  # one CSV group as read by DuckDB's CSV reader
_CSV_FILES = temp_table("_load_csv_files")  # per file of _CSV_READ (or of the stage): first rowid, rows
_LINE_FLAGS = temp_table("_load_csv_line_flags")  # per line: blank? its effect on the quote state
_LINE_COUNTS = temp_table("_load_csv_line_counts")  # per file: first rowid, non-blank lines, plain?
_LINE_STATE = temp_table("_load_csv_line_state")  # lines of files that are not plain: inside quotes?
#: DuckDB's CSV reader refuses a line (a record) longer than this unless told more (``max_line_size``).
DUCKDB_MAX_LINE = 2_000_000
_IN_IDS = "IN (SELECT unnest(CAST($ids AS INTEGER[])))"


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


def _file_rows_sql(table: str) -> str:
    """Per file of ``table`` (read in file order, with ``filename``): file id, first rowid, row count."""
    return f"""SELECT f.file_id, f.path AS filename, t.base, t.n_rows
               FROM (SELECT filename, min(rowid) AS base, count(*) AS n_rows FROM {table} GROUP BY 1) AS t
               JOIN {FILES} AS f ON f.path = t.filename"""


def _file_id_sql() -> str:
    """The file id of a reader row, from its ``filename`` and the call's ``$paths`` and ``$ids``."""
    return "CAST($ids AS INTEGER[])[list_position($paths, filename)]"


def read_csv_group(con: duckdb.DuckDBPyConnection, g: Group) -> None:
    """Stage the files of one CSV header, each record with its physical line.

    :func:`_flag_csv_lines` sorts the files into plain ones (one record per line) and the others;
    each kind is read with DuckDB's strict, parallel CSV reader, which fails on a record whose field
    count is not the header's. The files that fail it on their own (a ragged row, usually in one file)
    are read again with their field counts (:func:`_read_ragged_files`). Reads run outside the load's
    transaction, so a failed read leaves the connection usable.
    """
    plain, spanning = _flag_csv_lines(con, g)
    strict = _csv_reader_sql(g, len(g.headers), ragged=False)
    failing, failure = _read_strict(con, g, plain, strict, _stage_plain_files)
    more, more_failure = _read_strict(con, g, spanning, strict, _stage_spanning_files)
    failing, failure = failing + more, failure or more_failure
    if failing and failure is not None:
        _read_ragged_files(con, replace(g, files=failing), strict, failure)
    for table in (_LINE_FLAGS, _LINE_COUNTS, _LINE_STATE):
        con.execute(f"DROP TABLE IF EXISTS {table}")


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


def _flag_csv_lines(con: duckdb.DuckDBPyConnection, g: Group) -> tuple[list[SourceFile], list[SourceFile]]:
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
                SELECT {_file_id_sql()} AS file_id, coalesce(line, '') = '' AS blank,
                       coalesce({_kind_sql("line", g.delimiter)}, 2) AS kind,
                       coalesce(strlen(line), 0) AS width, coalesce(contains(line, chr(0)), false) AS nul
                FROM {reader}""",
            {"paths": g.paths, "ids": [f.file_id for f in g.files]},
        )

    with_lines_reader(con, g.files, run)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_LINE_COUNTS} AS
            SELECT file_id, min(rowid) AS base, count(*) FILTER (NOT blank) AS n_text,
                   max(rowid) - min(rowid) + 1 = count(*) AS in_order, max(width) AS widest,
                   bool_or(nul) AS has_nul,
                   bool_and(kind = 2) AND coalesce(max(rowid) FILTER (NOT blank) - min(rowid) + 1
                                                  = count(*) FILTER (NOT blank), true) AS plain
            FROM {_LINE_FLAGS} GROUP BY 1"""
    )
    counts = con.execute(f"SELECT file_id, in_order, plain, widest, has_nul FROM {_LINE_COUNTS}").fetchall()
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
                     FROM {_LINE_FLAGS} AS l JOIN {_LINE_COUNTS} AS c USING (file_id) WHERE NOT c.plain"""
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
            f"INSERT INTO {STAGE} ({cols}) SELECT {_file_id_sql()}, NULL, {values} FROM {reader}",
            {"paths": g.paths, "ids": ids},
        )
    except duckdb.Error as exc:
        return exc
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_CSV_FILES} AS
            SELECT c.file_id, c.n_text - 1 AS source_rows, s.base, coalesce(s.n_rows, 0) AS n_rows,
                   s.last_rowid - s.base + 1 = s.n_rows AS in_order
            FROM {_LINE_COUNTS} AS c
            LEFT JOIN (SELECT _file_id, min(rowid) AS base, max(rowid) AS last_rowid, count(*) AS n_rows
                       FROM {STAGE} WHERE _file_id {_IN_IDS} GROUP BY 1) AS s ON s._file_id = c.file_id
            WHERE c.file_id {_IN_IDS}""",
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
    # Record starts: non-blank lines that start outside a quoted value. Record 1 is the header; data
    # records are numbered from 0 like the reader's rows.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_RECORDS} AS
            SELECT * FROM (
                SELECT file_id AS _file_id, _line, {len(g.headers)} AS n_fields,
                       row_number() OVER (PARTITION BY file_id ORDER BY _line) - 2 AS _record
                FROM {_LINE_STATE}
                WHERE file_id {_IN_IDS} AND NOT in_before AND NOT blank)
            WHERE _record >= 0""",
        {"ids": [f.file_id for f in g.files]},
    )
    con.execute(f"INSERT INTO {COUNTS} SELECT _file_id, count(*) FROM {_RECORDS} GROUP BY 1")
    _stage_csv_read(con, g)
    return None


def _read_ragged_files(con: duckdb.DuckDBPyConnection, g: Group, strict: str, failure: duckdb.Error) -> None:
    """Files whose strict read failed: count each record's fields; with ragged records, read the files
    padded to the widest record and stage the others (the ragged ones are rejects); without, the
    files are unreadable."""
    n = len(g.headers)
    _read_csv_records(con, g.files, n_headers=n, delim=g.delimiter)
    widest, n_ragged = one_row(
        con, f"SELECT max(n_fields), count(*) FILTER (n_fields <> {n}) FROM {_RECORDS}"
    )
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


def _read_csv_records(
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
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_LINE_FILES} AS {_file_rows_sql(_LINES)}")
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
        f"""CREATE OR REPLACE TEMP TABLE {_RECORDS} AS
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
            FROM {_RECORDS} AS r JOIN {_LINE_FILES} AS b ON b.file_id = r._file_id
            JOIN {_LINES} AS n ON n.rowid = b.base + r._line - 1
            WHERE r.n_fields <> {n_headers}"""
    )
    con.execute(f"INSERT INTO {COUNTS} SELECT _file_id, count(*) FROM {_RECORDS} GROUP BY 1")
    con.execute(f"DROP TABLE {_LINES}")
    con.execute(f"DROP TABLE {_LINE_FILES}")


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
                    SELECT file_id, sum(source_rows) AS n FROM {COUNTS}
                    WHERE file_id {_IN_IDS} GROUP BY 1),
                 bad_rows AS ({bad_rows})
            SELECT f.origin, b._line FROM {FILES} AS f
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
    stage_insert(
        con,
        g.targets,
        f"""SELECT r._file_id, k._line, {values} FROM ({rows}) AS r
            JOIN {_RECORDS} AS k ON k._file_id = r._file_id AND k._record = r._record
            WHERE k.n_fields = {n}""",
    )
    for table in (_CSV_READ, _CSV_FILES, _RECORDS):
        con.execute(f"DROP TABLE {table}")
