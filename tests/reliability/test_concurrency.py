"""Concurrency: one pipeline per warehouse (a second one exits at once naming the first, or waits; a lock
file left by a killed run never blocks), and readers of the published file during publishes.

Real processes and real files: the lock holders are small Python processes that take the run lock the
way ``run_pipeline`` does; one end-to-end case starts two ``sales-wh run`` on one warehouse.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration import dbt_parse
from orchestration.publishing.publish import RUN_HISTORY, PublishRequest, publish
from orchestration.settings import PROJECT_ROOT
from orchestration.tooling.cli import main
from orchestration.tooling.run_lock import (
    EXIT_BUSY,
    LockHolder,
    WarehouseBusy,
    lock_path_for,
    read_holder,
    warehouse_run_lock,
)
from tests.conftest import DemoLanding
from tests.reliability.record import full, put

HOLDER_COMMAND = "sales-wh run --start 2025-01-01 (test holder)"


class RunLockHolder:
    """Another process holding the run lock of ``warehouse`` until :meth:`release` (or :meth:`kill`)."""

    def __init__(self, warehouse: Path) -> None:
        code = (
            "import sys\n"
            "from orchestration.tooling.run_lock import warehouse_run_lock\n"
            f"with warehouse_run_lock(sys.argv[1], command={HOLDER_COMMAND!r}):\n"
            "    print('locked', flush=True)\n"
            "    sys.stdin.read()\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(warehouse)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=PROJECT_ROOT,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[RunLockHolder]:
    h = RunLockHolder(tmp_path / "warehouse.duckdb")
    yield h
    h.release()


def test_second_run_is_refused_at_once_naming_the_running_one(tmp_path: Path, holder: RunLockHolder) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    t0 = time.monotonic()
    with pytest.raises(WarehouseBusy) as busy, warehouse_run_lock(warehouse):
        pytest.fail("the lock is held by another process")
    assert time.monotonic() - t0 < 2
    assert busy.value.holder.pid == holder.process.pid
    message = busy.value.message()
    assert f"pid {holder.process.pid}" in message and HOLDER_COMMAND in message
    assert busy.value.holder.started_at and busy.value.holder.started_at in message
    assert "\n" not in message  # one paragraph
    assert not warehouse.exists()  # refused before anything opened the warehouse


def test_waiting_run_goes_on_when_the_running_one_finishes(tmp_path: Path, holder: RunLockHolder) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    waited_for: list[int | None] = []
    release_at = time.monotonic() + 1.0

    def on_wait(h: LockHolder) -> None:
        waited_for.append(h.pid)

    threading.Timer(1.0, holder.release).start()
    with warehouse_run_lock(warehouse, wait=30, on_wait=on_wait):
        assert time.monotonic() >= release_at - 0.1
        assert read_holder(lock_path_for(warehouse)).pid == os.getpid()
    assert waited_for == [holder.process.pid]


def test_waiting_is_bounded_by_its_timeout(tmp_path: Path, holder: RunLockHolder) -> None:
    t0 = time.monotonic()
    with pytest.raises(WarehouseBusy) as busy, warehouse_run_lock(tmp_path / "warehouse.duckdb", wait=0.6):
        pytest.fail("the lock is held by another process")
    assert 0.5 <= time.monotonic() - t0 < 5
    assert "within the 1 s this run waited" in busy.value.message()


def test_a_lock_file_left_by_a_killed_run_does_not_block(tmp_path: Path, holder: RunLockHolder) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    holder.kill()
    lock = lock_path_for(warehouse)
    assert read_holder(lock).pid == holder.process.pid  # the file and its text are still there
    with warehouse_run_lock(warehouse):
        assert read_holder(lock).pid == os.getpid()
    assert lock.read_text() == ""  # a finished run names nobody


def test_run_pipeline_refuses_before_touching_the_warehouse(
    tmp_path: Path, holder: RunLockHolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.tooling.pipeline import run_pipeline

    monkeypatch.setenv("SALES_WH_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("SALES_WH_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("SALES_WH_PUBLISHED", str(tmp_path / "published.duckdb"))
    with pytest.raises(WarehouseBusy):
        run_pipeline("2025-01-01")
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_cli_exits_3_with_the_message_and_no_traceback_before_opening_dagster_home(
    tmp_path: Path, holder: RunLockHolder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("SALES_WH_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("SALES_WH_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("SALES_WH_PUBLISHED", str(tmp_path / "published.duckdb"))
    monkeypatch.setenv("SALES_WH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    parses: list[object] = []
    start = dbt_parse.DbtParse.__init__
    monkeypatch.setattr(
        dbt_parse.DbtParse, "__init__", lambda self, *args: (parses.append(args), start(self, *args))[-1]
    )
    assert main(["run", "--start", "2025-01-01", "--record"]) == EXIT_BUSY
    assert parses == []  # no dbt parse started for a run that cannot run
    err = capsys.readouterr().err
    assert f"pid {holder.process.pid}" in err and "--wait" in err and "Traceback" not in err
    # The lock is taken before DagsterInstance.get(): the new instance's storage was not created.
    assert list(home.iterdir()) == []
    # Nothing ran, so no run log is left behind (a cron retrying during a long backfill piles none up).
    assert list((tmp_path / "data" / "logs").glob("*.log")) == []


# --- readers of the published file during publishes ------------------------------------------------------

READER = """
import sys, time, duckdb
path, stop = sys.argv[1], sys.argv[2]
reads = errors = mixes = 0
import os
while not os.path.exists(stop):
    try:
        con = duckdb.connect(path, read_only=True)
        try:
            (last,) = con.execute(
                "select run_id from main.run_history order by published_at desc limit 1").fetchone()
            (value,) = con.execute("select max(run) from marts.kpi_x").fetchone()
            (n,) = con.execute("select count(*) from main.run_history").fetchone()
            if last != f"run-{value}" or n != value:
                mixes += 1
        finally:
            con.close()
        reads += 1
    except Exception as exc:
        errors += 1
        print(repr(exc), file=sys.stderr)
print(reads, errors, mixes)
"""


def _warehouse_for_run(path: Path, run: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            f"create or replace table marts.kpi_x as select {run} as run, range as i from range(2000)"
        )


#: Publishes the readers loop through (after the first): the full set (make reliability) does more.
PUBLISHES = 100 if full() else 20


def test_readers_never_see_an_error_or_a_mix_during_publishes(tmp_path: Path) -> None:
    warehouse, published, stop = tmp_path / "wh.duckdb", tmp_path / "pub.duckdb", tmp_path / "stop"
    _warehouse_for_run(warehouse, 1)
    publish(warehouse, published, PublishRequest("run-1", ["marts.kpi_x"]))
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(published), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    # A reader holding its connection open throughout neither blocks publishing nor sees a change.
    held = duckdb.connect(str(published), read_only=True)
    t0 = time.monotonic()
    try:
        for run in range(2, PUBLISHES + 2):
            _warehouse_for_run(warehouse, run)
            publish(warehouse, published, PublishRequest(f"run-{run}", ["marts.kpi_x"]))
        held_saw = held.execute("select max(run) from marts.kpi_x").fetchone()
    finally:
        held.close()
        stop.touch()
    held_seconds = time.monotonic() - t0
    totals = [0, 0, 0]
    for reader in readers:
        out, err = reader.communicate(timeout=60)
        reads, errors, mixes = map(int, out.split())
        assert (errors, mixes) == (0, 0), err
        assert reads > 0
        totals = [totals[0] + reads, totals[1] + errors, totals[2] + mixes]
    assert held_saw == (1,)  # the connection held open kept its snapshot, and blocked nothing
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute(f"select count(*) from {RUN_HISTORY}").fetchone() == (PUBLISHES + 1,)
    put(
        "readers",
        "publish_loop",
        {
            "publishes": PUBLISHES,
            "readers": len(readers),
            "reads": totals[0],
            "errors": totals[1],
            "mixes": totals[2],
            "held_connection_seconds": round(held_seconds, 1),
            "held_connection_saw_first_publish": True,
        },
    )


# --- end to end: two `sales-wh run` on one warehouse -------------------------------------------------------

E2E_START = date(2025, 1, 1)


def _cli(base: Path, *extra: str) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SALES_WH_") and k != "DAGSTER_HOME"},
        "SALES_WH_LANDING_DIR": str(base / "landing"),
        "SALES_WH_WAREHOUSE": str(base / "warehouse.duckdb"),
        "SALES_WH_PUBLISHED": str(base / "published.duckdb"),
        "SALES_WH_PARTITION_START": E2E_START.isoformat(),
        "DBT_TARGET_PATH": str(base / "dbt_target"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.tooling.cli", "run", "--start", "2025-01-01", *extra],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.e2e
def test_two_cli_runs_on_one_warehouse(tmp_path: Path, demo_landing: DemoLanding) -> None:
    base = tmp_path / "wh"
    base.mkdir()
    demo_landing(days=1, seed=7, start=E2E_START, into=base / "landing")
    lock = lock_path_for(base / "warehouse.duckdb")
    first = _cli(base)
    deadline = time.monotonic() + 120
    while read_holder(lock).pid != first.pid:
        assert first.poll() is None and time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.1)

    second = _cli(base)
    out2, err2 = second.communicate(timeout=120)
    assert second.returncode == EXIT_BUSY, err2
    assert f"pid {first.pid}" in err2 and "cli.py run --start 2025-01-01" in err2
    assert "Traceback" not in err2 and "Could not set lock" not in err2
    assert len(err2.strip().splitlines()) == 1

    third = _cli(base, "--wait", "600")  # queues behind the first, then runs
    out1, err1 = first.communicate(timeout=900)
    assert first.returncode == 0, err1[-3000:]
    out3, err3 = third.communicate(timeout=900)
    assert third.returncode == 0, err3[-3000:]
    assert f"pid {first.pid}" in err3 and "waiting up to 600 s" in err3

    with duckdb.connect(str(base / "published.duckdb"), read_only=True) as con:
        runs = con.execute(f"select run_id, row_counts from {RUN_HISTORY} order by published_at").fetchall()
        # The third run came after the first had published the same files: nothing new to load,
        # build or publish (docs/DECISIONLOG.md, "A no-op run"), and it says so.
        assert len(runs) == 1
        assert "Nothing new since the last publish" in out3, out3[-3000:]
        assert json.loads(runs[0][1])["marts.kpi_bookings"] > 0
        assert con.execute("select count(*) from marts.kpi_bookings").fetchone()[0] > 0
    put(
        "one_writer",
        "two_cli_runs",
        {
            "second_exit_code": second.returncode,
            "second_named_the_first": True,
            "third_waited_then_ran": True,
            "publishes": len(runs),
            "lock_tracebacks": 0,
        },
    )
