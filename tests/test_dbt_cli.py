"""The dbt resource skips two of dagster-dbt's fixed costs (orchestration/defs/resources.py): these tests
fail when the shortcut would be wrong (another dbt than the one it assumes) or would silently stop
applying (dagster-dbt renamed what it overrides)."""

import re
import subprocess

from dagster_dbt import DbtCliResource

from orchestration.dbt_parse import dbt_executable
from orchestration.defs.dbt_assets import load_dbt_project
from orchestration.defs.resources import SalesWhDbtCli, dbt_cli


def test_the_version_it_assumes_is_the_version_of_the_dbt_it_runs() -> None:
    out = subprocess.run([dbt_executable(), "--version"], capture_output=True, text=True, check=True).stdout
    installed = re.search(r"installed:\s*(\d+\.\d+\.\d+)", out)
    assert installed, out
    resource = dbt_cli(load_dbt_project("duckdb"), "duckdb")
    assert str(resource._cli_version) == installed.group(1)
    assert resource.dbt_executable == dbt_executable()


def test_it_overrides_what_dagster_dbt_calls_before_each_command() -> None:
    # If dagster-dbt renames these, the overrides stop applying without an error: fail here instead.
    for name in ("_cli_version", "_initialize_dbt_core_adapter"):
        assert name in vars(DbtCliResource), f"DbtCliResource.{name} is gone: revisit SalesWhDbtCli"
        assert name in vars(SalesWhDbtCli)
