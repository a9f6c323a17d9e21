"""Shared by the lake tests: a small hand-written raw table with every column type the raw tables hold
and the text that breaks naive exports, plus rejects and load audit rows."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from orchestration.ingestion.schema import ensure_raw_schema

D1, D2, D3 = date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)
TABLE = "sample"

#: Text a CSV or TSV export gets wrong: tab, newline, carriage return, backslash, quotes, a comma, a
#: lone ``\N`` (PostgreSQL's text-format NULL), the empty string (not NULL), non-ASCII.
AWKWARD = [
    "tab\there",
    "new\nline",
    "cr\r\nlf",
    "back\\slash",
    'double "quote"',
    "single 'quote'",
    "comma, here",
    "\\N",
    "",
    "Zoë Ørsted 東京",
]

COLUMNS = (
    "id VARCHAR, name VARCHAR, amount DECIMAL(18,2), rate DOUBLE, close_date DATE, is_won BOOLEAN, "
    "call_seconds BIGINT, created_at TIMESTAMP, _extract_date DATE, _source_file VARCHAR, "
    "_source_line BIGINT, _loaded_at TIMESTAMP"
)


def sample_rows(extract_date: date, tag: str = "a", n: int | None = None) -> list[tuple[Any, ...]]:
    """Rows of one extract date; ``tag`` tells versions of the same date apart."""
    rows = []
    texts = AWKWARD if n is None else [f"{tag}-{i}" for i in range(n)]
    for i, text in enumerate(texts):
        nulls = i % 4 == 3  # every fourth row: NULL in every nullable column
        rows.append(
            (
                f"006{tag}{i:05d}",
                None if nulls else text,
                None if nulls else Decimal(f"{i * 1000 + 12}.3{i % 10}"),
                None if nulls else i / 3,
                None if nulls else date(2024, 12, 31),
                None if nulls else i % 2 == 0,
                None if nulls else 2**40 + i,
                None if nulls else datetime(2025, 2, 28, 23, 59, 58, 123456 + i),
                extract_date,
                f"Opportunity/{extract_date.isoformat()}/part,1.csv",
                i + 2,
                datetime(2025, 3, 4, 6, 0, 0, 1),
            )
        )
    return rows


def make_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """``raw.sample`` with two extract dates, and rejects and audit rows of two objects."""
    ensure_raw_schema(con)
    con.execute(f"CREATE TABLE raw.{TABLE} ({COLUMNS})")
    put_rows(con, D1, sample_rows(D1))
    put_rows(con, D2, sample_rows(D2, "b"))
    for obj in ("Opportunity", "Task"):
        for d in (D1, D2):
            con.execute(
                "INSERT INTO raw._rejects VALUES (?, ?, ?, 7, 'amount', ?, 'not a number', ?, true)",
                [obj, d, f"{obj}/{d}/x.csv", '12,5\t"x"\n\\', datetime(2025, 3, 4, 6)],
            )
            con.execute(
                "INSERT INTO raw._load_audit VALUES (?, ?, 1, 11, 10, 1, ?, 'sig')",
                [obj, d, datetime(2025, 3, 4, 6)],
            )


def put_rows(con: duckdb.DuckDBPyConnection, extract_date: date, rows: list[tuple[Any, ...]]) -> None:
    """Replace one extract date of ``raw.sample`` (as a load does)."""
    con.execute(f"DELETE FROM raw.{TABLE} WHERE _extract_date = ?", [extract_date])
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f"INSERT INTO raw.{TABLE} VALUES ({marks})", rows)


def duck_rows(
    con: duckdb.DuckDBPyConnection, table: str = TABLE, where: str = "true"
) -> list[tuple[Any, ...]]:
    return con.execute(f'SELECT * FROM raw."{table}" WHERE {where} ORDER BY ALL').fetchall()
