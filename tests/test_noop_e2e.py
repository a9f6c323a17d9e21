"""A run with nothing new loads nothing, builds nothing and publishes nothing; anything new is built.

Through Dagster, on demo extracts: a first run of five days publishes; running the same days again,
and then a day on which nothing landed, loads no batch (the audit gains no row), runs no dbt model and
leaves the published file as it was (same inode, same run history). A re-landed file (a new
modification time) reloads exactly its own batch and the run builds and publishes again; so does a
run after the published file was removed, or after a load setting changed.
"""

import os
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration.contract import OBJECTS
from orchestration.tooling.pipeline import PipelineResult, run_pipeline
from tests.conftest import DemoLanding, PipelineEnv

pytestmark = pytest.mark.e2e

START = date(2025, 1, 1)
DAYS = 5
LAST = START + timedelta(days=DAYS - 1)


def _audit(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select object, extract_date, loaded_at from raw._load_audit order by all"
        ).fetchall()


def _history(published: Path) -> list[str]:
    with duckdb.connect(str(published), read_only=True) as con:
        return [
            r[0] for r in con.execute("select run_id from main.run_history order by published_at").fetchall()
        ]


def _models_materialized(result: PipelineResult) -> int:
    assert result.result is not None
    return sum(
        1 for e in result.result.all_events if e.is_step_materialization and e.step_key == "dbt_models"
    )


def _step_skipped(result: PipelineResult, step: str) -> bool:
    assert result.result is not None
    return any(e.event_type_value == "STEP_SKIPPED" and e.step_key == step for e in result.result.all_events)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, demo_landing: DemoLanding, pipeline_env: PipelineEnv):
    base = tmp_path_factory.mktemp("noop")
    demo_landing(days=DAYS, seed=5, start=START, into=base / "landing")
    with pipeline_env(base, partition_start=START):
        yield base


def test_first_run_publishes(runs: Path) -> None:
    result = run_pipeline(START, LAST)
    assert result.success
    assert _models_materialized(result) > 50
    assert _history(runs / "published.duckdb") == [result.run_id]


def test_same_days_again_is_a_no_op(runs: Path) -> None:
    published = runs / "published.duckdb"
    audit, inode, history = _audit(runs / "warehouse.duckdb"), published.stat().st_ino, _history(published)
    result = run_pipeline(START, LAST)
    assert result.success
    assert _audit(runs / "warehouse.duckdb") == audit  # no batch loaded again
    assert _models_materialized(result) == 0
    assert _step_skipped(result, "published")
    assert published.stat().st_ino == inode and _history(published) == history


def test_a_day_with_no_files_is_a_no_op(runs: Path) -> None:
    published = runs / "published.duckdb"
    audit, history = _audit(runs / "warehouse.duckdb"), _history(published)
    day = LAST + timedelta(days=1)
    assert not any((runs / "landing").glob(f"*/{day.isoformat()}"))
    result = run_pipeline(day, day)
    assert result.success
    assert _audit(runs / "warehouse.duckdb") == audit
    assert _models_materialized(result) == 0 and _history(published) == history


def test_a_relanded_file_reloads_its_batch_and_publishes(runs: Path) -> None:
    published = runs / "published.duckdb"
    audit, history = _audit(runs / "warehouse.duckdb"), _history(published)
    day = START + timedelta(days=2)
    relanded = next((runs / "landing" / "Opportunity" / day.isoformat()).glob("*.csv"))
    stat = relanded.stat()
    os.utime(relanded, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # landed again
    result = run_pipeline(START, LAST)
    assert result.success
    new_rows = [r for r in _audit(runs / "warehouse.duckdb") if r not in audit]
    assert [(o, d) for o, d, _ in new_rows] == [("Opportunity", day)]
    assert _models_materialized(result) > 50
    assert _history(published) == [*history, result.run_id]


def test_a_removed_published_file_is_published_again(runs: Path) -> None:
    published = runs / "published.duckdb"
    audit = _audit(runs / "warehouse.duckdb")
    published.unlink()
    result = run_pipeline(LAST, LAST)
    assert result.success
    assert _audit(runs / "warehouse.duckdb") == audit  # nothing to load...
    assert _models_materialized(result) > 50  # ...but nothing published to keep
    assert published.exists()


def test_a_changed_load_setting_reloads(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    audit = _audit(runs / "warehouse.duckdb")
    monkeypatch.setenv("SALES_WH_MAX_REJECT_RATE", "0.5")
    result = run_pipeline(LAST, LAST)
    assert result.success
    reloaded = {row[0] for row in _audit(runs / "warehouse.duckdb") if row not in audit}
    assert {"Opportunity", "Account", "Task"} <= reloaded


def test_reload_loads_every_batch_again(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    audit = _audit(runs / "warehouse.duckdb")
    monkeypatch.setenv("SALES_WH_RELOAD", "1")
    result = run_pipeline(START, LAST)
    assert result.success
    reloaded = {(row[0], row[1]) for row in _audit(runs / "warehouse.duckdb") if row not in audit}
    # every object and date of the run, as a first load does (dates without a folder audited empty)
    days = [START + timedelta(days=i) for i in range(DAYS)]
    assert reloaded == {(obj.name, d) for obj in OBJECTS for d in days}
    assert _models_materialized(result) > 50
