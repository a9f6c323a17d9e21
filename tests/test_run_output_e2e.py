"""What ``sales-wh demo`` and ``sales-wh run`` print, run as a user runs them: a subprocess whose output
is a pipe (not a terminal), on tmp folders. A successful run is one plain line per stage, then the KPI
summary and the paths of the published file, the dashboard and the log, in at most 40 lines; a failed
one names the failed step and why, and the log; Dagster's events and dbt's output are in the log file,
on the console only with ``--verbose``; no traceback unless ``--verbose``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from orchestration.settings import PROJECT_ROOT
from orchestration.tooling.progress import STAGES
from tests.conftest import DemoLanding

pytestmark = pytest.mark.e2e

START = date(2025, 1, 1)
SALES_WH = Path(sys.executable).with_name("sales-wh")
#: The Makefile echoes its command line before `sales-wh demo`: 40 lines in all leaves 39.
MAX_LINES = 39


def _env(base: Path, target: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALES_WH_", "DAGSTER_HOME", "DBT_"))}
    env.update(
        SALES_WH_DATA_DIR=str(base / "data"),
        SALES_WH_PARTITION_START=START.isoformat(),
        DBT_TARGET_PATH=str(target),  # one parse for the module's runs
        TERM="xterm-256color",  # a terminal type, but the output is a pipe: still plain lines
    )
    return env


def _sales_wh(base: Path, target: Path, *args: str, extra: dict[str, str] | None = None):
    return subprocess.run(
        [str(SALES_WH), *args],
        cwd=PROJECT_ROOT,
        env={**_env(base, target), **(extra or {})},
        capture_output=True,
        text=True,
        timeout=1800,
    )


def _log_path(text: str) -> Path:
    match = re.search(r"^Log: +(\S+\.log)$", text, re.MULTILINE)
    assert match, f"no log path in:\n{text}"
    return Path(match.group(1))


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dbt_target")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, target: Path):
    base = tmp_path_factory.mktemp("demo")
    done = _sales_wh(base, target, "demo", "--days", "10", "--start", START.isoformat())
    return base, done


def test_a_demo_prints_one_line_per_stage_then_the_summary_and_three_paths(demo) -> None:
    base, done = demo
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) <= MAX_LINES, done.stdout
    assert "\x1b[" not in done.stdout + done.stderr, "no ANSI codes when the output is not a terminal"
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr.strip() == "", done.stderr[-3000:]
    # one line per stage, in order, each finished ok
    stage_lines = [line for line in lines if line.split("  ")[0] in STAGES]
    assert [line.split("  ")[0] for line in stage_lines] == list(STAGES), done.stdout
    assert all(re.match(r"^.{19} ok ", line) for line in stage_lines), done.stdout
    assert lines[: len(STAGES)] == stage_lines, "the stage lines come first"
    dbt = next(line for line in stage_lines if line.startswith("dbt build"))
    models = re.search(r"(\d+)/(\d+) models", dbt)
    assert models and models.group(1) == models.group(2) and int(models.group(2)) > 20, dbt
    load = next(line for line in stage_lines if line.startswith("load raw"))
    assert re.search(r"[1-9][\d,]* rows loaded, [1-9]\d* rejected", load), load  # the demo's malformed rows
    # the KPI summary, then the three paths, last
    assert "KPI summary (published warehouse)" in done.stdout
    assert lines.index("KPI summary (published warehouse)") > len(STAGES)
    published, dashboard, log = lines[-3:]
    assert published.startswith("Published file: ") and dashboard.startswith("Dashboard: "), lines[-3:]
    for line in (published, dashboard):
        assert Path(line.split(": ", 1)[1].split(" (at ")[0].strip()).exists(), line
    assert Path(published.split(": ", 1)[1].split(" (at ")[0].strip()) == base / "data" / "published.duckdb"
    log_file = _log_path(log)
    assert log_file.parent == base / "data" / "logs" and log_file.exists()
    # The demo lands neither OpportunityStage nor LeadStatus: one warning line counts both, and the
    # summary names them; the log keeps each with what its absence means.
    absent = [line for line in lines if "not found in landing" in line]
    assert len(absent) == 1 and "2 object(s) not found in landing" in absent[0], done.stdout
    assert "OpportunityStage not found in landing (" in log_file.read_text()


def test_the_demo_log_holds_dagster_events_and_dbt_output(demo) -> None:
    base, done = demo
    text = _log_path(done.stdout).read_text()
    assert "STEP_SUCCESS" in text and "raw__opportunity" in text, "Dagster's events"
    assert re.search(r"OK created sql \w+ model marts\.kpi_win_rate", text), "dbt's model lines"
    assert "Running dbt command" in text
    assert "STEP_SUCCESS" not in done.stdout and "OK created" not in done.stdout


@pytest.fixture(scope="module")
def blocked(tmp_path_factory: pytest.TempPathFactory, demo_landing: DemoLanding) -> Path:
    """Two days of demo extracts whose second Opportunity file has a currency the org does not have:
    the blocking landing check refuses the load."""
    base = tmp_path_factory.mktemp("blocked")
    landing = demo_landing(days=2, seed=7, start=START, into=base / "data" / "landing")
    (source,) = sorted((landing / "Opportunity" / (START + timedelta(days=1)).isoformat()).glob("*.csv"))
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    frame.loc[0, "CurrencyIsoCode"] = "XXX"
    frame.to_csv(source, index=False)
    return base


def _run_blocked(base: Path, target: Path, *options: str, extra: dict[str, str] | None = None):
    end = START + timedelta(days=1)
    args = ("run", "--start", START.isoformat(), "--end", end.isoformat(), *options)
    return _sales_wh(base, target, *args, extra=extra)


def test_a_blocked_run_names_the_step_the_check_and_the_log(blocked: Path, target: Path) -> None:
    done = _run_blocked(blocked, target)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout + done.stderr
    assert "Traceback" not in out and "STEP_FAILURE" not in out
    assert re.search(r"^load raw +FAILED ", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^dbt build +skipped", done.stdout, re.MULTILINE), done.stdout
    assert "failed in: load raw" in done.stderr and "raw__opportunity" in done.stderr, done.stderr
    assert "nothing was published" in done.stderr
    check = next(line for line in done.stderr.splitlines() if "failed check: raw/opportunity" in line)
    assert "currency" in check.lower() and len(check) < 400, check
    log = _log_path(done.stderr)
    assert "STEP_FAILURE" in log.read_text()
    assert len(out.splitlines()) <= 30, out


def test_a_blocked_run_with_verbose_streams_the_events(blocked: Path, target: Path) -> None:
    done = _run_blocked(blocked, target, "--verbose")
    assert done.returncode == 1
    assert "STEP_FAILURE" in done.stderr or " - ERROR - " in done.stderr, done.stderr[-3000:]
    # The raw steps' log lines (Account's batches were loaded by an earlier run of this fixture: then
    # the line says they are unchanged and not loaded again).
    assert "Account: " in done.stderr, "the raw steps' log lines"
    assert "rows loaded" in done.stderr or "Account: nothing new: " in done.stderr, done.stderr[-3000:]
    _log_path(done.stderr)


def test_an_error_outside_dagster_is_one_line_and_the_log(blocked: Path, target: Path) -> None:
    done = _run_blocked(blocked, target, extra={"SALES_WH_MAX_REJECT_RATE": "2"})
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert "SALES_WH_MAX_REJECT_RATE" in error
    assert "Traceback" in _log_path(done.stderr).read_text()
    verbose = _run_blocked(blocked, target, "--verbose", extra={"SALES_WH_MAX_REJECT_RATE": "2"})
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
