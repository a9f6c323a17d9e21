"""Dagster resources, configured from the environment (``Settings.from_env()``) so the same code runs
locally, in tests (tmp paths via ``SALES_WH_*``) and in production.

The resources take the settings whole: ``WarehouseResource.from_settings`` fills each of its fields from
the setting of the same name, so a default, a parse (``SALES_WH_DATE_FORMATS``) or a range check lives
once, in :mod:`orchestration.settings`. Not ``dg.EnvVar`` fields: an ``EnvVar`` has no default and no
parse, and the CLI, the benchmarks and the dbt subprocess read the same settings outside Dagster.
"""

from __future__ import annotations

import importlib.metadata
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from orchestration.dbt_parse import dbt_executable
from orchestration.engines import (
    POSTGRES,
    SPARK,
    DuckDBReader,
    MartReader,
    PostgresReader,
    SparkReader,
    build_stamp_suffix,
    engine_label,
    postgres_connection,
    run_engine,
    spark_connection,
    spark_label,
)
from orchestration.settings import Settings, postgres_conninfo
from orchestration.warehouse import connect_warehouse

#: DuckDB's message when another process holds the file (``duckdb.IOException``).
LOCK_ERROR_TEXT = "Could not set lock on file"
#: A lock held by another process (a manual ``make run`` while the daemon runs the schedule) is waited
#: out: exponential backoff from LOCK_BASE_SECONDS, capped at LOCK_MAX_SECONDS, with +-50% jitter so two
#: waiting processes do not retry in lockstep. 10 attempts wait about 30 minutes in total, longer
#: than a full pipeline run at scale L.
LOCK_MAX_RETRIES = 10
LOCK_BASE_SECONDS = 15.0
LOCK_MAX_SECONDS = 300.0


def is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and LOCK_ERROR_TEXT in str(exc)


def lock_wait_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based) after a lock error."""
    base = min(LOCK_MAX_SECONDS, LOCK_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    return base * (rng or random).uniform(0.5, 1.5)


@contextmanager
def retry_on_warehouse_lock(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
) -> Iterator[None]:
    """Turn DuckDB's lock error into a step retry after a jittered backoff; other errors pass through
    (a data or code error is not helped by waiting)."""
    try:
        yield
    except duckdb.IOException as exc:
        if not is_lock_error(exc):
            raise
        wait = lock_wait_seconds(context.retry_number + 1)
        context.log.warning(
            f"warehouse locked by another process; retry {context.retry_number + 1}/{LOCK_MAX_RETRIES} "
            f"in {wait:.0f}s: {exc}"
        )
        raise dg.RetryRequested(max_retries=LOCK_MAX_RETRIES, seconds_to_wait=wait) from exc


class WarehouseResource(dg.ConfigurableResource):
    """Paths and DuckDB settings of the warehouse, the landing folder and the published copy.

    Connections are opened per step and always closed at its end: DuckDB allows one writer process,
    and dbt (a subprocess) needs the file right after the load step.
    """

    # Each field is the setting of the same name (documented and defaulted in Settings).
    landing_dir: str
    warehouse_path: str
    published_path: str
    memory_limit: str
    threads: int
    dbt_threads: int
    dbt_threads_large: int
    date_formats: dict[str, str]
    max_reject_rate: float
    gx_max_rows: int
    #: The engine the run builds, checks and publishes on, and where it is (orchestration/engines.py).
    dbt_target: str
    lake_dir: str
    pg_host: str
    pg_port: int
    pg_user: str
    pg_database: str
    pg_published_schema: str
    spark_method: str
    spark_host: str
    spark_port: int

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        """The resource with every field taken from ``settings`` (paths as text)."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            value = getattr(settings, name)
            values[name] = str(value) if isinstance(value, Path) else value
        return cls(**values)

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = Path(self.warehouse_path)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        con = connect_warehouse(
            path, memory_limit=self.memory_limit, threads=self.threads, read_only=read_only
        )
        try:
            yield con
        finally:
            con.close()

    @property
    def engine(self) -> str:
        return run_engine(self.dbt_target)

    def conninfo(self) -> str:
        """The PostgreSQL connection string (password from the environment, read now)."""
        return postgres_conninfo(self.pg_host, self.pg_port, self.pg_user, self.pg_database)

    @property
    def engine_location(self) -> str:
        """Where the engine's tables are, for logs (no password)."""
        if self.dbt_target == SPARK:
            return spark_label(self.spark_host, self.spark_port)
        return engine_label(self.dbt_target, self.pg_host, self.pg_port, self.pg_database)

    @property
    def build_stamp_suffix(self) -> str:
        if self.dbt_target == SPARK:
            return build_stamp_suffix(SPARK, self.spark_host, self.spark_port, "")
        return build_stamp_suffix(self.dbt_target, self.pg_host, self.pg_port, self.pg_database)

    @contextmanager
    def spark(self) -> Iterator[Any]:
        """A SQL connection (PyHive) to the Spark Thrift server of the ``spark`` engine."""
        if self.spark_method != "thrift":
            raise RuntimeError(
                f"SALES_WH_SPARK_METHOD={self.spark_method!r}: a pipeline run on Spark needs a Spark Thrift "
                "server (SALES_WH_SPARK_METHOD=thrift, SALES_WH_SPARK_HOST/PORT; "
                "`eval $(.ci/spark.sh start)` starts a local one): dbt's in-process session cannot share "
                "the catalog with this process"
            )
        with spark_connection(self.spark_host, self.spark_port) as con:
            yield con

    @contextmanager
    def marts_reader(self) -> Iterator[MartReader]:
        """Read-only access to the built marts on the run's engine (the mart checks)."""
        if self.engine == POSTGRES:
            with postgres_connection(self.conninfo(), read_only=True) as pg:
                yield PostgresReader(pg)
        elif self.engine == SPARK:
            with self.spark() as con:
                yield SparkReader(con)
        else:
            with self.connect(read_only=True) as con:
                yield DuckDBReader(con)


class SalesWhDbtCli(DbtCliResource):
    """dagster-dbt's ``DbtCliResource`` without two fixed costs it pays before every dbt command, about
    5.5 s of each `dbt build` on the 2-core development machine (cProfile, docs/BENCHMARKS.md; `dbt
    parse` does not go through dagster-dbt: orchestration/dbt_parse.py): ``dbt --version`` in a
    subprocess to learn the version of the dbt it will run (here always this environment's dbt-core:
    :func:`dbt_executable`), and a dbt adapter loaded with every macro in this process, which
    dagster-dbt only uses to fetch row counts and column metadata of built models, which this project
    does not ask for. dagster-dbt is pinned (pyproject.toml): a test builds the resource and runs dbt
    through it (tests/test_dbt_cli.py)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None


def dbt_cli(project: DbtProject, target: str) -> SalesWhDbtCli:
    """dbt on ``project`` (its project folder and target path) and ``target``."""
    # DbtCliResource takes a DbtProject for project_dir (its validator reads the folder and target path
    # from it); the field is typed as the folder only.
    return SalesWhDbtCli(
        project_dir=project,  # type: ignore[arg-type]
        target=target,
        dbt_executable=dbt_executable(),
    )


def build_resources(settings: Settings, project: DbtProject) -> dict[str, dg.ConfigurableResource]:
    """Resources of the code location: the warehouse and dbt (``project`` with ``settings.dbt_target``)."""
    return {
        "warehouse": WarehouseResource.from_settings(settings),
        "dbt": dbt_cli(project, settings.dbt_target),
    }
