"""Tests that check each row of an incremental model once (``where: __rows_not_yet_tested__``,
dbt_project/macros/tested_rows.sql), in a dbt project of its own: an incremental model over a seed the
test rewrites between builds, with the project's macros and hooks. What is checked by hand:

1. a first build tests every row and records the model as tested through the build's start;
2. a NULL written by a later build is found (the window reaches it) and the failed build records
   nothing, so the next build, which writes nothing, finds the same row again;
3. a ``--full-refresh`` tests every row (no window) and records again;
4. a row changed behind dbt's back (its ``_built_at`` kept) is not read again by the window, but
   ``--vars '{test_all_rows: true}'`` reads it; two new rows sharing a key break the windowed unique test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt_parse import dbt_executable
from orchestration.settings import PROJECT_ROOT

MACROS = PROJECT_ROOT / "dbt_project" / "macros"

MODEL = """{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='id') }}
select id, v, {{ built_at() }} as _built_at from {{ ref('src') }}
{% if is_incremental() %}where id > (select max(id) from {{ this }}){% endif %}
"""

SCHEMA = """models:
  - name: inc
    columns:
      - name: id
        data_tests:
          - unique:
              config: {where: __rows_not_yet_tested__}
      - name: v
        data_tests:
          - not_null:
              config: {where: __rows_not_yet_tested__}
"""

HOOKS = """on-run-start:
  - "{{ create_tested_rows() }}"
on-run-end:
  - "{{ record_tested_rows(results) }}"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    p = tmp_path / "p"
    for d in ("macros", "models", "seeds"):
        (p / d).mkdir(parents=True)
    for macro in ("tested_rows.sql", "built_at.sql"):
        shutil.copy(MACROS / macro, p / "macros")
    (p / "dbt_project.yml").write_text("name: p\nversion: '1.0'\nprofile: p\n" + HOOKS)
    (p / "profiles.yml").write_text(
        f"p:\n  target: d\n  outputs:\n    d:\n      type: duckdb\n      path: {tmp_path / 'p.duckdb'}\n"
    )
    (p / "models" / "inc.sql").write_text(MODEL)
    (p / "models" / "inc.yml").write_text(SCHEMA)
    (p / "seeds" / "src.yml").write_text(
        "seeds:\n  - name: src\n    config: {column_types: {id: integer, v: varchar}}\n"
    )
    return p


def _build(project: Path, rows: str, *args: str) -> tuple[int, dict[str, tuple[str, int]], str]:
    """``dbt build`` with the seed holding ``rows``: exit code, (status, failures) per test, and the
    compiled SQL of the not_null test."""
    (project / "seeds" / "src.csv").write_text("id,v\n" + rows)
    done = subprocess.run(
        [dbt_executable(), "build", "--project-dir", str(project), "--profiles-dir", str(project), *args],
        capture_output=True,
        text=True,
        cwd=project,
    )
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    tests = {
        r["unique_id"].split(".")[2]: (r["status"], r["failures"])
        for r in results
        if r["unique_id"].startswith("test.")
    }
    sql = next((project / "target" / "run").rglob("not_null_inc_v.sql")).read_text()
    return done.returncode, tests, sql + done.stdout[-3000:]


def _records(project: Path) -> list[tuple[str, datetime]]:
    with duckdb.connect(str(project.parent / "p.duckdb"), read_only=True) as con:
        return con.execute("select model_name, tested_through from main._tested_rows order by 2").fetchall()


def _newest_row(project: Path) -> datetime:
    with duckdb.connect(str(project.parent / "p.duckdb"), read_only=True) as con:
        return con.execute("select max(_built_at) from main.inc").fetchone()[0]


def test_each_row_is_tested_when_written_until_a_build_passes(project: Path) -> None:
    rows = "1,a\n2,b\n"
    rc, tests, sql = _build(project, rows)
    assert (rc, tests) == (0, {"unique_inc_id": ("pass", 0), "not_null_inc_v": ("pass", 0)}), sql
    assert "_built_at >" not in sql  # nothing recorded yet: every row
    assert _records(project) == [("inc", _newest_row(project))]

    rows += "3,\n"  # an empty CSV field is NULL
    rc, tests, sql = _build(project, rows)
    assert (rc, tests["not_null_inc_v"]) == (1, ("fail", 1)), sql
    assert "_built_at > cast(" in sql  # the window: rows 1 and 2 are not read again
    assert len(_records(project)) == 1  # the failed build records nothing

    rc, tests, sql = _build(project, rows)  # nothing new to write: row 3 is still not tested
    assert (rc, tests["not_null_inc_v"]) == (1, ("fail", 1)), sql
    assert len(_records(project)) == 1

    rows = "1,a\n2,b\n3,c\n"
    rc, tests, sql = _build(project, rows, "--full-refresh")
    assert (rc, tests["not_null_inc_v"]) == (0, ("pass", 0)), sql
    assert "_built_at >" not in sql  # a full refresh tests every row
    assert [name for name, _ in _records(project)] == ["inc", "inc"]
    assert _records(project)[-1][1] == _newest_row(project)


def test_the_window_skips_rows_kept_from_a_passed_build_unless_asked(project: Path) -> None:
    rows = "1,a\n2,b\n"
    assert _build(project, rows)[0] == 0
    with duckdb.connect(str(project.parent / "p.duckdb")) as con:  # behind dbt's back, _built_at kept
        con.execute("update main.inc set v = null where id = 1")

    rows += "4,d\n"
    rc, tests, sql = _build(project, rows)
    assert (rc, tests["not_null_inc_v"]) == (0, ("pass", 0)), sql  # only row 4 is read
    assert len(_records(project)) == 2

    rc, tests, sql = _build(project, rows, "--vars", "{test_all_rows: true}")
    assert (rc, tests["not_null_inc_v"]) == (1, ("fail", 1)), sql  # every row: row 1 is found
    assert len(_records(project)) == 2

    rows += "5,e\n5,f\n"  # two new rows with one key
    rc, tests, sql = _build(project, rows)
    assert (rc, tests) == (1, {"unique_inc_id": ("fail", 1), "not_null_inc_v": ("pass", 0)}), sql
    assert len(_records(project)) == 2
