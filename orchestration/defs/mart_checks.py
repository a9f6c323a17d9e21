"""Blocking checks on the KPI marts, after dbt's own tests: Great Expectations on pandas frames of each
mart (GX's SQL datasource does not work on DuckDB), and SQL reconciliations of mart totals with the facts.

Expectations per mart, from column names (the marts follow the naming of docs/ARCHITECTURE.md):
- rates and shares (``*_rate*``, ``*_share``, ``*_conversion*``, ``pct_*``) lie in [0, 1];
- attainment and counts (``*attainment*``, ``*_count``) are >= 0;
- marts computed from the core objects alone (User, Account, Opportunity) are not empty.
All checks are one ``@multi_asset_check`` step (one GX context, one read-only connection) with one
check per mart, so the UI shows them on their mart, and any failure blocks the publish asset.
"""

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import dagster as dg
import duckdb
import pandas as pd

from orchestration.defs.resources import WarehouseResource, retry_on_warehouse_lock

MART_SCHEMA = "marts"
CORE_SCHEMA = "core"
EXPECTATIONS_CHECK = "gx_expectations"
RECONCILE_CHECK = "reconciles_with_facts"

#: KPI marts that need only the core objects: an empty one means the pipeline lost data.
CORE_KPI_MARTS = frozenset({"kpi_bookings", "kpi_win_rate", "kpi_deal_size"})

_RATE_COLUMN = re.compile(r"(^|_)(rate|share|conversion|pct)(_|$)")
_NON_NEGATIVE_COLUMN = re.compile(r"attainment|_count$")
# A currency conversion rate is units per corporate unit, not a fraction.
_NOT_A_RATE = re.compile(r"^conversion_rate$")


@dataclass(frozen=True)
class Reconciliation:
    """A mart total that must equal the same total computed from the facts."""

    name: str
    mart_sql: str
    fact_sql: str


RECONCILIATIONS: dict[str, tuple[Reconciliation, ...]] = {
    "kpi_bookings": (
        Reconciliation(
            "bookings amount",
            "select round(coalesce(sum(bookings_amount_corporate), 0), 2) from marts.kpi_bookings",
            "select round(coalesce(sum(amount_corporate), 0), 2) from core.fct_opportunities where is_won",
        ),
        Reconciliation(
            "won deals",
            "select coalesce(sum(won_deal_count), 0) from marts.kpi_bookings",
            "select count(*) from core.fct_opportunities where is_won",
        ),
    ),
    "kpi_quota_attainment": (
        Reconciliation(
            "bookings amount",
            "select round(coalesce(sum(bookings_amount_corporate), 0), 2) from marts.kpi_quota_attainment",
            "select round(coalesce(sum(amount_corporate), 0), 2) from core.fct_opportunities where is_won",
        ),
    ),
    "kpi_win_rate": (
        Reconciliation(
            "closed deals",
            "select coalesce(sum(closed_count), 0) from marts.kpi_win_rate",
            "select count(*) from core.fct_opportunities where is_closed",
        ),
        Reconciliation(
            "won deals",
            "select coalesce(sum(won_count), 0) from marts.kpi_win_rate",
            "select count(*) from core.fct_opportunities where is_closed and coalesce(is_won, false)",
        ),
    ),
}


def md_table(rows: Sequence[dict[str, object]]) -> str:
    """A small markdown table for check metadata (a handful of rows, never data rows)."""
    if not rows:
        return "none"
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]).replace("|", "/") for h in header) + " |" for r in rows]
    return "\n".join(lines)


def _expectations(mart: str, frame: pd.DataFrame) -> list[object]:
    import great_expectations.expectations as gxe

    expectations: list[object] = []
    for column in frame.columns:
        if _RATE_COLUMN.search(column) and not _NOT_A_RATE.search(column):
            expectations.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1))
        elif _NON_NEGATIVE_COLUMN.search(column):
            expectations.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    if mart in CORE_KPI_MARTS:
        expectations.append(gxe.ExpectTableRowCountToBeBetween(min_value=1))
    return expectations


def _gx_context() -> object:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_mart_frame(gx_context: object, key: dg.AssetKey, frame: pd.DataFrame) -> dg.AssetCheckResult:
    """Run the mart's expectations on its frame; the result lists each expectation and its outcome."""
    import great_expectations as gx

    mart = key.path[-1]
    source = gx_context.data_sources.add_or_update_pandas(f"mart_{mart}")  # type: ignore[attr-defined]
    batch = (
        source.add_dataframe_asset(mart)
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=f"{mart}_suite", expectations=_expectations(mart, frame))
    outcome = batch.validate(suite)
    rows = [
        {
            "expectation": r.expectation_config.type,
            "column": r.expectation_config.kwargs.get("column", ""),
            "success": bool(r.success),
            "unexpected_count": r.result.get("unexpected_count", r.result.get("observed_value")),
            "sample": str(r.result.get("partial_unexpected_list", ""))[:120],
        }
        for r in outcome.results
    ]
    failed = [r for r in rows if not r["success"]]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=EXPECTATIONS_CHECK,
        passed=bool(outcome.success),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows": len(frame),
            "expectations": len(rows),
            "failed": len(failed),
            "results": dg.MetadataValue.md(md_table(rows)),
        },
        description="; ".join(f"{r['expectation']}({r['column']}): {r['sample']}" for r in failed) or None,
    )


def reconcile(con: duckdb.DuckDBPyConnection, key: dg.AssetKey) -> dg.AssetCheckResult:
    """Compare each of the mart's reconciliation totals with the facts (exact, after rounding to cents)."""
    mart = key.path[-1]
    rows = []
    for rec in RECONCILIATIONS[mart]:
        mart_total = con.execute(rec.mart_sql).fetchone()[0]
        fact_total = con.execute(rec.fact_sql).fetchone()[0]
        rows.append(
            {"total": rec.name, "mart": mart_total, "facts": fact_total, "ok": mart_total == fact_total}
        )
    failed = [r for r in rows if not r["ok"]]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=RECONCILE_CHECK,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"totals": dg.MetadataValue.md(md_table(rows))},
        description="; ".join(f"{r['total']}: mart {r['mart']} != facts {r['facts']}" for r in failed)
        or None,
    )


def _specs(mart_keys: Sequence[dg.AssetKey]) -> Iterable[dg.AssetCheckSpec]:
    for key in mart_keys:
        mart = key.path[-1]
        yield dg.AssetCheckSpec(
            EXPECTATIONS_CHECK,
            asset=key,
            blocking=True,
            description="Great Expectations: rates in [0, 1], attainment >= 0, core KPIs not empty.",
        )
        if mart in RECONCILIATIONS:
            yield dg.AssetCheckSpec(
                RECONCILE_CHECK,
                asset=key,
                blocking=True,
                description="Mart totals equal the same totals computed from core.fct_opportunities.",
            )


def build_mart_checks(mart_keys: Sequence[dg.AssetKey]) -> list[dg.AssetChecksDefinition]:
    """One check step over all KPI marts (``mart_keys``: dbt assets of schema ``marts``)."""
    if not mart_keys:
        return []

    @dg.multi_asset_check(specs=list(_specs(mart_keys)), name="kpi_mart_checks", can_subset=True)
    def kpi_mart_checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {(k.asset_key, k.name) for k in context.selected_asset_check_keys}
        gx_context = _gx_context()
        with (
            retry_on_warehouse_lock(context.op_execution_context),
            warehouse.connect(read_only=True) as con,
        ):
            for key in mart_keys:
                mart = key.path[-1]
                if (key, EXPECTATIONS_CHECK) in selected:
                    frame = con.execute(f"select * from {MART_SCHEMA}.{mart}").df()
                    result = validate_mart_frame(gx_context, key, frame)
                    context.log.info(f"{mart}: {len(frame)} rows, expectations passed={result.passed}")
                    yield result
                if (key, RECONCILE_CHECK) in selected:
                    yield reconcile(con, key)

    return [kpi_mart_checks]
