"""The Dagster code location: definitions load, one raw asset (and its checks) per contract object,
automation present, the landing sensor never requests the same folder twice, publish is atomic."""

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from orchestration.contract import OBJECTS
from orchestration.defs.jobs import DAILY_JOB
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.schedules import DAILY_SCHEDULE
from orchestration.defs.sensors import LANDING_SENSOR, RANGE_END_TAG, RANGE_START_TAG
from orchestration.publishing.publish import RUN_HISTORY, PublishRequest, publish, temp_path_for
from orchestration.settings import PROJECT_ROOT, Settings


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


# --- one warehouse writer at a time ------------------------------------------------------------------


def test_instance_config_allows_one_warehouse_writing_run(tmp_path: Path, defs: dg.Definitions) -> None:
    """The shipped dagster.yaml, in a real instance, queues a second run of the job behind the first."""
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster._utils.tags import TagConcurrencyLimitsCounter

    from orchestration.defs.resources import WAREHOUSE_WRITER_TAG

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": WAREHOUSE_WRITER_TAG, "limit": 1} in [dict(limit) for limit in limits]

        job = defs.resolve_job_def(DAILY_JOB)
        assert WAREHOUSE_WRITER_TAG in job.run_tags  # so every run of the job carries it
        scheduled = instance.create_run_for_job(job, tags={**job.run_tags, "dagster/partition": "2025-01-02"})
        from_sensor = instance.create_run_for_job(job, tags={**job.run_tags, "landing_folders": "1"})
        unrelated = instance.create_run_for_job(job, tags={"dagster/partition": "2025-01-02"})
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
        assert self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.process.poll() is None:
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
    defs: dg.Definitions, settings: Settings, lock_holder: LockHolder
) -> None:
    _land(settings.landing_dir, "User", "2025-01-02")
    result = _materialize_raw(defs, settings, "users", "2025-01-02")
    assert not result.success  # the lock is held throughout: every retry meets it
    assert len(_step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    (failure,) = result.get_step_failure_events()
    assert "Could not set lock" in str(failure.step_failure_data.error.to_string())


def test_step_goes_on_once_the_other_process_releases_the_lock(
    settings: Settings, lock_holder: LockHolder
) -> None:
    from orchestration.defs.resources import retry_on_warehouse_lock

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
    from orchestration.defs.resources import (
        LOCK_BASE_SECONDS,
        LOCK_MAX_RETRIES,
        LOCK_MAX_SECONDS,
        lock_wait_seconds,
    )

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
    from orchestration.defs.resources import retry_on_warehouse_lock

    not_a_database = tmp_path / "not_a_database.duckdb"
    not_a_database.write_text("this is not a DuckDB file\n" * 100)
    with pytest.raises(duckdb.Error) as caught, retry_on_warehouse_lock(dg.build_op_context()):
        duckdb.connect(str(not_a_database)).close()
    assert not isinstance(caught.value, dg.RetryRequested)


# --- a batch wrong as a whole fails the blocking landing check -------------------------------------------


def _materialize_raw(
    defs: dg.Definitions, settings: Settings, obj: str, day: str
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [defs.get_assets_def(dg.AssetKey(["raw", obj]))],
        partition_key=day,
        resources={"warehouse": WarehouseResource.from_settings(settings)},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_batch_error_is_reported_as_a_failed_blocking_check(defs: dg.Definitions, settings: Settings) -> None:
    folder = settings.landing_dir / "Opportunity" / "2025-01-05"
    folder.mkdir(parents=True)
    # No Id column (the key, the only required column): the batch is wrong as a whole.
    (folder / "no_stage.csv").write_text(
        "StageName,CloseDate,CreatedDate,OwnerId\nProspecting,2025-02-01,2025-01-02T10:00:00Z,005000000000000001\n"
    )
    result = _materialize_raw(defs, settings, "opportunity", "2025-01-05")
    assert not result.success
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "landing_errors"]
    assert not evaluation.passed and evaluation.blocking
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "no_stage.csv" in evaluation.description and "key column(s) Id missing" in evaluation.description
    assert result.get_asset_materialization_events() == []  # nothing was loaded
    failure = result.get_step_failure_events()[0]
    assert "no_stage.csv" in failure.step_failure_data.error.message


# --- reject rate -----------------------------------------------------------------------------------------


def _land_opportunities(landing: Path, day: str, rows: int, bad_dates: int) -> None:
    """``rows`` valid opportunities, the last ``bad_dates`` of them with an impossible CloseDate
    (rejected by the loader, one reject row per bad cell)."""
    folder = landing / "Opportunity" / day
    folder.mkdir(parents=True)
    close = ["2025-02-01"] * (rows - bad_dates) + ["2025-02-30"] * bad_dates
    lines = [
        f"006{n:015d},Prospecting,{c},2025-01-02T10:00:00Z,005000000000000001,100,USD"
        for n, c in enumerate(close, start=1)
    ]
    header = "Id,StageName,CloseDate,CreatedDate,OwnerId,Amount,CurrencyIsoCode\n"
    (folder / "opps.csv").write_text(header + "\n".join(lines) + "\n")


def _raw_rows(settings: Settings, day: str) -> int:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute("select count(*) from raw.opportunity where _extract_date = ?", [day]).fetchone()[
            0
        ]
    finally:
        con.close()


def test_too_many_rejected_rows_fail_the_blocking_check_and_roll_back(
    defs: dg.Definitions, settings: Settings
) -> None:
    # 4 rejected rows of 100 is 4%, within the default 5%: loaded, check passes.
    _land_opportunities(settings.landing_dir, "2025-01-06", rows=100, bad_dates=4)
    ok = _materialize_raw(defs, settings, "opportunity", "2025-01-06")
    assert ok.success
    assert _raw_rows(settings, "2025-01-06") == 96

    # 12 of 120 is 10%: the whole batch is rolled back, the blocking check fails on the reject rate.
    _land_opportunities(settings.landing_dir, "2025-01-07", rows=120, bad_dates=12)
    bad = _materialize_raw(defs, settings, "opportunity", "2025-01-07")
    assert not bad.success
    (errors,) = [e for e in bad.get_asset_check_evaluations() if e.check_name == "landing_errors"]
    assert not errors.passed
    assert errors.metadata["failed_expectations"].value == ["reject_rate_within_limit"]
    assert _raw_rows(settings, "2025-01-07") == 0
    assert _raw_rows(settings, "2025-01-06") == 96  # the earlier batch is untouched


def test_manifest_is_reparsed_only_when_the_dbt_project_changed() -> None:
    import os

    from orchestration.defs.dbt_assets import _manifest_is_current, prepare_manifest

    project = prepare_manifest("duckdb")
    assert _manifest_is_current(project, "duckdb")
    assert not _manifest_is_current(project, "postgres")  # parsed for another adapter
    model = Path(project.project_dir) / "models" / "marts" / "kpi" / "kpi_win_rate.sql"
    before = model.stat()
    try:
        later = Path(project.manifest_path).stat().st_mtime + 60
        os.utime(model, (later, later))  # as if the model was edited after the parse
        assert not _manifest_is_current(project, "duckdb")
    finally:
        os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert _manifest_is_current(project, "duckdb")


def test_backfill_validation_chunks_whole_extract_dates_by_row_count() -> None:
    from datetime import date as d

    from orchestration.defs.raw_assets import date_chunks

    rows = {d(2025, 1, 3): 400, d(2025, 1, 1): 300, d(2025, 1, 2): 300, d(2025, 1, 4): 1500, d(2025, 1, 5): 1}
    # 300 + 300 fit in 700; adding 400 would make 1,000 > 700; 1,500 alone exceeds the limit and stands
    # alone; the last date starts a new chunk after it.
    assert date_chunks(rows, 700) == [
        [d(2025, 1, 1), d(2025, 1, 2)],
        [d(2025, 1, 3)],
        [d(2025, 1, 4)],
        [d(2025, 1, 5)],
    ]
    assert date_chunks(rows, 10_000) == [sorted(rows)]
    assert date_chunks({}, 10) == []


def test_chunked_backfill_validation_names_the_failing_extract_date(
    defs: dg.Definitions, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestration.defs.raw_assets as raw

    monkeypatch.setattr(raw, "VALIDATION_CHUNK_ROWS", 6)  # 5 rows a day: one chunk per extract date
    # An unknown currency is a blocking landing error (its amount could not be converted).
    header = "Id,StageName,CloseDate,CreatedDate,OwnerId,Amount,CurrencyIsoCode\n"
    ok, bad = ["10,USD"] * 5, ["10,USD"] * 4 + ["10,XXX"]
    for day, amounts in (("2025-01-06", ok), ("2025-01-07", ok), ("2025-01-08", bad)):
        folder = settings.landing_dir / "Opportunity" / day
        folder.mkdir(parents=True)
        lines = [
            f"006{day[-1]}{n:014d},Prospecting,2025-02-01,2025-01-02T10:00:00Z,005000000000000001,{a}"
            for n, a in enumerate(amounts)
        ]
        (folder / "o.csv").write_text(header + "\n".join(lines) + "\n")
    result = dg.materialize(
        [defs.get_assets_def(dg.AssetKey(["raw", "opportunity"]))],
        tags={
            "dagster/asset_partition_range_start": "2025-01-06",
            "dagster/asset_partition_range_end": "2025-01-08",
        },
        resources={"warehouse": WarehouseResource.from_settings(settings)},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    (errors,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "landing_errors"]
    assert not errors.passed
    assert errors.description.startswith("2025-01-08: currency_known")  # the third chunk, alone


def test_backfill_above_gx_max_rows_is_validated_in_sql_inside_the_load(
    defs: dg.Definitions, settings: Settings
) -> None:
    """15 rows over 3 extract dates with SALES_WH_GX_MAX_ROWS=10: the SQL engine validates the whole
    run at once, inside the load's transaction; its failure blocks the step and rolls the load back."""
    from dataclasses import replace

    # An unknown currency is a blocking landing error (its amount could not be converted).
    header = "Id,StageName,CloseDate,CreatedDate,OwnerId,Amount,CurrencyIsoCode\n"
    ok, bad = ["10,USD"] * 5, ["10,USD"] * 4 + ["10,XXX"]
    for day, amounts in (("2025-01-06", ok), ("2025-01-07", ok), ("2025-01-08", bad)):
        folder = settings.landing_dir / "Opportunity" / day
        folder.mkdir(parents=True)
        lines = [
            f"006{day[-1]}{n:014d},Prospecting,2025-02-01,2025-01-02T10:00:00Z,005000000000000001,{a}"
            for n, a in enumerate(amounts)
        ]
        (folder / "o.csv").write_text(header + "\n".join(lines) + "\n")
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [defs.get_assets_def(dg.AssetKey(["raw", "opportunity"]))],
        tags={
            "dagster/asset_partition_range_start": "2025-01-06",
            "dagster/asset_partition_range_end": "2025-01-08",
        },
        resources={"warehouse": WarehouseResource.from_settings(replace(settings, gx_max_rows=10))},
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    (errors,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "landing_errors"]
    assert not errors.passed
    assert errors.description.startswith("2025-01-06..2025-01-08: currency_known")  # one validation
    assert "'engine': 'sql'" in errors.metadata["outcomes"].value
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("15 loaded rows with the sql engine in 1 chunk(s)" in m for m in logs)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:  # rolled back: no row
        # (the raw schema exists: a refused load keeps its rejects, committed = false; here it had none)
        assert con.execute("SELECT count(*) FROM raw.opportunity").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM raw._rejects WHERE committed").fetchone() == (0,)
