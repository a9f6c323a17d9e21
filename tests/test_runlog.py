"""The run log (orchestration/tooling/runlog.py): its writes never raise into Dagster or dagster-dbt, and a
command that ran nothing leaves no log behind."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from orchestration.tooling.runlog import RunLog


class _Closed(io.StringIO):
    """A console that went away (``sales-wh run --verbose | head`` after head exits)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SALES_WH_DATA_DIR", str(tmp_path))
    return tmp_path


def test_a_broken_console_stops_the_copies_not_the_run(data_dir: Path, capfd) -> None:
    with RunLog("r1", verbose=True, console=_Closed()) as log:
        log.write("first line")  # would raise BrokenPipeError into dbt's output stream
        log.stream.write("dbt: 1 of 9 OK\n")
        log.stream.flush()
    assert log.path.read_text().splitlines() == ["first line", "dbt: 1 of 9 OK"]
    warned = capfd.readouterr().err
    assert warned.count("no longer writing the run's output to the console") == 1


def test_a_log_file_that_fails_is_reported_once_and_never_raises(data_dir: Path, capfd) -> None:
    log = RunLog("r2")
    log._handle.close()  # as a full disk or a vanished folder would make its writes fail
    log.write("a line")
    log.file_only("another")
    assert "no longer writing the run's output to" in capfd.readouterr().err
    log.close()


def test_discard_removes_the_log_of_a_command_that_ran_nothing(data_dir: Path) -> None:
    log = RunLog("r3")
    log.write("sales-wh run: warehouse busy")
    assert log.path.exists() and log.path.parent == data_dir / "logs"
    log.discard()
    assert not log.path.exists()
