"""A run that published but whose KPI summary cannot be read (here: a Spark run whose Thrift server is
gone, a closed port) still says where it published and where its log is, and exits as a success; the
reason is on the console and the traceback in the log. No mock: the summary is really read from a port
nothing listens on."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest

from orchestration.settings import Settings
from orchestration.tooling.pipeline import PipelineResult
from orchestration.tooling.progress import StageTracker
from orchestration.tooling.run_output import success_report
from orchestration.tooling.runlog import RunLog


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing listens on it


def test_a_summary_that_cannot_be_read_leaves_the_paths_and_the_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    monkeypatch.setenv("SALES_WH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SALES_WH_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("SALES_WH_DBT_TARGET", "spark")
    monkeypatch.setenv("SALES_WH_SPARK_HOST", "127.0.0.1")
    monkeypatch.setenv("SALES_WH_SPARK_PORT", str(port))
    result = PipelineResult(run_id="run-1", success=True, instance=None)  # type: ignore[arg-type]
    with RunLog("run-1") as log:
        lines = success_report(
            result, Settings.from_env(), 12.0, StageTracker(io.StringIO(), live=False), log
        )
    text = "\n".join(lines)
    assert "Dagster run run-1 succeeded in 12 s" in text
    assert "KPI summary: not read (" in text and "the log has the traceback)" in text
    assert "bookings, all periods" not in text
    assert f"Published:      database published on spark://127.0.0.1:{port}" in text
    assert f"Log:            {log.path}" in text
    assert "Traceback" in log.path.read_text()
