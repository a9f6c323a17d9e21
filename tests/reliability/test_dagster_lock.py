"""Runs Dagster launches itself (UI, schedule, sensor, backfill, assets materialized from the UI) take the
warehouse's run lock too, for the whole run, in their executor
(:data:`orchestration.defs.jobs.one_writer_executor`). A ``sales-wh run`` meeting such a run exits naming
it; such a run meeting a ``sales-wh run`` waits for it. A process that already holds the lock (the command
line) is not blocked by its own run: the lock is re-entrant.

Real runs and the real lock: ``dg.execute_job`` runs a job the way a launched run is run (the job's own
executor, not ``execute_in_process``'s), on a persistent test instance; the other side of the lock is a
separate Python process. The full set also runs ``dagster asset materialize`` on the code location.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.jobs import DAILY_JOB, one_writer_executor
from orchestration.settings import PROJECT_ROOT, Settings
from orchestration.tooling.run_lock import lock_path_for, read_holder, warehouse_run_lock
from tests.reliability.probe_job import PROBE_OUT_ENV, try_lock_elsewhere
from tests.reliability.record import full, put
from tests.reliability.test_concurrency import RunLockHolder

pytestmark = pytest.mark.reliability


@pytest.fixture
def probe_out(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "probe.json"
    monkeypatch.setenv(PROBE_OUT_ENV, str(out))
    return out


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _launch_probe(instance: dg.DagsterInstance) -> dg.ExecutionResult:
    from tests.reliability import probe_job

    with dg.execute_job(dg.reconstructable(probe_job.probe_job), instance=instance) as result:
        return result


def test_the_job_and_assets_from_the_ui_run_on_the_one_writer_executor(defs: dg.Definitions) -> None:
    assert defs.resolve_job_def(DAILY_JOB).executor_def is one_writer_executor
    assert defs.resolve_implicit_global_asset_job_def().executor_def is one_writer_executor


def test_a_launched_run_holds_the_run_lock_for_the_whole_run(
    settings: Settings, probe_out: Path, instance: dg.DagsterInstance
) -> None:
    result = _launch_probe(instance)
    assert result.success
    seen = json.loads(probe_out.read_text())
    assert seen["holder_pid"] == os.getpid()
    assert seen["holder_command"] == f"Dagster run {result.run_id} of probe_job"
    other = seen["other_process"]
    assert other.startswith("Another pipeline is already running"), other
    assert f"Dagster run {result.run_id}" in other  # a `sales-wh run` now exits naming the Dagster run
    assert try_lock_elsewhere(settings.warehouse_path) == "acquired"  # released when the run ended
    assert read_holder(lock_path_for(settings.warehouse_path)).pid is None
    put("one_writer", "dagster_run_holds_lock", {"other_process_refused": True, "released_after": True})


def test_a_launched_run_waits_for_a_running_command_line_pipeline(
    settings: Settings, probe_out: Path, instance: dg.DagsterInstance
) -> None:
    holder = RunLockHolder(settings.warehouse_path)
    released_at: list[float] = []

    def release() -> None:
        released_at.append(time.monotonic())
        holder.release()

    timer = threading.Timer(2.0, release)
    t0 = time.monotonic()
    timer.start()
    try:
        result = _launch_probe(instance)
    finally:
        timer.cancel()
        holder.release()
    assert result.success
    seen = json.loads(probe_out.read_text())
    assert released_at and seen["at"] >= released_at[0], "the run's step ran before the other pipeline ended"
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    waited = [m for m in logs if "another pipeline is running" in m]
    assert waited and f"pid {holder.process.pid}" in waited[0], logs[:20]
    put("one_writer", "dagster_run_waits_for_cli", {"waited_seconds": round(time.monotonic() - t0, 1)})


def test_a_process_holding_the_lock_is_not_blocked_by_its_own_run(
    settings: Settings, probe_out: Path, instance: dg.DagsterInstance
) -> None:
    with warehouse_run_lock(settings.warehouse_path, command="sales-wh run (this test)"):
        t0 = time.monotonic()
        result = _launch_probe(instance)
        assert result.success and time.monotonic() - t0 < 60
        seen = json.loads(probe_out.read_text())
        assert seen["holder_command"] == "sales-wh run (this test)"
        assert seen["other_process"].startswith("Another pipeline")
    assert try_lock_elsewhere(settings.warehouse_path) == "acquired"


@pytest.mark.e2e
@pytest.mark.skipif(not full(), reason="full set only (make reliability): loads the whole code location")
def test_a_run_of_the_code_location_waits_for_the_command_line(tmp_path: Path) -> None:
    """``dagster asset materialize`` on the code location (assets as the UI materializes them, through an
    instance) while another process holds the lock as ``sales-wh run`` does: the run waits, writing
    nothing, then runs."""
    landing = tmp_path / "landing"
    (landing / "CurrencyType" / "2025-01-01").mkdir(parents=True)
    (landing / "CurrencyType" / "2025-01-01" / "c.csv").write_text(
        "Id,IsoCode,ConversionRate,IsCorporate\n01L000000000001,USD,1,true\n"
    )
    warehouse = tmp_path / "warehouse.duckdb"
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SALES_WH_")},
        "SALES_WH_LANDING_DIR": str(landing),
        "SALES_WH_WAREHOUSE": str(warehouse),
        "SALES_WH_PUBLISHED": str(tmp_path / "published.duckdb"),
        "SALES_WH_PARTITION_START": "2025-01-01",
        "DAGSTER_HOME": str(home),
        "DBT_TARGET_PATH": str(tmp_path / "dbt_target"),
    }
    holder = RunLockHolder(warehouse)
    command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m"]
    command += ["orchestration.definitions", "--select", "raw/currency_type", "--partition", "2025-01-01"]
    process = subprocess.Popen(
        command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        while process.poll() is None:
            line = process.stdout.readline()
            lines.append(line)
            if "another pipeline is running" in line:
                break
        assert "another pipeline is running" in lines[-1], "".join(lines[-40:])
        assert f"pid {holder.process.pid}" in lines[-1]
        time.sleep(1)
        assert process.poll() is None and not warehouse.exists()  # waiting, nothing written
        holder.release()
        out, _ = process.communicate(timeout=300)
    finally:
        holder.release()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, out[-3000:]
    assert warehouse.exists()
    put("one_writer", "code_location_run_waits", {"returncode": process.returncode})
