"""One warehouse writer at a time: the shipped instance config queues a second run of the job, and a
step waits out another process's DuckDB lock (jittered backoff, long enough to outlast a run) while
other I/O errors fail at once."""

import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.jobs import DAILY_JOB
from orchestration.defs.resources import (
    LOCK_BASE_SECONDS,
    LOCK_MAX_RETRIES,
    LOCK_MAX_SECONDS,
    WarehouseResource,
    lock_wait_seconds,
    retry_on_warehouse_lock,
)
from orchestration.defs.tags import PARTITION_TAG, WAREHOUSE_WRITER_TAG
from orchestration.settings import PROJECT_ROOT, Settings
from tests.conftest import LandFile, MaterializeRaw


def test_instance_config_allows_one_warehouse_writing_run(tmp_path: Path, defs: dg.Definitions) -> None:
    """The shipped dagster.yaml, in a real instance, queues a second run of the job behind the first."""
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster._utils.tags import TagConcurrencyLimitsCounter

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": WAREHOUSE_WRITER_TAG, "limit": 1} in [dict(limit) for limit in limits]

        job = defs.resolve_job_def(DAILY_JOB)
        assert WAREHOUSE_WRITER_TAG in job.run_tags  # so every run of the job carries it
        scheduled = instance.create_run_for_job(job, tags={**job.run_tags, PARTITION_TAG: "2025-01-02"})
        from_sensor = instance.create_run_for_job(job, tags={**job.run_tags, "landing_folders": "1"})
        unrelated = instance.create_run_for_job(job, tags={PARTITION_TAG: "2025-01-02"})
        # The counter the run queue uses: with the scheduled run in progress, the sensor's run waits.
        counter = TagConcurrencyLimitsCounter(limits, [scheduled])
        assert counter.is_blocked(from_sensor)
        assert not counter.is_blocked(unrelated)
        assert not TagConcurrencyLimitsCounter(limits, []).is_blocked(from_sensor)


class LockHolder:
    """Another process holding the warehouse file's write lock until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        code = (
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
            "print('locked', flush=True); sys.stdin.read()"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait()


@pytest.fixture
def lock_holder(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LockHolder]:
    import orchestration.defs.resources as resources

    # Short waits for the test (the real ones are minutes); the retry logic itself is unchanged.
    monkeypatch.setattr(resources, "LOCK_BASE_SECONDS", 0.05)
    monkeypatch.setattr(resources, "LOCK_MAX_RETRIES", 2)
    holder = LockHolder(settings.warehouse_path)
    yield holder
    holder.release()


def _step_events(result: dg.ExecuteInProcessResult, kind: dg.DagsterEventType) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.event_type == kind]


def test_raw_asset_retries_while_another_process_holds_the_lock(
    settings: Settings, lock_holder: LockHolder, land: LandFile, materialize_raw: MaterializeRaw
) -> None:
    land(settings.landing_dir, "User", "2025-01-02")
    result = materialize_raw("users", "2025-01-02")
    assert not result.success  # the lock is held throughout: every retry meets it
    assert len(_step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    (failure,) = result.get_step_failure_events()
    assert "Could not set lock" in str(failure.step_failure_data.error.to_string())


def test_step_goes_on_once_the_other_process_releases_the_lock(
    settings: Settings, lock_holder: LockHolder
) -> None:
    warehouse = WarehouseResource.from_settings(settings)

    @dg.op
    def write(context: dg.OpExecutionContext) -> int:
        if context.retry_number == 1:
            lock_holder.release()  # the other process finishes between our attempts
        with retry_on_warehouse_lock(context), warehouse.connect() as con:
            return con.execute("select 42").fetchone()[0]

    @dg.job
    def one_writer() -> None:
        write()

    result = one_writer.execute_in_process(raise_on_error=False)
    assert result.success and result.output_for_node("write") == 42
    assert len(_step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 1


def test_lock_waits_back_off_with_jitter_and_outlast_a_long_run() -> None:
    assert LOCK_BASE_SECONDS * 0.5 <= lock_wait_seconds(1) <= LOCK_BASE_SECONDS * 1.5
    assert LOCK_BASE_SECONDS * 1.0 <= lock_wait_seconds(2) <= LOCK_BASE_SECONDS * 3.0
    assert lock_wait_seconds(LOCK_MAX_RETRIES) <= LOCK_MAX_SECONDS * 1.5
    assert len({lock_wait_seconds(1) for _ in range(5)}) > 1  # jittered: two waiters do not collide again
    # Even with the smallest jitter, all retries together wait more than 15 minutes.
    assert sum(lock_wait_seconds(n, _LowestJitter()) for n in range(1, LOCK_MAX_RETRIES + 1)) > 15 * 60


class _LowestJitter(random.Random):
    def uniform(self, low: float, high: float) -> float:
        return low


def test_other_io_errors_are_not_treated_as_a_lock(tmp_path: Path) -> None:
    not_a_database = tmp_path / "not_a_database.duckdb"
    not_a_database.write_text("this is not a DuckDB file\n" * 100)
    with pytest.raises(duckdb.Error) as caught, retry_on_warehouse_lock(dg.build_op_context()):
        duckdb.connect(str(not_a_database)).close()
    assert not isinstance(caught.value, dg.RetryRequested)


# --- the run lock: one pipeline per warehouse (process-level; see tests/reliability/test_concurrency.py) --


def test_run_lock_is_reentrant_in_one_process_and_names_its_holder(tmp_path: Path) -> None:
    from orchestration.tooling.run_lock import (
        holds_run_lock,
        lock_path_for,
        read_holder,
        warehouse_run_lock,
    )

    warehouse = tmp_path / "sub" / "warehouse.duckdb"
    with warehouse_run_lock(warehouse, command="sales-wh run --start 2025-01-02") as lock:
        assert lock == lock_path_for(warehouse) and holds_run_lock(warehouse)
        with warehouse_run_lock(warehouse):  # the CLI takes it, then run_pipeline again
            holder = read_holder(lock)
        assert holds_run_lock(warehouse)
    assert not holds_run_lock(warehouse)
    assert holder.command == "sales-wh run --start 2025-01-02" and holder.started_at
    assert "pid" in holder.describe() and "UTC" in holder.describe()


def test_cli_wait_option_takes_an_optional_timeout() -> None:
    from orchestration.tooling.cli import build_parser
    from orchestration.tooling.run_lock import DEFAULT_WAIT_SECONDS

    parser = build_parser()
    assert parser.parse_args(["run", "--start", "2025-01-02"]).wait is None
    assert parser.parse_args(["run", "--start", "2025-01-02", "--wait"]).wait == DEFAULT_WAIT_SECONDS
    assert parser.parse_args(["run", "--start", "2025-01-02", "--wait", "90"]).wait == 90.0
    assert parser.parse_args(["demo", "--wait", "5"]).wait == 5.0
