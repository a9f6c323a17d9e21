"""Each default lives once, in orchestration/settings.py: the README's configuration table and the dbt
profile's ``env_var`` fallbacks (which run dbt on its own) must say the same, and every schema the Python
side names is one that dbt_project.yml builds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from orchestration import settings as s
from orchestration.contract import RAW_SCHEMA
from orchestration.settings import PROJECT_ROOT
from orchestration.warehouse import WAREHOUSE_SCHEMAS

#: Environment variable -> its default as a user writes it.
DEFAULTS = {
    "SALES_WH_DATA_DIR": s.DEFAULT_DATA_DIR,
    "SALES_WH_LANDING_DIR": f"{s.DEFAULT_DATA_DIR}/{s.DEFAULT_LANDING_DIR}",
    "SALES_WH_WAREHOUSE": f"{s.DEFAULT_DATA_DIR}/{s.DEFAULT_WAREHOUSE_FILE}",
    "SALES_WH_PUBLISHED": f"{s.DEFAULT_DATA_DIR}/{s.DEFAULT_PUBLISHED_FILE}",
    "SALES_WH_LAKE_DIR": f"{s.DEFAULT_DATA_DIR}/{s.DEFAULT_LAKE_DIR}",
    "SALES_WH_DBT_TARGET": s.DEFAULT_DBT_TARGET,
    "SALES_WH_MEMORY_LIMIT": s.DEFAULT_MEMORY_LIMIT,
    "SALES_WH_THREADS": str(s.DEFAULT_THREADS),
    "SALES_WH_DBT_THREADS": str(s.DEFAULT_DBT_THREADS),
    "SALES_WH_DBT_THREADS_LARGE": str(s.DEFAULT_DBT_THREADS_LARGE),
    "SALES_WH_PARTITION_START": s.DEFAULT_PARTITION_START.isoformat(),
    "SALES_WH_SCHEDULE_CRON": s.DEFAULT_SCHEDULE_CRON,
    "SALES_WH_SCHEDULE_TIMEZONE": s.DEFAULT_SCHEDULE_TIMEZONE,
    "SALES_WH_MAX_REJECT_RATE": str(s.DEFAULT_MAX_REJECT_RATE),
    "SALES_WH_GX_MAX_ROWS": str(s.DEFAULT_GX_MAX_ROWS),
    "SALES_WH_RELOAD": "0",
    "SALES_WH_PG_HOST": s.DEFAULT_PG_HOST,
    "SALES_WH_PG_PORT": str(s.DEFAULT_PG_PORT),
    "SALES_WH_PG_USER": s.DEFAULT_PG_USER,
    "SALES_WH_PG_DATABASE": s.DEFAULT_PG_DATABASE,
    "SALES_WH_PG_PUBLISHED_SCHEMA": s.DEFAULT_PG_PUBLISHED_SCHEMA,
    "SALES_WH_SPARK_METHOD": s.DEFAULT_SPARK_METHOD,
    "SALES_WH_SPARK_HOST": s.DEFAULT_SPARK_HOST,
    "SALES_WH_SPARK_PORT": str(s.DEFAULT_SPARK_PORT),
}


def _readme_defaults() -> dict[str, str]:
    rows = re.findall(
        r"^\| `(SALES_WH_[A-Z_]+)` \| `([^`]*)` \|", (PROJECT_ROOT / "README.md").read_text(), re.M
    )
    return dict(rows)


def _profile_defaults() -> dict[str, str]:
    text = (PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text()
    return dict(re.findall(r"env_var\('(SALES_WH_[A-Z_]+)', '([^']*)'\)", text))


def test_settings_read_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in DEFAULTS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("SALES_WH_DATE_FORMATS", raising=False)
    got = s.Settings.from_env()
    assert got.warehouse_path == Path(DEFAULTS["SALES_WH_WAREHOUSE"]).absolute()  # from the current folder
    assert got.lake_dir == Path(DEFAULTS["SALES_WH_LAKE_DIR"]).absolute()
    assert (got.memory_limit, got.threads, got.partition_start) == (
        s.DEFAULT_MEMORY_LIMIT,
        s.DEFAULT_THREADS,
        s.DEFAULT_PARTITION_START,
    )
    assert (got.max_reject_rate, got.gx_max_rows) == (s.DEFAULT_MAX_REJECT_RATE, s.DEFAULT_GX_MAX_ROWS)


def test_readme_lists_the_defaults_of_the_settings() -> None:
    readme = _readme_defaults()
    assert {k: readme.get(k) for k in DEFAULTS} == DEFAULTS


def test_dbt_profile_falls_back_to_the_same_defaults() -> None:
    profile = _profile_defaults()
    shared = set(profile) & set(DEFAULTS)
    assert {"SALES_WH_WAREHOUSE", "SALES_WH_MEMORY_LIMIT", "SALES_WH_DBT_THREADS"} <= shared
    assert {k: profile[k] for k in shared} == {k: DEFAULTS[k] for k in shared}


def test_every_schema_named_in_python_is_built_by_dbt_or_the_loader() -> None:
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())
    built = set(re.findall(r"'\+schema': '([a-z_]+)'", repr(project)))
    assert set(WAREHOUSE_SCHEMAS) - {RAW_SCHEMA} <= built


def test_sizes_read_as_duckdb_reads_them() -> None:
    # KB and up in powers of 1000, KiB and up in powers of 1024 (DuckDB's memory_limit units)
    assert s.size_bytes("4GB") == 4_000_000_000
    assert s.size_bytes(" 4 GiB ") == 4 * 1024**3
    assert s.size_bytes("512MB") == 512_000_000
    assert s.size_bytes("1.5gb") == 1_500_000_000
    assert s.size_bytes("80%") is None
    assert s.size_bytes("lots") is None


def test_a_large_build_on_duckdb_uses_the_large_build_threads() -> None:
    # 5 M raw rows per GB of the limit: 20,000,000 rows at 4 GB, 15,000,000 at 3 GB
    assert s.LARGE_BUILD_ROWS_PER_GB == 5_000_000
    assert s.dbt_build_threads(20_000_000, "4GB", 4, 1) == 4
    assert s.dbt_build_threads(20_000_001, "4GB", 4, 1) == 1
    assert s.dbt_build_threads(15_000_001, "3GB", 4, 1) == 1
    # 4 GiB = 4,294,967,296 bytes: up to 21,474,836 rows
    assert s.dbt_build_threads(21_474_836, "4GiB", 4, 1) == 4
    assert s.dbt_build_threads(21_474_837, "4GiB", 4, 1) == 1
    # never more than SALES_WH_DBT_THREADS, never fewer than one
    assert s.dbt_build_threads(66_000_000, "4GB", 2, 3) == 2
    assert s.dbt_build_threads(66_000_000, "4GB", 4, 0) == 1
    # a limit that is not a size keeps SALES_WH_DBT_THREADS
    assert s.dbt_build_threads(66_000_000, "80%", 4, 1) == 4


def test_the_raw_row_count_reads_every_raw_table(tmp_path: Path) -> None:
    import duckdb

    from orchestration.defs.dbt_assets import raw_row_count

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema raw; create schema core")
        con.execute("create table raw.a as select range as i from range(1200)")
        con.execute("create table raw.b as select range as i from range(34)")
        con.execute("create table core.c as select range as i from range(5000)")  # not raw
        assert raw_row_count(con) == 1234
