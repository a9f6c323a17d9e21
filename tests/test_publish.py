"""Publish: the tables and history written, the previous file byte-identical after any failure, and
the run's partition range as it is recorded."""

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.publishing.publish import (
    RUN_HISTORY,
    PublishRequest,
    publish,
    remove_stale_temp_files,
    tables_to_publish,
    temp_path_for,
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def warehouse_file(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema core")
    con.execute("create table marts.kpi_bookings as select range as i from range(5)")
    con.execute("create table core.dim_reps as select range as i from range(3)")
    con.close()
    return path


def test_publish_writes_tables_and_carries_run_history_forward(tmp_path: Path, warehouse_file: Path) -> None:
    published = tmp_path / "pub" / "published.duckdb"
    tables = ["marts.kpi_bookings", "core.dim_reps"]
    assert publish(warehouse_file, published, PublishRequest("run-1", tables)) == {
        "marts.kpi_bookings": 5,
        "core.dim_reps": 3,
    }
    publish(warehouse_file, published, PublishRequest("run-2", tables))
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute(f"select run_id from {RUN_HISTORY} order by published_at").fetchall() == [
        ("run-1",),
        ("run-2",),
    ]
    assert con.execute("select count(*) from marts.kpi_bookings").fetchone() == (5,)
    con.close()
    assert not temp_path_for(published, "run-2").exists()


def test_failed_publish_leaves_the_previous_file_byte_identical(tmp_path: Path, warehouse_file: Path) -> None:
    published = tmp_path / "published.duckdb"
    publish(warehouse_file, published, PublishRequest("run-1", ["marts.kpi_bookings"]))
    before = _sha(published)

    def crash(tmp: Path) -> None:
        assert tmp.exists()  # the new file is complete, only the move is left
        raise RuntimeError("crash before replace")

    with pytest.raises(RuntimeError):
        publish(
            warehouse_file, published, PublishRequest("run-2", ["marts.kpi_bookings"]), before_replace=crash
        )
    assert _sha(published) == before
    assert not temp_path_for(published, "run-2").exists()

    # A failure while copying (a table that does not exist) also leaves it untouched.
    with pytest.raises(duckdb.CatalogException):
        publish(warehouse_file, published, PublishRequest("run-3", ["marts.kpi_missing"]))
    assert _sha(published) == before
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute(f"select run_id from {RUN_HISTORY}").fetchall() == [("run-1",)]
    con.close()


def test_tables_to_publish_are_the_marts_and_the_core_dims_facts_and_findings(warehouse_file: Path) -> None:
    with duckdb.connect(str(warehouse_file)) as con:
        con.execute("create table core.fct_x (i int); create table core.int_y (i int)")
        con.execute("create table core.dq_z (i int)")
        assert tables_to_publish(con) == ["marts.kpi_bookings", "core.dim_reps", "core.dq_z", "core.fct_x"]


def _leave_temp_files(published: Path, run_id: str) -> list[Path]:
    """What a publish killed mid-write leaves: its temporary file, the ``.wal`` and the spill folder."""
    tmp = temp_path_for(published, run_id)
    with duckdb.connect(str(tmp)) as con:
        con.execute("create table t as select range as i from range(10)")
    wal = tmp.with_name(tmp.name + ".wal")
    wal.write_bytes(b"\0" * 1024)
    spill = tmp.with_name(tmp.name + ".tmp")
    spill.mkdir()
    (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"x")
    return [tmp, wal, spill]


def test_next_publish_removes_temp_files_a_killed_publish_left(tmp_path: Path, warehouse_file: Path) -> None:
    published = tmp_path / "published.duckdb"
    publish(warehouse_file, published, PublishRequest("run-1", ["marts.kpi_bookings"]))
    leftovers = _leave_temp_files(published, "killed-run-0001")
    others = [tmp_path / ".other.duckdb.killed-run-0001.tmp", tmp_path / "notes.tmp"]
    for other in others:
        other.write_text("not ours")
    messages: list[str] = []
    publish(warehouse_file, published, PublishRequest("run-2", ["marts.kpi_bookings"]), log=messages.append)
    assert not any(p.exists() for p in leftovers)
    assert all(p.exists() for p in others)  # only files of the publish's own naming pattern
    assert len(messages) == 1 and "removed 3 temporary file(s) a killed publish left" in messages[0]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".published")) == []


def test_temp_file_a_live_process_holds_is_not_removed(tmp_path: Path) -> None:
    published = tmp_path / "published.duckdb"
    tmp = temp_path_for(published, "live-run-00001")
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]); c.execute('create table t (i int)'); "
        "print('open', flush=True); sys.stdin.read()"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "open"
        assert remove_stale_temp_files(published) == []
        assert tmp.exists()
    finally:
        assert writer.stdin is not None
        writer.stdin.close()
        writer.wait(timeout=30)
    assert tmp in remove_stale_temp_files(published)
    assert not tmp.exists()


def test_warehouse_and_published_paths_with_a_quote_publish(tmp_path: Path, warehouse_file: Path) -> None:
    folder = tmp_path / "o'brien's data"
    folder.mkdir()
    warehouse = folder / "ware'house.duckdb"
    shutil.copy(warehouse_file, warehouse)
    published = folder / "pub'lished.duckdb"
    for run in ("run-1", "run-2"):  # the second also reads the first (carry forward) through a quoted path
        assert publish(warehouse, published, PublishRequest(run, ["marts.kpi_bookings"])) == {
            "marts.kpi_bookings": 5
        }
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute(f"select count(*) from {RUN_HISTORY}").fetchone() == (2,)


def test_publish_keeps_the_published_files_mode_and_group(tmp_path: Path, warehouse_file: Path) -> None:
    published = tmp_path / "published.duckdb"
    publish(warehouse_file, published, PublishRequest("run-1", ["marts.kpi_bookings"]))
    os.chmod(published, 0o600)
    groups = [g for g in os.getgroups() if g != os.stat(published).st_gid]
    if groups:
        os.chown(published, -1, groups[0])
    gid = os.stat(published).st_gid
    publish(warehouse_file, published, PublishRequest("run-2", ["marts.kpi_bookings"]))
    assert stat.S_IMODE(os.stat(published).st_mode) == 0o600
    assert os.stat(published).st_gid == gid
    os.chmod(published, 0o640)
    publish(warehouse_file, published, PublishRequest("run-3", ["marts.kpi_bookings"]))
    assert stat.S_IMODE(os.stat(published).st_mode) == 0o640


def _rows(path: Path, table: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"select * from {table} order by all").fetchall()


def test_incremental_publish_replaces_changed_keys_and_equals_the_warehouse(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wh, published = tmp_path / "warehouse.duckdb", tmp_path / "published.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema core; create schema marts")
        # day d holds rows (d, 0..d); amounts as built
        con.execute(
            "create table core.fct_daily as select d::int as day, r::int as row_no, "
            "(d * 10 + r)::int as amount from range(1, 5) as a(d), range(0, 5) as b(r) where r <= d"
        )
        con.execute("create table marts.kpi_x as select 1 as v")
        con.execute("create table marts.kpi_dropped as select 1 as v")
    state = ("project-a", "raw-1")
    tables = ["core.fct_daily", "marts.kpi_x", "marts.kpi_dropped"]
    keys = {"core.fct_daily": "day"}
    publish(wh, published, PublishRequest("run-1", tables, build_state=state, incremental_keys=keys))
    with duckdb.connect(str(wh)) as con:
        con.execute("update core.fct_daily set amount = -1 where day = 2 and row_no = 1")  # changed day
        con.execute("delete from core.fct_daily where day = 3 and row_no = 0")  # a row gone
        con.execute("delete from core.fct_daily where day = 1")  # a day gone
        con.execute("insert into core.fct_daily values (9, 0, 90), (9, 1, 91)")  # a new day
        con.execute("create or replace table marts.kpi_x as select 2 as v")
        con.execute("drop table marts.kpi_dropped")
    caplog.set_level("INFO", logger="orchestration.publishing.publish")
    counts = publish(
        wh, published, PublishRequest("run-2", tables[:2], build_state=state, incremental_keys=keys)
    )
    # Days 1 (gone), 2 (a row changed), 3 (a row gone) and 9 (new) replaced; day 4 kept.
    assert "4 key value(s) of the incremental tables replaced" in caplog.text
    # By hand: days 2 (3 rows), 3 (3 of 4), 4 (5 rows), 9 (2 rows).
    assert counts == {"core.fct_daily": 13, "marts.kpi_x": 1}
    assert _rows(published, "core.fct_daily") == _rows(wh, "core.fct_daily")
    assert (2, 1, -1) in _rows(published, "core.fct_daily")
    assert _rows(published, "marts.kpi_x") == [(2,)]
    with duckdb.connect(str(published), read_only=True) as con:
        names = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        history = con.execute(f"select run_id from {RUN_HISTORY} order by published_at").fetchall()
    assert "kpi_dropped" not in names
    assert history == [("run-1",), ("run-2",)]


def test_incremental_publish_replaces_rows_written_since_then_compares_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A table keyed by two columns with `_built_at`: the keys of rows written since the last publish are
    replaced first; a removed row and a row changed without a new `_built_at` are found by comparison."""
    wh, published = tmp_path / "warehouse.duckdb", tmp_path / "published.duckdb"
    first, second = "timestamp '2025-01-01 06:00'", "timestamp '2025-01-02 06:00'"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema core")
        con.execute(
            "create table core.fct_pairs as select * from (values "
            f"(1, 'a', 10, {first}), (1, 'b', 11, {first}), (2, 'a', 20, {first}), (2, 'b', 21, {first}), "
            f"(3, 'a', 30, {first})) as v(day, id, amount, _built_at)"
        )
    request = dict(build_state=("p", "r"), incremental_keys={"core.fct_pairs": ("day", "id")})
    publish(wh, published, PublishRequest("run-1", ["core.fct_pairs"], **request))
    with duckdb.connect(str(wh)) as con:
        con.execute(
            f"update core.fct_pairs set amount = -20, _built_at = {second} where day = 2 and id = 'a'"
        )
        con.execute(f"insert into core.fct_pairs values (4, 'a', 40, {second}), (4, 'b', 41, {second})")
        con.execute("delete from core.fct_pairs where day = 1 and id = 'b'")
        con.execute("update core.fct_pairs set amount = 31 where day = 3")  # _built_at left as it was
    caplog.set_level("INFO", logger="orchestration.publishing.publish")
    counts = publish(wh, published, PublishRequest("run-2", ["core.fct_pairs"], **request))
    # By hand: (2, a), (4, a), (4, b) written since; (1, b) gone and (3, a) changed found by comparison.
    assert (
        "5 key value(s) of the incremental tables replaced (3 written since the last publish, 2 found"
        in caplog.text
    )
    assert counts == {"core.fct_pairs": 6}
    assert _rows(published, "core.fct_pairs") == _rows(wh, "core.fct_pairs")
    assert [r[:3] for r in _rows(published, "core.fct_pairs")] == [
        (1, "a", 10),
        (2, "a", -20),
        (2, "b", 21),
        (3, "a", 31),
        (4, "a", 40),
        (4, "b", 41),
    ]


def test_incremental_publish_copies_a_table_whose_columns_changed(tmp_path: Path) -> None:
    wh, published = tmp_path / "warehouse.duckdb", tmp_path / "published.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema core; create table core.fct_daily as select 1 as day, 10 as amount")
    request = dict(build_state=("p", "r"), incremental_keys={"core.fct_daily": "day"})
    publish(wh, published, PublishRequest("run-1", ["core.fct_daily"], **request))
    with duckdb.connect(str(wh)) as con:
        con.execute("alter table core.fct_daily add column note varchar default 'x'")
    publish(wh, published, PublishRequest("run-2", ["core.fct_daily"], **request))
    assert _rows(published, "core.fct_daily") == [(1, 10, "x")]
