"""What the command line says about rejects: committed ones after a published run, refused ones after
a blocked run (each with ``file:line column=value`` examples)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.ingestion.loader import ensure_raw_schema
from orchestration.tooling.run_summary import loaded_reject_lines, refused_reject_reasons


def _warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_raw_schema(con)
        rows = [
            ("Opportunity", "Opportunity/2026-02-24/o.csv", 3, "amount", "x", "not an amount", True),
            ("Opportunity", "Opportunity/2026-02-24/o.csv", 2, "amount", "y", "not an amount", True),
            ("Task", "Task/2026-02-24/t.csv", 7, "activity_date", "2/30", "not a date", True),
            ("Lead", "Lead/2026-02-25/l.csv", 4, "is_converted", "maybe", "not a boolean", False),
        ]
        con.executemany(
            """INSERT INTO raw._rejects (object, extract_date, source_file, source_line, column_name, value,
                                        reason, loaded_at, committed)
               VALUES (?, DATE '2026-02-24', ?, ?, ?, ?, ?, now(), ?)""",
            rows,
        )
    return path


def test_a_published_run_names_its_committed_rejects_most_frequent_first(tmp_path):
    lines = loaded_reject_lines(_warehouse(tmp_path))
    assert lines == [
        # two amount rejects, the first example in file and line order (line 2 before line 3)
        "  Opportunity: 2 x not an amount, e.g. Opportunity/2026-02-24/o.csv:2 amount='y'",
        "  Task: 1 x not a date, e.g. Task/2026-02-24/t.csv:7 activity_date='2/30'",
    ]


def test_a_blocked_run_names_only_the_rejects_of_refused_loads(tmp_path):
    (reason,) = refused_reject_reasons(_warehouse(tmp_path))
    assert (reason.object, reason.rows, reason.reason) == ("Lead", 1, "not a boolean")
    assert reason.examples == ("Lead/2026-02-25/l.csv:4 is_converted='maybe' not a boolean",)


def test_no_warehouse_yet_says_nothing(tmp_path):
    assert loaded_reject_lines(tmp_path / "missing.duckdb") == []


# --- what a run prints around them (orchestration/tooling/run_output.py, progress.py, runlog.py) ----------


def test_long_lists_are_cut_with_a_pointer_to_the_log():
    from orchestration.tooling.run_output import capped

    lines = [f"  w{i}" for i in range(7)]
    assert capped(lines, 4, "run.log") == ["  w0", "  w1", "  w2", "  w3", "  (3 more in run.log)"]
    assert capped(lines[:4], 4, "run.log") == lines[:4]


def test_a_stage_line_says_status_counts_and_time():
    from orchestration.tooling.progress import DBT, LANDING, Stage

    stage = Stage(DBT, status="ok", detail="63/63 models", started=10.0, ended=41.4)
    assert stage.line() == "dbt build           ok      63/63 models (31 s)"
    assert Stage(DBT, status="skipped", detail="0/63 models").line() == "dbt build           skipped not run"
    # the landing checks run with the loads and later (freshness): no time of their own
    assert (
        Stage(LANDING, status="ok", detail="51/51 passed", started=1.0, ended=40.0).line().endswith("passed")
    )


def test_a_warning_list_without_a_limit_is_whole():
    from orchestration.tooling.run_summary import warning_lines

    assert warning_lines(None, limit=None) == []


def test_log_files_are_named_by_utc_time_and_run():
    from datetime import UTC, datetime

    from orchestration.tooling.runlog import log_file_name, logs_dir

    at = datetime(2026, 12, 1, 0, 44, 24, tzinfo=UTC)
    assert log_file_name("3a99abdc", at) == "20261201T004424Z-3a99abdc.log"
    assert log_file_name(None, at) == "20261201T004424Z-run.log"
    assert logs_dir().name == "logs"


def test_an_event_line_has_time_level_step_type_and_message():
    from types import SimpleNamespace

    from orchestration.tooling.runlog import event_line

    step_start = SimpleNamespace(
        dagster_event=SimpleNamespace(event_type_value="STEP_START"),
        timestamp=0.0,
        level=10,
        step_key="raw__account",
        user_message='Started execution of step "raw__account".',
    )
    assert event_line(step_start) == (
        "1970-01-01 00:00:00 +0000 - DEBUG - raw__account - STEP_START - "
        'Started execution of step "raw__account".'
    )
    planned = SimpleNamespace(dagster_event=SimpleNamespace(event_type_value="ASSET_MATERIALIZATION_PLANNED"))
    assert event_line(planned) is None
    message = SimpleNamespace(
        dagster_event=None, timestamp=0.0, level=30, step_key=None, user_message="careful"
    )
    assert event_line(message) == "1970-01-01 00:00:00 +0000 - WARNING - run - careful"
