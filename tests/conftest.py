"""Shared pytest fixtures: warehouse files, the Dagster definitions on tmp paths (with helpers to land
files and materialize a raw asset), and the end-to-end data (demo extracts generated once per session,
and the environment that points a pipeline run at a tmp folder)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.contract import OBJECTS, RAW_SCHEMA
from orchestration.defs.resources import WarehouseResource
from orchestration.ingestion.loader import ensure_raw_schema, list_extract_dates, load_batches
from orchestration.settings import PROJECT_ROOT, Settings
from orchestration.tooling.cli import DEMO_DAYS, DEMO_SCALE, DEMO_SEED, DEMO_START
from orchestration.warehouse import connect_warehouse

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    """Path of a fresh, not yet created DuckDB warehouse file."""
    return tmp_path / "warehouse" / "warehouse.duckdb"


@pytest.fixture
def warehouse(warehouse_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a fresh warehouse file, closed after the test."""
    con = connect_warehouse(warehouse_path, memory_limit="1GB", threads=2)
    yield con
    con.close()


@pytest.fixture
def fixture_landing() -> Path:
    """The hand-written landing tree in tests/fixtures/landing (read-only: copy it before changing)."""
    return FIXTURES / "landing"


# --- the Dagster code location on tmp paths -------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on tmp paths, with a schedule in another time zone than UTC."""
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


LandFile = Callable[..., Path]


@pytest.fixture
def land() -> LandFile:
    """``land(landing, obj, day, age_seconds=3600)``: one small extract file in ``<landing>/<obj>/<day>/``,
    last written ``age_seconds`` ago (the sensor waits until a folder has settled)."""

    def land_file(landing: Path, obj: str, day: str, *, age_seconds: float = 3600) -> Path:
        folder = landing / obj / day
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / "extract.csv"
        file.write_text("Id,Name\n005000000000001,Ann\n")
        landed_at = time.time() - age_seconds
        os.utime(file, (landed_at, landed_at))
        return file

    return land_file


MaterializeRaw = Callable[..., dg.ExecuteInProcessResult]


@pytest.fixture
def materialize_raw(defs: dg.Definitions, settings: Settings) -> MaterializeRaw:
    """``materialize_raw(table, day)`` (or ``tags=`` for a range, ``settings=`` to override): the raw
    asset of ``raw.<table>`` for one extract date, on an ephemeral instance, without raising."""

    def run(
        table: str,
        day: str | None = None,
        *,
        tags: dict[str, str] | None = None,
        with_settings: Settings | None = None,
        instance: dg.DagsterInstance | None = None,
    ) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [defs.get_assets_def(dg.AssetKey([RAW_SCHEMA, table]))],
            partition_key=day,
            tags=tags,
            resources={"warehouse": WarehouseResource.from_settings(with_settings or settings)},
            instance=instance or dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )

    return run


# --- end-to-end data ---------------------------------------------------------------------------------------


DemoLanding = Callable[..., Path]


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory: pytest.TempPathFactory) -> DemoLanding:
    """``demo_landing(days=, seed=, start=, into=None)``: demo extracts (scale S, CSV, API headers)
    generated once per session for these arguments. Without ``into`` the shared folder (read-only);
    with it, a copy there that the test may change."""
    from orchestration.tooling.demo_data import generate

    generated: dict[tuple[int, int, date], Path] = {}

    def get(*, days: int, seed: int, start: date = DEMO_START, into: Path | None = None) -> Path:
        key = (days, seed, start)
        if key not in generated:
            out = tmp_path_factory.mktemp(f"demo-{days}d-seed{seed}") / "landing"
            generate(out, scale=DEMO_SCALE, days=days, seed=seed, start=start, progress=False)
            generated[key] = out
        if into is None:
            return generated[key]
        shutil.copytree(generated[key], into)
        return into

    return get


PipelineEnv = Callable[..., AbstractContextManager[Path]]


@pytest.fixture(scope="session")
def pipeline_env() -> PipelineEnv:
    """``with pipeline_env(base, partition_start=...):`` the environment of a pipeline run on ``base``
    (landing/, warehouse.duckdb, published.duckdb, dbt_target/), no date-format settings, an ephemeral
    Dagster instance; ``partition_start=None`` keeps the default first partition."""

    @contextmanager
    def env(base: Path, *, partition_start: date | None = None) -> Iterator[Path]:
        mp = pytest.MonkeyPatch()
        try:
            mp.setenv("SALES_WH_LANDING_DIR", str(base / "landing"))
            mp.setenv("SALES_WH_WAREHOUSE", str(base / "warehouse.duckdb"))
            mp.setenv("SALES_WH_PUBLISHED", str(base / "published.duckdb"))
            mp.setenv("DBT_TARGET_PATH", str(base / "dbt_target"))
            if partition_start is None:
                mp.delenv("SALES_WH_PARTITION_START", raising=False)
            else:
                mp.setenv("SALES_WH_PARTITION_START", partition_start.isoformat())
            for var in ("SALES_WH_DATE_FORMATS", "DAGSTER_HOME"):
                mp.delenv(var, raising=False)
            yield base
        finally:
            mp.undo()

    return env


def build_warehouse(landing: Path, workdir: Path) -> Path:
    """Every object of ``landing`` loaded into a fresh DuckDB warehouse in ``workdir``, then ``dbt build``
    there (target duckdb, dbt's target and logs in ``workdir``; data tests, not unit tests); the warehouse's
    path. No Dagster."""
    warehouse = workdir / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        ensure_raw_schema(con)
        for obj in OBJECTS:
            dates = list_extract_dates(landing, obj)
            if dates:
                load_batches(con, obj, landing, dates)
    finally:
        con.close()
    env = {**os.environ, "SALES_WH_WAREHOUSE": str(warehouse), "SALES_WH_DBT_TARGET": "duckdb"}
    # Unit tests check the models' logic on fixed inputs, not this data: test_checks_bite runs them.
    cmd = [str(Path(sys.executable).parent / "dbt"), "build", "--exclude-resource-type", "unit_test"]
    cmd += ["--profiles-dir", "dbt_project"]
    cmd += ["--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")]
    run = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, f"dbt build failed:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    return warehouse


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory, demo_landing: DemoLanding) -> tuple[Path, Path]:
    """The demo's S-scale landing files (DEMO_DAYS, DEMO_SEED; CSV, API headers), every object loaded
    and ``dbt build`` run, once per session: (landing dir, warehouse). Read-only: copy the warehouse to
    change it."""
    landing = demo_landing(days=DEMO_DAYS, seed=DEMO_SEED)
    return landing, build_warehouse(landing, tmp_path_factory.mktemp("demo_warehouse"))
