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
