"""Content digests of a DuckDB file, for "equal to a clean run" comparisons.

:func:`table_digests` gives every table of the chosen schemas one ``(rows, md5)``: the md5 of the sorted
md5s of its rows, each row cast to text with every column but the volatile ones (build and load times,
:data:`VOLATILE_COLUMNS`). Sorting the row hashes makes the digest independent of the physical row order
(which a rebuild may change) while any changed, added, lost or duplicated row changes it. Floating-point
columns are printed with 12 significant digits: a parallel sum may differ in its last bits from one run
to the next, which is not a difference in the data.

Also a command: ``python -m tests.reliability.digest FILE`` prints one line per table.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import duckdb

#: Columns that differ between two runs over the same data (when the run happened, not what it built).
VOLATILE_COLUMNS = frozenset({"_built_at", "_loaded_at", "published_at", "evaluated_at", "loaded_at"})
#: The published schemas compared by default: the KPI marts and the core tables.
DEFAULT_SCHEMAS = ("marts", "core")
_FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


def _column_expr(name: str, data_type: str) -> str:
    quoted = '"' + name.replace('"', '""') + '"'
    if data_type.upper() in _FLOAT_TYPES:
        return f"printf('%.12g', {quoted})"
    return quoted


def table_digests_of(
    con: duckdb.DuckDBPyConnection,
    schemas: Iterable[str] = DEFAULT_SCHEMAS,
    *,
    volatile: Iterable[str] = VOLATILE_COLUMNS,
) -> dict[str, tuple[int, str]]:
    """``{"schema.table": (rows, digest)}`` of every table of ``schemas`` on an open connection."""
    schemas = list(schemas)
    skip = set(volatile)
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name IN (SELECT unnest(?)) ORDER BY 1, 2",
        [schemas],
    ).fetchall()
    out: dict[str, tuple[int, str]] = {}
    for schema, table in tables:
        columns = con.execute(
            """SELECT column_name, data_type FROM information_schema.columns
               WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?
               ORDER BY ordinal_position""",
            [schema, table],
        ).fetchall()
        exprs = [_column_expr(c, t) for c, t in columns if c not in skip]
        row = "row(" + ", ".join(exprs) + ")" if exprs else "row(1)"
        rows, digest = con.execute(
            f"""SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), ''))
                FROM (SELECT md5(CAST({row} AS VARCHAR)) AS h FROM "{schema}"."{table}")"""
        ).fetchone() or (0, "")
        out[f"{schema}.{table}"] = (int(rows), str(digest))
    return out


def table_digests(path: Path | str, schemas: Iterable[str] = DEFAULT_SCHEMAS) -> dict[str, tuple[int, str]]:
    """:func:`table_digests_of` the DuckDB file at ``path``, opened read-only."""
    with duckdb.connect(str(path), read_only=True) as con:
        return table_digests_of(con, schemas)


def differences(got: dict[str, tuple[int, str]], want: dict[str, tuple[int, str]]) -> list[str]:
    """Readable differences between two digests (empty when equal)."""
    lines = [f"{t}: missing" for t in sorted(want.keys() - got.keys())]
    lines += [f"{t}: not in the clean run" for t in sorted(got.keys() - want.keys())]
    lines += [
        f"{t}: {got[t][0]} rows vs {want[t][0]} (content {'equal' if got[t][1] == want[t][1] else 'differs'})"
        for t in sorted(got.keys() & want.keys())
        if got[t] != want[t]
    ]
    return lines


if __name__ == "__main__":
    for name, (n, digest) in table_digests(sys.argv[1]).items():
        print(f"{name}\t{n}\t{digest}")
