"""The dbt project as Dagster assets: ``dbt build`` streamed, so every dbt test is an asset check.

Manifest: ``@dbt_assets`` needs ``target/manifest.json`` when the code location loads. Under
``dagster dev`` it is re-parsed on every load (``prepare_if_dev``); otherwise :func:`load_dbt_project`
parses once when the manifest is missing, and :func:`prepare_manifest` (used by ``run_pipeline``, the
tests and the benchmarks) re-parses when a project file is newer than the manifest or the target
changed. For a deployment run ``dagster-dbt project prepare-and-package --file
orchestration/defs/dbt_assets.py`` at build time.
``DBT_TARGET_PATH`` moves ``target/`` (e.g. to a scratch folder).

dbt sources in schema ``raw`` map onto the raw assets ``["raw", <table>]`` (by ``meta.dagster.asset_key``
in the sources YAML, or by this translator when it is absent), so raw is upstream of staging. Tests of
severity ``error`` are blocking checks: a failure fails the dbt step and skips everything downstream.

Incremental models (``base_`` staging, ``fct_activities``) only process what changed since their last
build. When the dbt project itself changed (a model, macro or seed: :func:`project_fingerprint` differs
from the one kept next to the warehouse), the step runs ``dbt build --full-refresh`` once instead.
"""

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.contract import RAW_SCHEMA
from orchestration.dbt_parse import (
    DBT_PROFILES_DIR,
    DbtParse,
    dbt_env,
    dbt_target_path,
    manifest_is_current,
    project_files,
    take_early_parse,
)
from orchestration.defs.resources import WarehouseResource, retry_on_warehouse_lock
from orchestration.defs.tags import NOTHING_NEW
from orchestration.engines import DUCKDB, POSTGRES, SPARK
from orchestration.faults import fault_point
from orchestration.publishing.postgres import postgres_build_state
from orchestration.publishing.publish import published_build_state, raw_state
from orchestration.publishing.spark import SPARK_PUBLISHED_DATABASE, spark_build_state
from orchestration.settings import PROJECT_ROOT, dbt_build_threads


def _put_dbt_on_path() -> None:
    """dagster-dbt calls ``dbt`` from PATH (also when preparing the manifest); a virtualenv that is not
    activated (``.venv/bin/python -m ...``) has it next to the interpreter."""
    venv_bin = Path(sys.executable).parent
    if shutil.which("dbt") is None and (venv_bin / "dbt").exists():
        os.environ["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"


_put_dbt_on_path()


class _NoDbtResultsWhenNothingNew(logging.Filter):
    """Dagster warns once per blocking check of a step that emitted no result for it. The dbt step emits
    none when it has nothing new to build (:func:`nothing_to_build`), and then what the checks gate
    (publish) is skipped with it: those warnings say nothing about the data."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "emitted no result in step 'dbt_models'" not in record.getMessage()


logging.getLogger("dagster._core.execution.plan.active").addFilter(_NoDbtResultsWhenNothingNew())


class SalesWhDbtTranslator(DagsterDbtTranslator):
    """Raw sources -> the raw asset keys; models grouped by their schema (staging, core, marts...)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        meta = dbt_resource_props.get("meta", {}).get("dagster", {})
        if (
            dbt_resource_props.get("resource_type") == "source"
            and dbt_resource_props.get("schema") == RAW_SCHEMA
            and not meta.get("asset_key")
        ):
            table = dbt_resource_props.get("identifier") or dbt_resource_props["name"]
            return dg.AssetKey([RAW_SCHEMA, table])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        schema = dbt_resource_props.get("config", {}).get("schema")
        return schema or super().get_group_name(dbt_resource_props)


TRANSLATOR = SalesWhDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def _dbt_project(target: str) -> DbtProject:
    project = DbtProject(
        project_dir=PROJECT_ROOT,
        profiles_dir=DBT_PROFILES_DIR,
        target=target,
        target_path=dbt_target_path(),
    )
    project.prepare_if_dev()
    return project


@cache
def load_dbt_project(target: str) -> DbtProject:
    """The one ``DbtProject`` (dbt's root is the repository root), with a loadable manifest."""
    project = _dbt_project(target)
    if not project.manifest_path.exists():
        parse_project(project, target)
    return project


def parse_project(
    project: DbtProject,
    target: str,
    while_parsing: Callable[[], object] | None = None,
    started: DbtParse | None = None,
) -> None:
    """``dbt parse`` (writes target/manifest.json), or the wait for ``started``, a parse the command
    line started before it imported Dagster (:func:`orchestration.dbt_parse.parse_early`). dbt runs as
    dagster-dbt runs it, without dagster-dbt's preparer (~5.5 s more before the same command; the
    project has no packages to install), and the manifest is stamped with the target when it succeeded.

    dbt parses in its own process; ``while_parsing`` runs meanwhile in a thread of this one (work the
    caller needs next, on the second core: a first run's parse is ~10 s of one core). Its error is
    raised after dbt ended, and then the manifest is left unstamped: the next run parses again."""
    parse = started or DbtParse(target, Path(project.target_path), {})
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="while-dbt-parses") as pool:
        side_work = pool.submit(while_parsing) if while_parsing is not None else None
        try:
            parse.wait()  # raises when the parse failed
        except BaseException:
            parse.stop()  # interrupted: dbt does not go on writing into target/ after the run lock is gone
            raise
        if side_work is not None:
            side_work.result()
    fault_point("dbt_parse")
    parse.stamp()


def _manifest_is_current(project: DbtProject, target: str) -> bool:
    """True when target/manifest.json was parsed for ``target`` and is newer than every project file."""
    return manifest_is_current(Path(project.manifest_path), Path(project.project_dir), target)


def prepare_manifest(target: str, while_parsing: Callable[[], object] | None = None) -> DbtProject:
    """Re-parse the dbt project (``dbt parse``) unless the manifest is newer than every project file:
    a parse is ~9 s of every run, a large share of a daily run's fixed cost. A parse the command line
    started early for this target is waited for instead. ``while_parsing`` runs in this process during
    the parse (:func:`parse_project`); not at all when no parse is needed."""
    load_dbt_project.cache_clear()
    # Not load_dbt_project's parse of a missing manifest first: on a fresh clone that made two parses
    # (the second one partial, ~4 s) of every first run.
    project = _dbt_project(target)
    started = take_early_parse(target)
    if started is not None or not _manifest_is_current(project, target):
        parse_project(project, target, while_parsing, started)
    return load_dbt_project(target)  # the manifest exists now: no parse there


def project_fingerprint(target: str) -> str:
    """A hash of every file the dbt project is built from (models, seeds, macros, dbt_project.yml)
    and the target: when it changes, incremental models must be rebuilt from scratch."""
    digest = hashlib.sha256(target.encode())
    for f in project_files(PROJECT_ROOT):
        digest.update(f.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint_path(warehouse_path: str, suffix: str = "") -> Path:
    """Where the fingerprint of the dbt project last built into a warehouse is kept (next to the DuckDB
    file; ``suffix`` names another engine's database: ``WarehouseResource.build_stamp_suffix``)."""
    return Path(f"{warehouse_path}.dbt-project{suffix}")


def built_fingerprint(warehouse_path: str, suffix: str = "") -> str | None:
    """The fingerprint of the dbt project last built into the warehouse (None: never built here)."""
    stamp = fingerprint_path(warehouse_path, suffix)
    return stamp.read_text().strip() if stamp.exists() else None


def full_refresh_needed(built: str | None, fingerprint: str) -> bool:
    """A full refresh when the warehouse was last built by a different dbt project (or never):
    incremental models (base_, fct_*) then start over, so a changed seed or model reaches every row,
    not only the rows that changed since."""
    return built != fingerprint


#: dbt unit tests check the models' logic on fixed inputs, not the data: they run where the code changes
#: (``make test`` and CI, tests/test_dbt_unit_tests.py), as dbt recommends, not in pipeline runs, where
#: they were a third of the first build's dbt work at S (16.6 s of 49 s summed over nodes).
NO_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]


def dbt_build_args(*, full_refresh: bool) -> list[str]:
    """The ``dbt build`` command line. The models it selects are the run's: ``dbt.cli(..., context=)``
    adds ``--select`` for a subset of the assets. Every data test runs; unit tests do not
    (:data:`NO_UNIT_TESTS`)."""
    if full_refresh:
        return ["build", "--full-refresh", *NO_UNIT_TESTS]
    return ["build", *NO_UNIT_TESTS]


def build_args(warehouse_path: str, fingerprint: str) -> list[str]:
    """``dbt build`` for the warehouse at ``warehouse_path`` and the project of ``fingerprint``."""
    return dbt_build_args(full_refresh=full_refresh_needed(built_fingerprint(warehouse_path), fingerprint))


def raw_row_count(con: Any) -> int:
    """Rows of the warehouse's raw tables (DuckDB's table statistics: no scan)."""
    row = con.execute(
        "select coalesce(sum(estimated_size), 0) from duckdb_tables() "
        "where database_name = current_database() and schema_name = ?",
        [RAW_SCHEMA],
    ).fetchone()
    return int(row[0]) if row else 0


def build_threads(con: Any, warehouse: WarehouseResource) -> int:
    """dbt threads of a build on the DuckDB warehouse ``con`` is open on (:func:`dbt_build_threads`)."""
    return dbt_build_threads(
        raw_row_count(con), warehouse.memory_limit, warehouse.dbt_threads, warehouse.dbt_threads_large
    )


def records_fingerprint(is_subset: bool) -> bool:
    """Whether a successful step records the project's fingerprint: only after a build of every model.
    A partial one (a few assets materialized from the UI) leaves the old stamp, so the next full run
    refreshes everything."""
    return not is_subset


#: How long dbt gets to stop after SIGINT (it rolls back and closes the warehouse) before SIGKILL.
DBT_STOP_SECONDS = 30.0


def _drain(stream: Any) -> None:
    """Read ``stream`` to its end and drop what it holds (dbt's output while it stops)."""
    try:
        while stream.read(65536):
            pass
    except (ValueError, OSError):  # ValueError: the pipe was closed
        pass


@contextmanager
def stopped_on_error(
    process: subprocess.Popen[bytes], stop_seconds: float = DBT_STOP_SECONDS
) -> Iterator[None]:
    """Stop the dbt subprocess when the step ends with dbt still running (an error while its events
    were read: a node missing from the manifest, a fault). dagster-dbt 0.29 reads dbt's stdout in a
    generator whose bare ``except`` ignores ``GeneratorExit``, so an error there leaves dbt running,
    unread and blocked on a full pipe while it holds the warehouse: the next step then waits for a
    lock that is never released.

    dbt gets SIGINT and ``stop_seconds`` to stop (it rolls back and closes the warehouse), then SIGKILL.
    Meanwhile its output is read and dropped, so it is not blocked on the pipe, and never kept: a
    process that ignores SIGINT (started from a shell that ignores it, as a background job of a script
    does) writes on for those seconds, and reading it into memory (``communicate``) grew the caller to
    23 GB in 30 s of a test's endless writer."""
    try:
        yield
    except BaseException:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            for stream in (process.stdout, process.stderr):
                if stream is not None and not stream.closed:
                    threading.Thread(target=_drain, args=(stream,), daemon=True, name="dbt-drain").start()
            try:
                process.wait(timeout=stop_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        raise


def published_state(warehouse: WarehouseResource) -> tuple[str, str] | None:
    """The build state recorded by the last publish on the run's engine (None: none readable)."""
    if warehouse.engine == POSTGRES:
        return postgres_build_state(warehouse.conninfo(), warehouse.pg_published_schema)
    if warehouse.engine == SPARK:
        return spark_build_state(warehouse.spark_host, warehouse.spark_port)
    return published_build_state(Path(warehouse.published_path))


def nothing_to_build(
    is_subset: bool, full_refresh: bool, state: tuple[str, str], published: tuple[str, str] | None
) -> bool:
    """Whether a run has nothing to build: all models selected (not a subset), the warehouse built by
    this dbt project, and the published file built from this project and this raw state (no batch
    loaded or refused since). Then ``dbt build`` would rebuild the same tables and run the same tests on
    them, and publish would copy them again."""
    return not is_subset and not full_refresh and published == state


def _published_label(warehouse: WarehouseResource) -> str:
    if warehouse.engine == POSTGRES:
        return f"schema {warehouse.pg_published_schema} on {warehouse.engine_location}"
    if warehouse.engine == SPARK:
        return f"database {SPARK_PUBLISHED_DATABASE} on {warehouse.engine_location}"
    return warehouse.published_path


def read_manifest(project: DbtProject) -> dict[str, Any]:
    # Read the file each time: dagster-dbt caches manifests by path, which would hide a re-parse.
    return json.loads(project.manifest_path.read_text())


def build_dbt_assets(project: DbtProject, manifest: Mapping[str, Any] | None = None) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=dict(manifest) if manifest is not None else read_manifest(project),
        project=project,
        dagster_dbt_translator=TRANSLATOR,
        name="dbt_models",
        op_tags={"kind": "dbt"},
    )
    def dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        # dbt inherits this process's environment; point it at the resource's warehouse file. The
        # loader closed its connection at the end of its step, so the subprocess can open the file.
        os.environ.update(dbt_env(warehouse))
        # Wait out a lock held by another process (DuckDB: one writer) before starting dbt: a dbt
        # failure cannot be told apart from a lock cheaply, and retrying a failed dbt test is pointless.
        with retry_on_warehouse_lock(context), warehouse.connect(read_only=True) as con:
            state = raw_state(con)
            threads = build_threads(con, warehouse) if warehouse.engine == DUCKDB else warehouse.dbt_threads
        fingerprint = project_fingerprint(dbt.target or "")
        suffix = warehouse.build_stamp_suffix
        full_refresh = full_refresh_needed(built_fingerprint(warehouse.warehouse_path, suffix), fingerprint)
        published = published_state(warehouse)
        if nothing_to_build(context.is_subset, full_refresh, (fingerprint, state), published):
            # No model is materialized: Dagster skips what is downstream (mart checks, publish), and the
            # published file, built and checked from these same inputs, stays as it is.
            context.log.info(
                f"{NOTHING_NEW} (the same raw batches and dbt project): dbt build, the mart checks and "
                f"publishing are skipped; {_published_label(warehouse)} is current"
            )
            return
        args = dbt_build_args(full_refresh=full_refresh)
        if threads != warehouse.dbt_threads:
            args += ["--threads", str(threads)]
        context.log.info(
            f"dbt {' '.join(args)} on "
            + (warehouse.engine_location if warehouse.engine != DUCKDB else warehouse.warehouse_path)
            + (" (the dbt project changed since the last build)" if full_refresh else "")
            + (
                f" ({threads} dbt thread(s): a large build, SALES_WH_DBT_THREADS_LARGE)"
                if threads != warehouse.dbt_threads
                else ""
            )
        )
        invocation = dbt.cli(args, context=context)
        with stopped_on_error(invocation.process):
            for event in invocation.stream():
                yield event
                fault_point("dbt_build")  # dbt is running the next models (reliability suite)
        # Only after a successful build (a failed one raised above) of every model.
        if records_fingerprint(context.is_subset):
            fingerprint_path(warehouse.warehouse_path, suffix).write_text(fingerprint)

    return dbt_models


def model_keys(manifest: Mapping[str, Any], schema: str, prefix: str = "") -> list[dg.AssetKey]:
    """Asset keys of the models of ``manifest`` built in ``schema`` (names starting with ``prefix``)."""
    return sorted(
        (
            TRANSLATOR.get_asset_key(node)
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model"
            and node.get("schema") == schema
            and node["name"].startswith(prefix)
        ),
        key=lambda k: k.to_user_string(),
    )


def incremental_keys(manifest: Mapping[str, Any], schemas: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``"schema.table"`` -> the columns publish may update an incremental model of ``schemas`` by
    instead of copying it whole (``publishing.publish._apply_delta``): its ``meta.publish_key`` (a model
    whose own build deletes and appends, e.g. fct_pipeline_daily), else its ``unique_key``; a column name
    or a list of them."""
    out: dict[str, tuple[str, ...]] = {}
    for node in manifest["nodes"].values():
        config = node.get("config", {})
        key = (config.get("meta") or {}).get("publish_key") or config.get("unique_key")
        columns = (key,) if isinstance(key, str) else tuple(key) if isinstance(key, list) else ()
        if (
            node["resource_type"] == "model"
            and node.get("schema") in schemas
            and config.get("materialized") == "incremental"
            and columns
            and all(isinstance(c, str) for c in columns)
        ):
            out[f"{node['schema']}.{node.get('alias') or node['name']}"] = columns
    return out


def dbt_model_keys(project: DbtProject, schema: str, prefix: str = "") -> list[dg.AssetKey]:
    """Asset keys of the dbt models built in ``schema`` (names starting with ``prefix``)."""
    return model_keys(read_manifest(project), schema, prefix)
