"""Raw tables on PostgreSQL from the lake (orchestration/lake/postgres.py): the same rows as DuckDB, value
for value, and a run's extract dates replaced in one transaction.

Needs a PostgreSQL server (``.ci/postgres.sh start`` prints the SALES_WH_PG_* variables). Without one the
tests are skipped, unless SALES_WH_REQUIRE_POSTGRES=1 (set by CI), where a missing server is a failure.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.contract import OBJECTS
from orchestration.lake import write_load, write_partitions
from orchestration.lake.postgres import load_postgres_object, load_postgres_raw
from tests.lake_tables import D1, D2, D3, TABLE, duck_rows, make_warehouse, put_rows, sample_rows
from tests.portability import scratch_pg_database

psycopg2 = pytest.importorskip("psycopg2")

OPPORTUNITY = next(o for o in OBJECTS if o.name == "Opportunity")


@pytest.fixture
def conninfo():
    """A fresh database per test; its libpq connection string."""
    with scratch_pg_database("sales_wh_lake") as params:
        yield " ".join(f"{k}={v}" for k, v in params.items() if v != "")


@pytest.fixture
def con():
    con = duckdb.connect()
    make_warehouse(con)
    yield con
    con.close()


def _pg_rows(conninfo: str, table: str = TABLE, where: str = "true") -> list[tuple]:
    pg = psycopg2.connect(conninfo)
    try:
        with pg.cursor() as cur:
            cur.execute(f'select * from raw."{table}" where {where}')
            rows = cur.fetchall()
    finally:
        pg.close()
    # DuckDB's ORDER BY ALL and PostgreSQL's collation sort text differently: sort in Python.
    return sorted(rows, key=repr)


def _duck(con: duckdb.DuckDBPyConnection, table: str = TABLE, where: str = "true") -> list[tuple]:
    return sorted(duck_rows(con, table, where), key=repr)


def test_postgres_gets_exactly_the_duckdb_rows(con, conninfo: str, tmp_path: Path) -> None:
    write_partitions(con, TABLE, [D1, D2], tmp_path)
    assert load_postgres_raw(conninfo, tmp_path, TABLE, [D1, D2]) == len(duck_rows(con))
    got, want = _pg_rows(conninfo), _duck(con)
    assert got == want  # Decimal, float, date, datetime, bool, int, text: equal and of the same type
    assert [tuple(map(type, r)) for r in got] == [tuple(map(type, r)) for r in want]
    assert "" in {r[1] for r in got} and None in {r[1] for r in got}  # empty text is not NULL
    pg = psycopg2.connect(conninfo)
    with pg.cursor() as cur:
        cur.execute(
            "select column_name, data_type, numeric_precision, numeric_scale from information_schema.columns "
            "where table_schema = 'raw' and table_name = %s order by ordinal_position",
            [TABLE],
        )
        columns = cur.fetchall()
    pg.close()
    assert [c[0] for c in columns] == [r[0] for r in con.execute(f"DESCRIBE raw.{TABLE}").fetchall()]
    assert columns[2] == ("amount", "numeric", 18, 2)
    assert columns[7][1] == "timestamp without time zone"


def test_a_load_replaces_the_run_dates_and_removes_dates_without_rows(
    con, conninfo: str, tmp_path: Path
) -> None:
    write_partitions(con, TABLE, [D1, D2], tmp_path)
    load_postgres_raw(conninfo, tmp_path, TABLE, [D1, D2])
    put_rows(con, D1, sample_rows(D1, "c", n=3))
    put_rows(con, D2, [])
    put_rows(con, D3, sample_rows(D3, "d", n=2))
    write_partitions(con, TABLE, [D1, D2, D3], tmp_path)
    load_postgres_raw(conninfo, tmp_path, TABLE, [D1, D2, D3])
    assert _pg_rows(conninfo) == _duck(con)
    assert _pg_rows(conninfo, where=f"_extract_date = '{D2}'") == []


def test_a_failure_mid_copy_leaves_the_previous_rows(con, conninfo: str, tmp_path: Path) -> None:
    write_partitions(con, TABLE, [D1, D2], tmp_path)
    load_postgres_raw(conninfo, tmp_path, TABLE, [D1, D2])
    before = _pg_rows(conninfo)
    # The new D2 holds, in the middle of its file, a row the server refuses while copying.
    put_rows(con, D1, sample_rows(D1, "c", n=3))
    rows = sample_rows(D2, "d", n=9)
    rows[5] = (rows[5][0], "boom", *rows[5][2:])
    put_rows(con, D2, rows)
    write_partitions(con, TABLE, [D1, D2], tmp_path)
    pg = psycopg2.connect(conninfo)
    with pg.cursor() as cur:
        cur.execute(f"alter table raw.{TABLE} add constraint no_boom check (name is distinct from 'boom')")
    pg.commit()
    pg.close()
    with pytest.raises(psycopg2.errors.CheckViolation):
        load_postgres_raw(conninfo, tmp_path, TABLE, [D1, D2])
    assert _pg_rows(conninfo) == before  # D1's delete and copy were rolled back with D2's


def test_an_object_load_replaces_table_rejects_and_audit_together(con, conninfo: str, tmp_path: Path) -> None:
    con.execute(f"ALTER TABLE raw.{TABLE} RENAME TO opportunity_sample")
    con.execute("DROP TABLE raw.opportunity")
    con.execute("ALTER TABLE raw.opportunity_sample RENAME TO opportunity")
    write_load(con, OPPORTUNITY, [D1, D2], tmp_path)
    copied = load_postgres_object(conninfo, tmp_path, OPPORTUNITY, [D1, D2])
    assert copied == {"opportunity": len(duck_rows(con, "opportunity")), "_rejects": 2, "_load_audit": 2}
    for table in ("opportunity", "_rejects", "_load_audit"):
        where = "true" if table == "opportunity" else "object = 'Opportunity'"
        assert _pg_rows(conninfo, table) == _duck(con, table, where)
    # Task's rejects on PostgreSQL are not touched by an Opportunity load
    write_partitions(con, "_rejects", [D1], tmp_path, object_name="Task")
    load_postgres_raw(conninfo, tmp_path, "_rejects", [D1], object_name="Task")
    con.execute("DELETE FROM raw._rejects WHERE object = 'Opportunity'")
    con.execute("DELETE FROM raw._load_audit WHERE object = 'Opportunity' AND extract_date = ?", [D2])
    write_load(con, OPPORTUNITY, [D1, D2], tmp_path)
    load_postgres_object(conninfo, tmp_path, OPPORTUNITY, [D1, D2])
    assert [r[0] for r in _pg_rows(conninfo, "_rejects")] == ["Task"]
    assert _pg_rows(conninfo, "_load_audit") == _duck(con, "_load_audit", "object = 'Opportunity'")


def test_a_column_added_in_the_lake_is_added_on_postgres(con, conninfo: str, tmp_path: Path) -> None:
    write_partitions(con, TABLE, [D1], tmp_path)
    load_postgres_raw(conninfo, tmp_path, TABLE, [D1])
    con.execute(f"ALTER TABLE raw.{TABLE} ADD COLUMN extra_note VARCHAR")
    put_rows(con, D2, [(*r, "a\tnote") for r in sample_rows(D2, "b", n=2)])
    write_partitions(con, TABLE, [D2], tmp_path)
    load_postgres_raw(conninfo, tmp_path, TABLE, [D2])
    assert _pg_rows(conninfo) == _duck(con, where=f"_extract_date IN ('{D1}', '{D2}')")
