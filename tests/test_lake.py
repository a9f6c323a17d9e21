"""The lake's files (orchestration/lake/): Hive-style partitions written, replaced and removed
atomically, read back by DuckDB with the same rows and types, leftovers of a crash cleaned up."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.contract import OBJECTS
from orchestration.lake import create_lake_view, lake_table, write_load, write_partitions
from orchestration.lake.layout import PART_FILE, SCHEMA_FILE
from tests.lake_tables import D1, D2, D3, TABLE, duck_rows, make_warehouse, put_rows, sample_rows

OPPORTUNITY = next(o for o in OBJECTS if o.name == "Opportunity")


class Crash(Exception):
    pass


@pytest.fixture
def con():
    con = duckdb.connect()
    make_warehouse(con)
    yield con
    con.close()


def _lake_rows(lake: Path, table: str = TABLE, where: str = "true") -> list[tuple]:
    reader = duckdb.connect()
    try:
        create_lake_view(reader, lake, table)
        return reader.execute(f'SELECT * FROM raw."{table}" WHERE {where} ORDER BY ALL').fetchall()
    finally:
        reader.close()


def _types(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """Column names and types in order (a view has no column defaults)."""
    return [(r[0], r[1]) for r in con.execute(f'DESCRIBE raw."{table}"').fetchall()]


def test_partitions_are_hive_folders_with_the_same_rows_and_types(con, tmp_path: Path) -> None:
    written = write_partitions(con, TABLE, [D1, D2], tmp_path)
    assert written == [tmp_path / TABLE / f"_extract_date={d}" / PART_FILE for d in (D1, D2)]
    assert sorted(p.name for p in (tmp_path / TABLE).iterdir()) == [
        "_extract_date=2025-03-01",
        "_extract_date=2025-03-02",
        SCHEMA_FILE,
    ]
    assert _lake_rows(tmp_path) == duck_rows(con)
    reader = duckdb.connect()
    create_lake_view(reader, tmp_path, TABLE)
    assert _types(reader, TABLE) == _types(con, TABLE)
    # plain hive reading (what any Parquet reader sees) gives the partition column as a DATE too
    hive = duckdb.sql(
        f"SELECT DISTINCT _extract_date FROM read_parquet('{tmp_path}/{TABLE}/*/*.parquet', "
        "hive_partitioning = true) ORDER BY 1"
    ).fetchall()
    assert hive == [(D1,), (D2,)]


def test_a_write_replaces_its_dates_and_removes_dates_without_rows(con, tmp_path: Path) -> None:
    write_partitions(con, TABLE, [D1, D2], tmp_path)
    put_rows(con, D1, sample_rows(D1, "c", n=3))
    put_rows(con, D2, [])
    put_rows(con, D3, sample_rows(D3, "d", n=2))
    write_partitions(con, TABLE, [D1, D2, D3], tmp_path)
    assert not (tmp_path / TABLE / f"_extract_date={D2}").exists()
    assert _lake_rows(tmp_path) == duck_rows(con)
    assert [r[0] for r in _lake_rows(tmp_path, where=f"_extract_date = '{D1}'")] == [
        "006c00000",
        "006c00001",
        "006c00002",
    ]
    assert sorted(p.name for p in (tmp_path / TABLE).iterdir() if p.name.startswith(".")) == []
    # dates not asked for are left alone
    put_rows(con, D3, [])
    write_partitions(con, TABLE, [D1], tmp_path)
    assert (tmp_path / TABLE / f"_extract_date={D3}" / PART_FILE).exists()


@pytest.mark.xfail(
    reason="known weakness: DuckDB opens a Parquet path twice per query (footer at bind, data at scan); a "
    "file renamed over it in between is read as the old footer with the new data (docs/DECISIONLOG.md: Lake)",
    strict=False,
)
def test_a_reader_sees_the_old_or_the_new_partition_never_a_mix(con, tmp_path: Path) -> None:
    for tag, n in (("a", 3000), ("b", 2000)):  # two versions of D1, generated in SQL (fast)
        con.execute(
            f"""CREATE TABLE version_{tag} AS SELECT '006{tag}' || lpad(CAST(i AS VARCHAR), 5, '0') AS id,
                    'row ' || i AS name, CAST(i AS DECIMAL(18, 2)) AS amount, i / 3 AS rate,
                    DATE '2024-12-31' AS close_date, i % 2 = 0 AS is_won, i AS call_seconds,
                    TIMESTAMP '2025-02-28 23:59:58' AS created_at, DATE '{D1}' AS _extract_date,
                    'x.csv' AS _source_file, i + 2 AS _source_line, TIMESTAMP '2025-03-04 06:00' AS _loaded_at
                FROM range({n}) AS r(i)"""
        )
    con.execute(f"DELETE FROM raw.{TABLE}; INSERT INTO raw.{TABLE} SELECT * FROM version_a")
    write_partitions(con, TABLE, [D1], tmp_path)
    part = lake_table(TABLE).partition(tmp_path, D1) / PART_FILE
    expected = {("a", "a", 3000): "a", ("b", "b", 2000): "b"}
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        reader = duckdb.connect()
        while not done.is_set():
            try:
                got = reader.execute(
                    f"SELECT min(substr(id, 4, 1)), max(substr(id, 4, 1)), count(*) "
                    f"FROM read_parquet('{part}', hive_partitioning = false)"
                ).fetchone()
                seen.append(expected.get(got, f"MIX {got}"))
            except duckdb.Error as exc:  # a missing or half-written file
                seen.append(f"ERROR {exc}")
            time.sleep(0.002)  # leave the writer some of the GIL
        reader.close()

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for i in range(10):
            con.execute(
                f"DELETE FROM raw.{TABLE}; INSERT INTO raw.{TABLE} SELECT * FROM version_{'ab'[i % 2 == 0]}"
            )
            write_partitions(con, TABLE, [D1], tmp_path)
    finally:
        done.set()
        thread.join()
    bad = [s for s in seen if s not in ("a", "b")]
    assert seen and not bad, f"{len(bad)} of {len(seen)} reads saw neither version: {bad[:3]}"
    assert {"a", "b"} <= set(seen)


def test_a_crash_before_the_rename_keeps_the_old_partition_and_the_next_write_cleans_up(
    con, tmp_path: Path
) -> None:
    write_partitions(con, TABLE, [D1, D2], tmp_path)
    before = _lake_rows(tmp_path)

    def crash(step: str, path: Path) -> None:
        if step == "written":
            raise Crash(step)

    put_rows(con, D1, sample_rows(D1, "c", n=3))
    with pytest.raises(Crash):
        write_partitions(con, TABLE, [D1], tmp_path, hook=crash)
    assert _lake_rows(tmp_path) == before  # the old partition, whole
    leftovers = [p.name for p in (tmp_path / TABLE).iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1

    write_partitions(con, TABLE, [D1], tmp_path)
    assert _lake_rows(tmp_path) == duck_rows(con)
    assert [p.name for p in (tmp_path / TABLE).iterdir() if p.name.startswith(".")] == []


def test_a_crash_between_two_partitions_leaves_each_one_old_or_new(con, tmp_path: Path) -> None:
    write_partitions(con, TABLE, [D1, D2], tmp_path)
    old_d2 = _lake_rows(tmp_path, where=f"_extract_date = '{D2}'")

    def crash(step: str, path: Path) -> None:
        if step == "replaced" and path.name == f"_extract_date={D1}":
            raise Crash(step)

    put_rows(con, D1, sample_rows(D1, "c", n=3))
    put_rows(con, D2, sample_rows(D2, "d", n=3))
    with pytest.raises(Crash):
        write_partitions(con, TABLE, [D1, D2], tmp_path, hook=crash)
    assert _lake_rows(tmp_path, where=f"_extract_date = '{D1}'") == duck_rows(
        con, where=f"_extract_date = '{D1}'"
    )
    assert _lake_rows(tmp_path, where=f"_extract_date = '{D2}'") == old_d2
    write_partitions(con, TABLE, [D1, D2], tmp_path)
    assert _lake_rows(tmp_path) == duck_rows(con)


def test_a_crash_while_removing_leaves_the_partition_gone_and_the_next_write_cleans_up(
    con, tmp_path: Path
) -> None:
    write_partitions(con, TABLE, [D1, D2], tmp_path)

    def crash(step: str, path: Path) -> None:
        if step == "removed":
            raise Crash(step)

    put_rows(con, D2, [])
    with pytest.raises(Crash):
        write_partitions(con, TABLE, [D2], tmp_path, hook=crash)
    assert _lake_rows(tmp_path) == duck_rows(con)  # D2 is already gone for readers
    assert any(p.name.startswith(".old-") for p in (tmp_path / TABLE).iterdir())
    write_partitions(con, TABLE, [D1], tmp_path)
    assert [p.name for p in (tmp_path / TABLE).iterdir() if p.name.startswith(".")] == []


def test_rejects_and_audit_are_partitioned_by_object_and_date(con, tmp_path: Path) -> None:
    write_partitions(con, "_rejects", [D1, D2], tmp_path, object_name="Task")
    write_load(con, OPPORTUNITY, [D1, D2], tmp_path)
    for table in ("_rejects", "_load_audit"):
        assert (tmp_path / table / "object=Opportunity" / f"extract_date={D1}" / PART_FILE).exists()
        assert _lake_rows(tmp_path, table, "object = 'Opportunity'") == duck_rows(
            con, table, "object = 'Opportunity'"
        )
    # a load of Opportunity rewrites only Opportunity's rejects: Task's stay as written before
    con.execute("DELETE FROM raw._rejects WHERE object = 'Opportunity' AND extract_date = ?", [D2])
    con.execute("DELETE FROM raw._rejects WHERE object = 'Task'")
    write_load(con, OPPORTUNITY, [D2], tmp_path)
    assert not (tmp_path / "_rejects" / "object=Opportunity" / f"extract_date={D2}").exists()
    assert len(_lake_rows(tmp_path, "_rejects", "object = 'Task'")) == 2
    reader = duckdb.connect()
    create_lake_view(reader, tmp_path, "_rejects")
    assert _types(reader, "_rejects") == _types(con, "_rejects")
    with pytest.raises(ValueError, match="object_name"):
        write_partitions(con, "_rejects", [D1], tmp_path)


def test_an_empty_table_reads_as_empty_with_its_columns(con, tmp_path: Path) -> None:
    write_load(con, next(o for o in OBJECTS if o.name == "OpportunityStage"), [D1], tmp_path)
    reader = duckdb.connect()
    create_lake_view(reader, tmp_path, "opportunity_stage")
    assert reader.execute("SELECT count(*) FROM raw.opportunity_stage").fetchone() == (0,)
    assert _types(reader, "opportunity_stage") == _types(con, "opportunity_stage")


def test_a_column_added_later_is_null_in_older_partitions(con, tmp_path: Path) -> None:
    write_partitions(con, TABLE, [D1], tmp_path)
    con.execute(f"ALTER TABLE raw.{TABLE} ADD COLUMN extra_note VARCHAR")
    put_rows(con, D2, [(*r, "note") for r in sample_rows(D2, "b", n=2)])
    write_partitions(con, TABLE, [D2], tmp_path)
    assert _lake_rows(tmp_path) == duck_rows(con, where=f"_extract_date IN ('{D1}', '{D2}')")
    assert {r[-1] for r in _lake_rows(tmp_path, where=f"_extract_date = '{D1}'")} == {None}


def test_writing_no_dates_writes_only_the_schema(con, tmp_path: Path) -> None:
    assert write_partitions(con, TABLE, [], tmp_path) == []
    assert [p.name for p in (tmp_path / TABLE).iterdir()] == [SCHEMA_FILE]
    with pytest.raises(ValueError, match="does not exist"):
        write_partitions(con, "no_such_table", [date(2025, 1, 1)], tmp_path)
