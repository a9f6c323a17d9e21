"""The Dagster code location: definitions load, one raw asset (and its checks) per contract object,
automation present, the landing sensor never requests the same folder twice, publish is atomic."""

import hashlib
import json
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from orchestration.contract import OBJECTS
from orchestration.jobs import DAILY_JOB
from orchestration.publish import RUN_HISTORY, PublishRequest, publish, temp_path_for
from orchestration.resources import WarehouseResource
from orchestration.schedules import DAILY_SCHEDULE
from orchestration.sensors import LANDING_SENSOR, RANGE_END_TAG, RANGE_START_TAG
from orchestration.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SALES_WH_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("SALES_WH_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("SALES_WH_PUBLISHED", str(tmp_path / "published.duckdb"))
    monkeypatch.setenv("SALES_WH_PARTITION_START", "2025-01-01")
    monkeypatch.setenv("SALES_WH_SCHEDULE_CRON", "30 5 * * *")
    monkeypatch.setenv("SALES_WH_SCHEDULE_TIMEZONE", "Europe/Berlin")
    return Settings.from_env()


@pytest.fixture
def defs(settings: Settings) -> dg.Definitions:
    from orchestration.definitions import build_defs

    return build_defs(settings)


@pytest.fixture
def graph(defs: dg.Definitions):
    return defs.get_repository_def().asset_graph


def test_definitions_load(defs: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(defs)


def test_module_level_defs_is_what_dagster_loads() -> None:
    import orchestration.definitions as module

    assert isinstance(module.defs, dg.Definitions)


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o.name)
def test_every_contract_object_has_a_raw_asset_with_checks(defs: dg.Definitions, obj) -> None:
    assets_def = defs.get_assets_def(dg.AssetKey(["raw", obj.table]))
    assert isinstance(assets_def.partitions_def, dg.DailyPartitionsDefinition)
    assert assets_def.partitions_def.start.date() == date(2025, 1, 1)
    assert assets_def.backfill_policy == dg.BackfillPolicy.single_run()
    checks = {spec.name: spec for spec in assets_def.check_specs}
    assert set(checks) == {"landing_errors", "landing_warnings"}
    assert checks["landing_errors"].blocking and not checks["landing_warnings"].blocking


def test_raw_assets_are_upstream_of_staging(graph) -> None:
    for obj in OBJECTS:
        children = graph.get(dg.AssetKey(["raw", obj.table])).child_keys
        assert any(k.path[0] == "staging" for k in children), f"no staging model reads raw.{obj.table}"


def test_publish_is_downstream_of_every_mart_and_core_table(graph) -> None:
    parents = graph.get(dg.AssetKey(["published"])).parent_keys
    marts = {k for k in graph.get_all_asset_keys() if k.path[0] == "marts"}
    dims = {k for k in graph.get_all_asset_keys() if k.path[0] == "core" and k.path[-1].startswith("dim_")}
    assert marts and dims
    assert marts | dims <= parents


def test_mart_checks_are_blocking(defs: dg.Definitions) -> None:
    specs = [
        spec
        for checks_def in defs.asset_checks or []
        for spec in checks_def.check_specs
        if spec.asset_key.path[0] == "marts"
    ]
    assert {s.asset_key.path[-1] for s in specs} >= {"kpi_bookings", "kpi_win_rate", "kpi_quota_attainment"}
    assert all(s.blocking for s in specs)


def test_job_schedule_sensor(defs: dg.Definitions, settings: Settings) -> None:
    job = defs.resolve_job_def(DAILY_JOB)
    assert job.executor_def.name == "in_process"  # one DuckDB writer at a time
    schedule = defs.resolve_schedule_def(DAILY_SCHEDULE)
    assert schedule.cron_schedule == "30 5 * * *"
    assert schedule.execution_timezone == "Europe/Berlin"
    assert defs.resolve_sensor_def(LANDING_SENSOR).job_name == DAILY_JOB


def test_schedule_runs_the_day_of_its_own_time_zone(defs: dg.Definitions) -> None:
    schedule = defs.resolve_schedule_def(DAILY_SCHEDULE)
    # 23:30 UTC on 4 March is already 5 March in Berlin: the run is for Berlin's day.
    when = datetime(2025, 3, 4, 23, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    context = dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2025-03-05"


# --- landing sensor ------------------------------------------------------------------------------------


def _land(landing: Path, obj: str, day: str, *, age_seconds: float = 3600) -> None:
    folder = landing / obj / day
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "extract.csv"
    file.write_text("Id,Name\n005000000000001,Ann\n")
    landed_at = time.time() - age_seconds  # the sensor waits until a folder has settled
    os.utime(file, (landed_at, landed_at))


def _evaluate(defs: dg.Definitions, cursor: str | None):
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        definitions=defs,
        resources={"warehouse": WarehouseResource.from_settings(Settings.from_env())},
    )
    return defs.resolve_sensor_def(LANDING_SENSOR).evaluate_tick(context)


def test_sensor_requests_each_landed_folder_once(defs: dg.Definitions, settings: Settings) -> None:
    landing = settings.landing_dir
    _land(landing, "User", "2025-01-02")
    _land(landing, "Opportunity", "2025-01-02")
    (landing / "Opportunity" / "not-a-date").mkdir(parents=True)  # ignored
    (landing / "Account" / "2025-01-02").mkdir(parents=True)  # no files yet: not a batch
    _land(landing, "Lead", "2025-01-02", age_seconds=0)  # still landing: left for a later tick

    first = _evaluate(defs, None)
    assert [r.partition_key for r in first.run_requests] == ["2025-01-02"]
    assert json.loads(first.cursor) == ["Opportunity/2025-01-02", "User/2025-01-02"]

    _land(landing, "Lead", "2025-01-02")  # has settled now
    second = _evaluate(defs, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["2025-01-02"]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert _evaluate(defs, second.cursor).run_requests == []

    _land(landing, "Account", "2025-01-02")
    _land(landing, "Opportunity", "2025-01-04")
    _land(landing, "Opportunity", "2025-01-03")
    third = _evaluate(defs, second.cursor)
    (request,) = third.run_requests
    assert request.partition_key is None
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == ("2025-01-02", "2025-01-04")
    assert _evaluate(defs, third.cursor).run_requests == []


def test_sensor_ignores_folders_before_the_partition_start(defs: dg.Definitions, settings: Settings) -> None:
    _land(settings.landing_dir, "User", "2024-12-31")
    assert _evaluate(defs, None).run_requests == []


# --- publish ---------------------------------------------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def warehouse_file(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema core")
    con.execute("create table marts.kpi_bookings as select range as i from range(5)")
    con.execute("create table core.dim_reps as select range as i from range(3)")
    con.close()
    return path


def test_publish_writes_tables_and_carries_run_history_forward(tmp_path: Path, warehouse_file: Path) -> None:
    published = tmp_path / "pub" / "published.duckdb"
    tables = ["marts.kpi_bookings", "core.dim_reps"]
    assert publish(warehouse_file, published, PublishRequest("run-1", tables)) == {
        "marts.kpi_bookings": 5,
        "core.dim_reps": 3,
    }
    publish(warehouse_file, published, PublishRequest("run-2", tables))
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute(f"select run_id from {RUN_HISTORY} order by published_at").fetchall() == [
        ("run-1",),
        ("run-2",),
    ]
    assert con.execute("select count(*) from marts.kpi_bookings").fetchone() == (5,)
    con.close()
    assert not temp_path_for(published, "run-2").exists()


def test_failed_publish_leaves_the_previous_file_byte_identical(tmp_path: Path, warehouse_file: Path) -> None:
    published = tmp_path / "published.duckdb"
    publish(warehouse_file, published, PublishRequest("run-1", ["marts.kpi_bookings"]))
    before = _sha(published)

    def crash(tmp: Path) -> None:
        assert tmp.exists()  # the new file is complete, only the move is left
        raise RuntimeError("crash before replace")

    with pytest.raises(RuntimeError):
        publish(
            warehouse_file, published, PublishRequest("run-2", ["marts.kpi_bookings"]), before_replace=crash
        )
    assert _sha(published) == before
    assert not temp_path_for(published, "run-2").exists()

    # A failure while copying (a table that does not exist) also leaves it untouched.
    with pytest.raises(duckdb.CatalogException):
        publish(warehouse_file, published, PublishRequest("run-3", ["marts.kpi_missing"]))
    assert _sha(published) == before
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute(f"select run_id from {RUN_HISTORY}").fetchall() == [("run-1",)]
    con.close()
