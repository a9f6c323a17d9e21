"""Dagster resources, configured from the environment (``Settings.from_env()``) so the same code runs
locally, in tests (tmp paths via ``SALES_WH_*``) and in production."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from orchestration.settings import Settings
from orchestration.warehouse import connect_warehouse

#: Tag on every run of the daily job. The instance config (``orchestration/dagster.yaml``) limits runs
#: carrying it to one at a time: DuckDB allows one writer process per file.
WAREHOUSE_WRITER_TAG = "sales_wh/warehouse_writer"
WAREHOUSE_WRITER_VALUE = "duckdb"

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

    landing_dir: str
    warehouse_path: str
    published_path: str
    memory_limit: str = "4GB"
    threads: int = 2
    #: Object API name -> strptime format for dates in spreadsheet-saved exports.
    date_formats: dict[str, str] = {}
    #: Largest share of a batch's rows that may be rejected before its blocking landing check fails.
    max_reject_rate: float = 0.05
    #: Largest batch the landing checks validate with Great Expectations; larger ones run as SQL.
    gx_max_rows: int = 250_000

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        return cls(
            landing_dir=str(settings.landing_dir),
            warehouse_path=str(settings.warehouse_path),
            published_path=str(settings.published_path),
            memory_limit=settings.memory_limit,
            threads=settings.threads,
            date_formats=dict(settings.date_formats),
            max_reject_rate=settings.max_reject_rate,
            gx_max_rows=settings.gx_max_rows,
        )

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


def build_resources(settings: Settings, dbt_project_dir: Path | object) -> dict[str, object]:
    """Resources of the code location. ``dbt_project_dir`` is the ``DbtProject`` (or its folder)."""
    return {
        "warehouse": WarehouseResource.from_settings(settings),
        "dbt": DbtCliResource(project_dir=dbt_project_dir, target=settings.dbt_target),
    }
