"""``make docs``: the dbt documentation site, and the exposures it draws downstream of the models.

The site is built by the Makefile's own recipe (``make -o install docs``: the tests already run in the
installed virtualenv), into a tmp ``DBT_TARGET_PATH``. Without a warehouse (a fresh clone) the catalog
comes from an empty DuckDB; with the demo warehouse it lists the published marts with their column types.
The exposures must name what their readers really read: the dashboard's queries and the tables the
publish step copies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestration.publishing.publish import CHECK_RESULTS, PUBLISHED_CORE_PREFIXES, RUN_HISTORY
from orchestration.settings import PROJECT_ROOT
from orchestration.tooling.dashboard.data import tables_read
from orchestration.warehouse import CORE_SCHEMA, MARTS_SCHEMA

#: Tables of the published file that the publish step writes itself (not dbt models).
PUBLISH_TABLES = {f"main.{RUN_HISTORY}", f"main.{CHECK_RESULTS}"}


def make_docs(target: Path, warehouse: Path) -> subprocess.CompletedProcess[str]:
    """``make docs`` on ``warehouse`` into ``target``, with this interpreter's virtualenv (no install)."""
    env = {
        **os.environ,
        "SALES_WH_WAREHOUSE": str(warehouse),
        "SALES_WH_DBT_TARGET": "duckdb",
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target / "logs"),
    }
    cmd = ["make", "-o", "install", "docs", f"BIN={Path(sys.executable).parent}"]
    run = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, f"make docs failed:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    return run


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _relation(node: dict[str, Any]) -> str:
    return f"{node['schema']}.{node.get('alias') or node['name']}"


@pytest.fixture(scope="module")
def fresh_docs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``make docs`` as on a fresh clone: no warehouse file yet."""
    base = tmp_path_factory.mktemp("docs-fresh")
    return base / "target", make_docs(base / "target", base / "not-built-yet.duckdb")


@pytest.fixture(scope="module")
def manifest(fresh_docs: tuple[Path, subprocess.CompletedProcess[str]]) -> dict[str, Any]:
    return _json(fresh_docs[0] / "manifest.json")


def _exposure(manifest: dict[str, Any], name: str) -> tuple[dict[str, Any], set[str]]:
    exposure = manifest["exposures"][f"exposure.sales_wh.{name}"]
    nodes = {_relation(manifest["nodes"][n]) for n in exposure["depends_on"]["nodes"]}
    return exposure, nodes


def test_make_docs_builds_the_site_without_a_warehouse(
    fresh_docs: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    target, run = fresh_docs
    for name in ("index.html", "static_index.html", "manifest.json", "catalog.json"):
        assert (target / name).is_file(), name
    assert "catalog from an empty DuckDB" in run.stdout
    assert f"dbt docs site: {target}/static_index.html" in run.stdout
    assert "dbt docs serve" in run.stdout
    assert not (target.parent / "not-built-yet.duckdb").exists()  # no empty warehouse left behind


def test_the_dashboard_exposure_lists_every_model_the_dashboard_reads(manifest: dict[str, Any]) -> None:
    exposure, depends_on = _exposure(manifest, "kpi_dashboard")
    assert exposure["type"] == "dashboard" and exposure["owner"]["email"]
    read = tables_read()
    # Everything it reads is a model the exposure names, or a table the publish step writes.
    assert read - PUBLISH_TABLES == depends_on
    assert read & PUBLISH_TABLES == PUBLISH_TABLES
    assert "core.dq_load_rejects" in depends_on and "core.dq_load_batches" in depends_on


def test_the_published_file_exposure_lists_every_published_model(manifest: dict[str, Any]) -> None:
    exposure, depends_on = _exposure(manifest, "published_warehouse")
    assert exposure["type"] == "application" and exposure["owner"]["email"]
    published = {
        _relation(node)
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and (
            node["schema"] == MARTS_SCHEMA
            or (node["schema"] == CORE_SCHEMA and node["name"].startswith(PUBLISHED_CORE_PREFIXES))
        )
    }
    assert depends_on == published
    assert "core.dq_load_rejects" in published


@pytest.mark.e2e
def test_make_docs_catalogs_the_published_marts_of_a_built_warehouse(
    demo_warehouse: tuple[Path, Path], tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_warehouse[1], warehouse)  # dbt opens it read-write: not the shared session file
    target = tmp_path / "target"
    run = make_docs(target, warehouse)
    assert "empty DuckDB" not in run.stdout
    for name in ("index.html", "static_index.html", "manifest.json", "catalog.json"):
        assert (target / name).is_file(), name
    catalog = _json(target / "catalog.json")["nodes"]
    for model, column, kind in [
        ("kpi_bookings", "won_deal_count", "BIGINT"),
        ("kpi_win_rate", "close_month", "DATE"),
        ("dq_load_rejects", "reject_count", "BIGINT"),
        ("dq_load_batches", "source_row_count", "BIGINT"),
    ]:
        columns = catalog[f"model.sales_wh.{model}"]["columns"]
        assert columns[column]["type"] == kind, (model, column, columns.get(column))
    assert set(_json(target / "manifest.json")["exposures"]) == {
        "exposure.sales_wh.kpi_dashboard",
        "exposure.sales_wh.published_warehouse",
    }
