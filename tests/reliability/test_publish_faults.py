"""Publish and the run lock on a full disk or a read-only folder, without a pipeline run (seconds, so CI
runs them; the fault suite runs the same cases through ``sales-wh run`` in its full set).

Real file systems: a small tmpfs the test fills, a read-only bind mount (as root, who ignores mode bits;
``chmod 555`` otherwise).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.publishing.publish import PublishError, PublishRequest, publish
from orchestration.tooling.run_lock import lock_path_for, read_holder, warehouse_run_lock
from tests.reliability.harness import cannot_mount_reason, fill, read_only_dir, sha256, size_limited_dir
from tests.reliability.probe_job import try_lock_elsewhere

pytestmark = pytest.mark.reliability


def _warehouse(path: Path, rows: int) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            f"create or replace table marts.kpi_x as select range as i, 'x' || range as s from range({rows})"
        )
    return path


@pytest.fixture
def published_once(tmp_path: Path) -> tuple[Path, Path]:
    """A warehouse and a first publish of it in ``tmp_path / "pub"``."""
    warehouse = _warehouse(tmp_path / "wh.duckdb", 1000)
    published = tmp_path / "pub" / "published.duckdb"
    publish(warehouse, published, PublishRequest("run-1", ["marts.kpi_x"]))
    return warehouse, published


def _needs_mount() -> None:
    reason = cannot_mount_reason()
    if reason:
        pytest.skip(reason)


def test_publish_to_a_full_folder_says_so_and_keeps_the_previous_file(
    published_once: tuple[Path, Path], tmp_path: Path
) -> None:
    _needs_mount()
    warehouse, first = published_once
    _warehouse(warehouse, 400_000)  # the next publish needs more room than is left
    with size_limited_dir(tmp_path / "small", 8) as folder:
        published = folder / "published.duckdb"
        published.write_bytes(first.read_bytes())
        before = sha256(published)
        fill(folder)
        with pytest.raises(PublishError) as failed:
            publish(warehouse, published, PublishRequest("run-2", ["marts.kpi_x"]))
        message = str(failed.value)
        assert "No space left on device" in message and str(folder) in message
        assert "previous" in message and "unchanged" in message and "\n" not in message
        assert sha256(published) == before
        assert sorted(p.name for p in folder.iterdir()) == ["ballast.bin", "published.duckdb"]
        (folder / "ballast.bin").unlink()
        publish(warehouse, published, PublishRequest("run-3", ["marts.kpi_x"]))  # room again: it works
        with duckdb.connect(str(published), read_only=True) as con:
            assert con.execute("select count(*) from marts.kpi_x").fetchone() == (400_000,)


def test_publish_to_a_read_only_folder_says_so_and_keeps_the_previous_file(
    published_once: tuple[Path, Path],
) -> None:
    warehouse, published = published_once
    before = sha256(published)
    try:
        with read_only_dir(published.parent), pytest.raises(PublishError) as failed:
            publish(warehouse, published, PublishRequest("run-2", ["marts.kpi_x"]))
    except OSError as exc:  # no bind mount in this container
        pytest.skip(str(exc))
    message = str(failed.value)
    assert ("Read-only file system" in message or "ermission denied" in message) and "unchanged" in message
    assert sha256(published) == before
    assert [p.name for p in published.parent.iterdir()] == ["published.duckdb"]


def test_the_run_lock_holds_on_a_full_disk(tmp_path: Path) -> None:
    """Writing the holder's name is best effort: a full disk costs the name, never the lock."""
    _needs_mount()
    with size_limited_dir(tmp_path / "small", 1) as folder:
        warehouse = folder / "warehouse.duckdb"
        fill(folder)
        with warehouse_run_lock(warehouse) as lock:
            assert lock == lock_path_for(warehouse)
            assert read_holder(lock).pid is None  # its name not written...
            assert try_lock_elsewhere(warehouse).startswith("Another pipeline")  # ...but held


def test_the_command_line_names_each_failed_steps_own_error_once() -> None:
    """What `sales-wh run` prints under "failed steps": the error the step raised, without Dagster's
    wrapper or a traceback; steps that failed the same way share one line; a dg.Failure is left to its
    failed check."""
    import dagster as dg

    from orchestration.tooling.run_summary import step_errors

    def failing(name: str, exc: Exception, cause: Exception | None = None) -> dg.AssetsDefinition:
        @dg.asset(name=name, retry_policy=dg.RetryPolicy(max_retries=1, delay=0))  # as the raw assets
        def _asset() -> None:
            raise exc from cause

        return _asset

    full = OSError(28, "No space left on device")
    result = dg.materialize(
        [
            failing("load_a", full),
            failing("load_b", full),
            failing("publish", PublishError("Could not publish to /x: Read-only file system."), full),
            failing("checked", dg.Failure(description="reported by its check")),
        ],
        raise_on_error=False,
    )
    assert sorted(step_errors(result)) == [
        "load_a, load_b: OSError: [Errno 28] No space left on device",
        "publish: PublishError: Could not publish to /x: Read-only file system.",
    ]
