"""The published file is BI-ready: every column has a portable type, and every published dbt model has an
enforced contract (its YAML names each column's type, so a change of type fails the build, not a BI tool).

Allowed types, each spelled alike (or with a standard alias) on DuckDB, PostgreSQL and Spark, and read by
every BI driver: BIGINT (counts), INTEGER (ordinals and calendar numbers: stage order, month, fiscal
year), DECIMAL(18,2) (money: exact cents), DOUBLE (ratios, shares, indices, minutes and days), DATE,
TIMESTAMP (naive, UTC by convention: docs STYLE "_at timestamps in UTC"), VARCHAR, BOOLEAN. Not allowed:
HUGEINT, UBIGINT and other DuckDB-only types (what sum() of integers gives on DuckDB), DECIMAL with
another precision, TIMESTAMP WITH TIME ZONE (BI tools shift it to the viewer's zone), LIST/STRUCT/MAP.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.publishing.publish import PublishRequest, publish, tables_to_publish

pytestmark = pytest.mark.e2e

PORTABLE_TYPES = {"BIGINT", "INTEGER", "DECIMAL(18,2)", "DOUBLE", "DATE", "TIMESTAMP", "VARCHAR", "BOOLEAN"}

# One column of each kind: (schema, table, column) -> the type the contract gives it.
EXPECTED = {
    ("marts", "kpi_win_rate", "won_count"): "BIGINT",  # a sum() of flags: HUGEINT on DuckDB before the cast
    ("marts", "kpi_bookings", "won_deal_count"): "BIGINT",
    ("marts", "kpi_sales_velocity", "won_cycle_days_sum"): "BIGINT",
    ("marts", "kpi_bookings", "bookings_amount_corporate"): "DECIMAL(18,2)",
    ("marts", "kpi_deal_size", "avg_deal_size_corporate"): "DECIMAL(18,2)",
    ("marts", "kpi_deal_size", "median_deal_size_corporate"): "DECIMAL(18,2)",
    ("marts", "kpi_territory_balance", "quota_per_rep_corporate"): "DECIMAL(18,2)",
    ("core", "fct_opportunities", "amount_corporate"): "DECIMAL(18,2)",
    ("core", "fct_quotas", "quota_amount"): "DECIMAL(18,2)",
    ("marts", "kpi_win_rate", "win_rate_by_count"): "DOUBLE",
    ("marts", "kpi_quota_attainment", "quota_attainment"): "DOUBLE",
    ("marts", "kpi_bookings", "close_month"): "DATE",
    ("core", "dim_dates", "date_day"): "DATE",
    ("core", "fct_opportunities", "created_at"): "TIMESTAMP",
    # the daily pipeline history and its waterfall (issue 12)
    ("core", "fct_pipeline_daily", "as_of_date"): "DATE",
    ("core", "fct_pipeline_daily", "amount_corporate"): "DECIMAL(18,2)",
    ("core", "fct_pipeline_daily", "probability"): "DOUBLE",
    ("core", "fct_pipeline_daily", "stage_order"): "INTEGER",
    ("marts", "kpi_pipeline_changes", "opening_count"): "BIGINT",
    ("marts", "kpi_pipeline_changes", "currency_change_amount_corporate"): "DECIMAL(18,2)",
}


@pytest.fixture(scope="module")
def published(demo_warehouse: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo warehouse (tests/conftest.py, built once per session) published as the pipeline does."""
    _, warehouse = demo_warehouse
    workdir = tmp_path_factory.mktemp("published_types")
    copy = workdir / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    con = duckdb.connect(str(copy), read_only=True)
    try:
        tables = tables_to_publish(con)
    finally:
        con.close()
    target = workdir / "published.duckdb"
    publish(copy, target, PublishRequest("types", tables))
    return target


def column_types(published: Path) -> dict[tuple[str, str, str], str]:
    con = duckdb.connect(str(published), read_only=True)
    try:
        rows = con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns"
        ).fetchall()
    finally:
        con.close()
    return {(schema, table, column): data_type for schema, table, column, data_type in rows}


def test_every_published_column_has_a_portable_type(published: Path) -> None:
    types = column_types(published)
    assert {"kpi_bookings", "fct_opportunities", "dim_reps", "dq_findings"} <= {t for _, t, _ in types}
    assert {"fct_pipeline_daily", "kpi_pipeline_changes"} <= {t for _, t, _ in types}
    odd = {f"{s}.{t}.{c}": ty for (s, t, c), ty in types.items() if ty not in PORTABLE_TYPES}
    assert not odd, f"columns with a type outside {sorted(PORTABLE_TYPES)}: {odd}"


def test_counts_money_ratios_and_dates_have_their_types(published: Path) -> None:
    types = column_types(published)
    assert {key: types.get(key) for key in EXPECTED} == EXPECTED
    # every amount is money: the corporate ones end in _corporate, the original ones are named here
    names = {"amount", "quota_amount", "annual_revenue"}
    money = {f"{s}.{t}.{c}": ty for (s, t, c), ty in types.items() if c.endswith("_corporate") or c in names}
    assert money and set(money.values()) == {"DECIMAL(18,2)"}, money
    counts = {
        f"{s}.{t}.{c}": ty
        for (s, t, c), ty in types.items()
        if c.endswith("_count") and not c.startswith("win_rate_") and s != "main"
    }
    assert counts and set(counts.values()) == {"BIGINT"}, counts


def test_kpi_sums_of_cents_are_exact(published: Path) -> None:
    """Corporate amounts are rounded to the cent per record (docs/KPI_DEFINITIONS.md "Types and money
    rounding"), so a mart's sum equals the sum of the published facts to the cent, with no tolerance."""
    con = duckdb.connect(str(published), read_only=True)
    try:
        facts, bookings = con.execute(
            """
            select
                (select sum(amount_corporate) from core.fct_opportunities where is_won),
                (select sum(bookings_amount_corporate) from marts.kpi_bookings)
            """
        ).fetchone()
    finally:
        con.close()
    assert isinstance(bookings, Decimal) and bookings > 0
    assert bookings == facts


def test_every_published_model_has_an_enforced_contract(
    demo_warehouse: tuple[Path, Path], published: Path
) -> None:
    """A model added to the published schemas without a contract (or a column without data_type) fails."""
    _, warehouse = demo_warehouse
    manifest = json.loads((warehouse.parent / "target" / "manifest.json").read_text())
    models = {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    published_dbt_tables = {table for schema, table, _ in column_types(published) if schema != "main"}
    marts_folder = {name for name, n in models.items() if n["original_file_path"].startswith("models/marts/")}
    assert published_dbt_tables <= set(models), published_dbt_tables - set(models)
    for name in sorted(published_dbt_tables | marts_folder):
        node = models[name]
        assert node["config"]["contract"]["enforced"] is True, f"{name}: contract not enforced"
        untyped = [column for column, spec in node["columns"].items() if not spec.get("data_type")]
        assert not untyped, f"{name}: columns without data_type: {untyped}"
