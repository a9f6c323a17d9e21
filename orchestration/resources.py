"""Dagster resources, configured from the environment (``Settings.from_env()``) so the same code runs
locally, in tests (tmp paths via ``SALES_WH_*``) and in production."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from orchestration.settings import Settings
from orchestration.warehouse import connect_warehouse


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

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        return cls(
            landing_dir=str(settings.landing_dir),
            warehouse_path=str(settings.warehouse_path),
            published_path=str(settings.published_path),
            memory_limit=settings.memory_limit,
            threads=settings.threads,
            date_formats=dict(settings.date_formats),
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
