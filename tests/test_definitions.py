"""The Dagster code location's wiring: definitions load, one raw asset (and its checks) per contract
object, raw upstream of staging, publish downstream of every mart and core table, blocking mart checks,
the job, schedule and sensor, and the resources built from the settings."""

import os
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from orchestration.contract import OBJECTS, RAW_SCHEMA, LandingObject
from orchestration.defs.jobs import DAILY_JOB
from orchestration.defs.publish_asset import PUBLISHED_KEY
from orchestration.defs.raw_assets import ERRORS_CHECK, WARNINGS_CHECK
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.schedules import DAILY_SCHEDULE
from orchestration.defs.sensors import LANDING_SENSOR
from orchestration.settings import PROJECT_ROOT, Settings
from orchestration.warehouse import CORE_SCHEMA, MARTS_SCHEMA, STAGING_SCHEMA


@pytest.fixture
def graph(defs: dg.Definitions):  # Dagster does not export the asset graph class
    return defs.get_repository_def().asset_graph


def test_definitions_load(defs: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(defs)


def test_module_level_defs_is_what_dagster_loads() -> None:
    import orchestration.definitions as module

    assert isinstance(module.defs, dg.Definitions)


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o.name)
def test_every_contract_object_has_a_raw_asset_with_checks(defs: dg.Definitions, obj: LandingObject) -> None:
    assets_def = defs.get_assets_def(dg.AssetKey([RAW_SCHEMA, obj.table]))
    assert isinstance(assets_def.partitions_def, dg.DailyPartitionsDefinition)
    assert assets_def.partitions_def.start.date() == date(2025, 1, 1)
    assert assets_def.backfill_policy == dg.BackfillPolicy.single_run()
    checks = {spec.name: spec for spec in assets_def.check_specs}
    assert set(checks) == {ERRORS_CHECK, WARNINGS_CHECK}
    assert checks[ERRORS_CHECK].blocking and not checks[WARNINGS_CHECK].blocking


def test_raw_assets_are_upstream_of_staging(graph) -> None:
    for obj in OBJECTS:
        children = graph.get(dg.AssetKey([RAW_SCHEMA, obj.table])).child_keys
        assert any(k.path[0] == STAGING_SCHEMA for k in children), f"no staging model reads raw.{obj.table}"


def test_publish_is_downstream_of_every_mart_and_core_table(graph) -> None:
    parents = graph.get(PUBLISHED_KEY).parent_keys
    keys = graph.get_all_asset_keys()
    marts = {k for k in keys if k.path[0] == MARTS_SCHEMA}
    dims = {k for k in keys if k.path[0] == CORE_SCHEMA and k.path[-1].startswith("dim_")}
    assert marts and dims
    assert marts | dims <= parents


def test_publish_updates_by_the_publish_key_else_the_unique_key() -> None:
    from orchestration.defs.dbt_assets import incremental_keys

    def node(name: str, schema: str = CORE_SCHEMA, **config: Any) -> dict[str, Any]:
        return {"resource_type": "model", "name": name, "schema": schema, "config": config}

    manifest = {
        "nodes": {
            "a": node("by_day", materialized="incremental", meta={"publish_key": ["as_of_date", "id"]}),
            "b": node("by_id", materialized="incremental", unique_key="id"),
            "c": node("by_pair", materialized="incremental", unique_key=["day", "id"]),
            "d": node("a_table", materialized="table", unique_key="id"),
            "e": node("elsewhere", schema=STAGING_SCHEMA, materialized="incremental", unique_key="id"),
            "f": node("both", materialized="incremental", unique_key="id", meta={"publish_key": "day"}),
        }
    }
    assert incremental_keys(manifest, [CORE_SCHEMA]) == {
        f"{CORE_SCHEMA}.by_day": ("as_of_date", "id"),
        f"{CORE_SCHEMA}.by_id": ("id",),
        f"{CORE_SCHEMA}.by_pair": ("day", "id"),
        f"{CORE_SCHEMA}.both": ("day",),
    }


def test_the_pipeline_history_is_published_by_as_of_date_and_opportunity(settings: Settings) -> None:
    """fct_pipeline_daily deletes and appends its own rows (no dbt unique_key): publish still replaces
    only the (as-of date, opportunity) rows that changed instead of copying 80 M rows at L, or every row
    of an as-of date that one late history row changed."""
    from orchestration.defs.dbt_assets import incremental_keys, load_dbt_project, read_manifest

    keys = incremental_keys(read_manifest(load_dbt_project(settings.dbt_target)), [CORE_SCHEMA, MARTS_SCHEMA])
    assert keys[f"{CORE_SCHEMA}.fct_pipeline_daily"] == ("as_of_date", "opportunity_id")


def test_each_mart_rule_is_one_blocking_check(settings: Settings) -> None:
    """docs/CHECKS.md: reconciliations are dbt tests attached to their mart, ranges are dbt tests (warn
    where odd source data can leave the range), and the Python mart checks add only what no dbt test
    guards (core KPIs not empty, counts not negative): no rule twice."""
    from orchestration.definitions import build_defs
    from orchestration.defs.dbt_assets import prepare_manifest
    from orchestration.defs.mart_checks import CORE_KPI_MARTS, COUNTS_CHECK, NOT_EMPTY_CHECK

    defs = build_defs(settings, prepare_manifest(settings.dbt_target))  # the checks of the current tests
    python = {
        (spec.asset_key.path[-1], spec.name): spec
        for checks_def in defs.asset_checks or []
        for spec in checks_def.check_specs
        if spec.asset_key.path[0] == MARTS_SCHEMA
    }
    marts = {mart for mart, _ in python}
    assert marts >= {"kpi_bookings", "kpi_win_rate", "kpi_quota_attainment"}
    assert set(python) == {(m, COUNTS_CHECK) for m in marts} | {(m, NOT_EMPTY_CHECK) for m in CORE_KPI_MARTS}
    assert all(spec.blocking for spec in python.values())

    def dbt_checks(mart: str) -> dict[str, dg.AssetCheckSpec]:
        return {s.name: s for s in defs.get_assets_def(dg.AssetKey([MARTS_SCHEMA, mart])).check_specs}

    assert dbt_checks("kpi_bookings")["kpi_bookings_reconcile_with_opportunities"].blocking
    assert dbt_checks("kpi_win_rate")["kpi_win_rate_reconcile_with_opportunities"].blocking
    (by_count,) = [s for n, s in dbt_checks("kpi_win_rate").items() if "win_rate_by_count" in n]
    (by_amount,) = [s for n, s in dbt_checks("kpi_win_rate").items() if "win_rate_by_amount" in n]
    assert by_count.blocking and not by_amount.blocking  # credits can put an amount ratio out of range


def test_job_schedule_sensor(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def(DAILY_JOB)
    assert job.executor_def.name == "in_process"  # one DuckDB writer at a time
    assert isinstance(job.partitions_def, dg.DailyPartitionsDefinition)  # inferred from the raw assets
    schedule = defs.resolve_schedule_def(DAILY_SCHEDULE)
    assert schedule.cron_schedule == "30 5 * * *"
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.job_name == DAILY_JOB
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


def test_warehouse_resource_takes_every_field_from_the_settings(settings: Settings) -> None:
    resource = WarehouseResource.from_settings(settings)
    assert set(WarehouseResource.model_fields) <= {f.name for f in fields(Settings)}
    assert resource.warehouse_path == str(settings.warehouse_path)
    assert resource.landing_dir == str(settings.landing_dir)
    assert resource.gx_max_rows == settings.gx_max_rows and resource.threads == settings.threads


def test_manifest_is_reparsed_only_when_the_dbt_project_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from orchestration.defs.dbt_assets import _manifest_is_current, prepare_manifest

    project = prepare_manifest("duckdb")
    assert _manifest_is_current(project, "duckdb")
    assert not _manifest_is_current(project, "postgres")  # parsed for another adapter
    with monkeypatch.context() as m:
        # Parsed under another profile: dbt's build would parse the whole project again.
        m.setenv("SALES_WH_WAREHOUSE", str(Path(project.project_dir) / "elsewhere.duckdb"))
        assert not _manifest_is_current(project, "duckdb")
    model = Path(project.project_dir) / "models" / "marts" / "kpi" / "kpi_win_rate.sql"
    before = model.stat()
    try:
        later = Path(project.manifest_path).stat().st_mtime + 60
        os.utime(model, (later, later))  # as if the model was edited after the parse
        assert not _manifest_is_current(project, "duckdb")
    finally:
        os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert _manifest_is_current(project, "duckdb")


def test_work_given_to_a_parse_runs_beside_it_once_and_not_without_a_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from orchestration.defs import dbt_assets
    from orchestration.defs.dbt_assets import _manifest_is_current, prepare_manifest

    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))  # a fresh clone's: nothing parsed
    parses: list[str] = []
    parse = dbt_assets.parse_project
    monkeypatch.setattr(
        dbt_assets, "parse_project", lambda *args, **kwargs: (parses.append("parse"), parse(*args, **kwargs))
    )
    threads: list[str] = []
    project = prepare_manifest(
        "duckdb", while_parsing=lambda: threads.append(threading.current_thread().name)
    )
    # In another thread, so this one reads dbt's output meanwhile.
    assert len(threads) == 1 and threads[0] != threading.main_thread().name
    assert _manifest_is_current(project, "duckdb")
    assert parses == ["parse"]  # one dbt parse for a fresh target, not a second (partial) one
    prepare_manifest("duckdb", while_parsing=lambda: threads.append("again"))
    assert len(threads) == 1 and parses == ["parse"]  # the manifest was current: no parse, no side work


def test_an_error_of_the_work_beside_a_parse_is_raised_after_the_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.defs.dbt_assets import _manifest_is_current, load_dbt_project, prepare_manifest

    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))

    def failing() -> None:
        raise RuntimeError("warm-up failed")

    with pytest.raises(RuntimeError, match="warm-up failed"):
        prepare_manifest("duckdb", while_parsing=failing)
    project = load_dbt_project("duckdb")
    assert Path(project.manifest_path).exists()  # dbt was waited for, not left running
    assert not _manifest_is_current(project, "duckdb")  # no stamp: the next run parses again


def test_a_parse_started_before_dagster_is_imported_is_the_one_the_pipeline_waits_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration import dbt_parse
    from orchestration.defs.dbt_assets import _manifest_is_current, prepare_manifest
    from orchestration.tooling.run_lock import holds_run_lock

    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))  # a fresh clone's: nothing parsed
    monkeypatch.setenv("SALES_WH_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    started: list[str] = []
    start = dbt_parse.DbtParse.__init__

    def counting(self: dbt_parse.DbtParse, target: str, *args: Any) -> None:
        started.append(target)
        start(self, target, *args)

    monkeypatch.setattr(dbt_parse.DbtParse, "__init__", counting)
    settings = Settings.from_env()
    for name, value in dbt_parse.dbt_env(settings).items():  # as run_pipeline sets them before it parses
        monkeypatch.setenv(name, value)
    with dbt_parse.parse_early(settings):
        assert started == ["duckdb"]
        assert holds_run_lock(settings.warehouse_path)  # no other pipeline parses into the same target
        project = prepare_manifest("duckdb")
        assert started == ["duckdb"]  # waited for, not a second parse
        assert _manifest_is_current(project, "duckdb")
        # dbt run by dagster-dbt, as the dbt step runs it, finds that parse usable as it is.
        from orchestration.defs.resources import dbt_cli

        listed = dbt_cli(project, "duckdb").cli(["ls", "--resource-type", "seed"]).wait()
        dbt_log = (listed.target_path / "dbt.log").read_text()
        assert "Unable to do partial parsing" not in dbt_log
        assert "no changes found, skipping parsing" in dbt_log
    assert not holds_run_lock(settings.warehouse_path)
    with dbt_parse.parse_early(settings):  # the manifest is current: nothing to start
        assert started == ["duckdb"] and dbt_parse.take_early_parse("duckdb") is None


@pytest.fixture
def fresh_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A dbt target folder never parsed (a fresh clone's) and a warehouse of its own: the settings. The
    early parses are this test's alone: `_early` is the process's, and under pytest-xdist a worker runs
    other files' command lines in-process before this one. The test below failed twice in CI with the
    stamp present after `stop()`, which then stamped any exit code 0 (CPython reports 0 for a child
    reaped elsewhere); `stop()` now stamps only a parse that finished on its own (not reproduced)."""
    from orchestration import dbt_parse

    monkeypatch.setattr(dbt_parse, "_early", {})
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("SALES_WH_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    return Settings.from_env()


def test_an_early_parse_nobody_waited_for_is_stopped_and_leaves_no_stamp(
    tmp_path: Path, fresh_target: Settings
) -> None:
    from orchestration import dbt_parse

    settings = fresh_target
    manifest = dbt_parse.manifest_path(tmp_path / "target")
    stamp = dbt_parse.target_stamp(manifest)
    stamp.parent.mkdir(parents=True)
    stamp.write_text("duckdb")  # a stamp from an earlier parse (its manifest since deleted)
    with pytest.raises(RuntimeError, match="the demo failed"), dbt_parse.parse_early(settings):
        process = dbt_parse._early["duckdb"].process
        raise RuntimeError("the demo failed")
    assert process.poll() is not None  # not left running
    assert dbt_parse.take_early_parse("duckdb") is None
    assert not stamp.exists()  # the next run parses again


def test_an_early_parse_that_finished_but_was_not_waited_for_is_kept(
    tmp_path: Path, fresh_target: Settings
) -> None:
    from orchestration import dbt_parse

    settings = fresh_target
    with pytest.raises(RuntimeError, match="the landing is foreign"), dbt_parse.parse_early(settings):
        assert dbt_parse._early["duckdb"].process.wait() == 0
        raise RuntimeError("the landing is foreign")
    manifest = dbt_parse.manifest_path(tmp_path / "target")
    env = {**os.environ, **dbt_parse.dbt_env(settings)}
    assert dbt_parse.manifest_is_current(manifest, PROJECT_ROOT, "duckdb", env)  # the next run uses it


def test_parse_now_parses_a_stale_project_once(tmp_path: Path, fresh_target: Settings) -> None:
    """What the benchmarks run before a full run (``python -m orchestration.dbt_parse``): a parse when
    the manifest is stale, with its stamp; nothing when it is current."""
    from orchestration import dbt_parse

    manifest = dbt_parse.manifest_path(tmp_path / "target")
    env = {**os.environ, **dbt_parse.dbt_env(fresh_target)}
    assert not dbt_parse.manifest_is_current(manifest, PROJECT_ROOT, "duckdb", env)
    took = dbt_parse.parse_now(fresh_target)
    assert took is not None and took > 0
    assert dbt_parse.manifest_is_current(manifest, PROJECT_ROOT, "duckdb", env)
    parsed_at = manifest.stat().st_mtime_ns
    assert dbt_parse.parse_now(fresh_target) is None  # current: no second parse
    assert manifest.stat().st_mtime_ns == parsed_at
    assert dbt_parse.take_early_parse("duckdb") is None


def test_the_command_line_starts_dbt_before_it_imports_dagster_or_dbt() -> None:
    """`sales-wh demo` and `run` enter parse_early (replaced here by a spy that stops the command) with
    neither Dagster, dagster-dbt, dbt nor Great Expectations imported yet."""
    import subprocess
    import sys

    code = (
        "import contextlib, sys\n"
        "import orchestration.dbt_parse as dbt_parse\n"
        "@contextlib.contextmanager\n"
        "def spy(settings=None):\n"
        "    heavy = ('dagster', 'dagster_dbt', 'dbt', 'great_expectations')\n"
        "    print(sorted(m for m in heavy if m in sys.modules), flush=True)\n"
        "    raise SystemExit(0)\n"
        "    yield\n"
        "dbt_parse.parse_early = spy\n"
        "from orchestration.tooling.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    for command in (["demo"], ["run", "--start", "2025-01-01"]):
        out = subprocess.run(
            [sys.executable, "-c", code, *command],
            capture_output=True,
            text=True,
            check=True,
            cwd=PROJECT_ROOT,
        )
        assert out.stdout.strip() == "[]", (command, out.stdout, out.stderr)


def test_a_failed_parse_says_what_dbt_said() -> None:
    from orchestration.dbt_parse import _error_lines

    # dbt's JSON log lines (DBT_LOG_FORMAT=json) as dbt 1.11 writes them, trimmed to the fields read.
    output = "\n".join(
        [
            '{"info": {"level": "info", "msg": "Running with dbt=1.11.16"}}',
            '{"info": {"level": "error", "msg": "Encountered an error:\\nCompilation Error in model kpi_x"}}',
            "Traceback (most recent call last):",
        ]
    )
    assert _error_lines(output) == "Encountered an error:\nCompilation Error in model kpi_x"
    assert _error_lines("segfault\n") == "segfault"
    assert _error_lines("") == "(dbt wrote nothing)"


def test_a_failed_parse_raises_with_dbt_s_error_on_its_first_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration import dbt_parse

    fake = tmp_path / "dbt"
    error = '{"info": {"level": "error", "msg": "Parsing Error\\\\n  Invalid test config on kpi_x"}}'
    fake.write_text(f"#!/bin/sh\necho '{error}'\nexit 2\n")
    fake.chmod(0o755)
    monkeypatch.setattr(dbt_parse, "dbt_executable", lambda: str(fake))
    manifest = dbt_parse.manifest_path(tmp_path / "target")
    stamp = dbt_parse.target_stamp(manifest)
    stamp.parent.mkdir(parents=True)
    stamp.write_text("duckdb")
    parse = dbt_parse.DbtParse("duckdb", tmp_path / "target", {})
    with pytest.raises(dbt_parse.DbtParseError) as failed:
        parse.wait()
    first = str(failed.value).splitlines()[0]  # what the command line prints of an error
    assert (
        first
        == "dbt parse failed (exit code 2) for target duckdb: Parsing Error Invalid test config on kpi_x"
    )
    assert not stamp.exists()
