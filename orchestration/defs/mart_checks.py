"""Blocking checks on the KPI marts that no dbt test makes: each guards a rule once (docs/CHECKS.md).

dbt already tests the marts, and those tests surface as Dagster asset checks: ranges of rates and
ratios (``kpi_accepted_range``, error or warn as the policy says), identities, and the reconciliations
of mart totals with the facts (``dbt_project/tests/kpi/*reconcile*``). What is left here:

- ``not_empty``: a KPI computed from the core objects alone (User, Account, Opportunity) has rows; an
  empty one means the pipeline lost data, yet reconciles (nothing = nothing) and passes every dbt test;
- ``counts_non_negative``: every ``*_count`` column of a mart is >= 0, found by name so that a new mart
  or count is covered without a test per column (a count below zero is a model bug).

Both are aggregates, so they run as SQL on a read-only connection to the run's engine (DuckDB or
PostgreSQL: :class:`~orchestration.engines.MartReader`), in one ``@multi_asset_check`` step with one
check per mart, and any failure blocks the publish asset.
"""

from collections.abc import Iterator, Sequence

import dagster as dg

from orchestration.defs.resources import WarehouseResource, retry_on_warehouse_lock
from orchestration.engines import MartReader
from orchestration.faults import fault_point
from orchestration.sql import q
from orchestration.warehouse import MARTS_SCHEMA

NOT_EMPTY_CHECK = "not_empty"
COUNTS_CHECK = "counts_non_negative"

#: KPI marts that need only the core objects: an empty one means the pipeline lost data.
CORE_KPI_MARTS = frozenset({"kpi_bookings", "kpi_win_rate", "kpi_deal_size"})


def count_columns(con: MartReader, mart: str) -> list[str]:
    """The ``*_count`` columns of ``marts.<mart>``, in table order."""
    return [c for c in con.columns(MARTS_SCHEMA, mart) if c.endswith("_count")]


def check_not_empty(con: MartReader, key: dg.AssetKey) -> dg.AssetCheckResult:
    mart = key.path[-1]
    rows = con.one(f"SELECT count(*) FROM {MARTS_SCHEMA}.{q(mart)}")[0]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=NOT_EMPTY_CHECK,
        passed=rows > 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows": rows},
        description=None if rows else f"{mart} is empty: the core objects it is computed from lost data",
    )


def check_counts_non_negative(con: MartReader, key: dg.AssetKey) -> dg.AssetCheckResult:
    mart = key.path[-1]
    columns = count_columns(con, mart)
    negative: dict[str, int] = {}
    if columns:
        select = ", ".join(f"count(*) FILTER (WHERE {q(c)} < 0)" for c in columns)
        values = con.one(f"SELECT {select} FROM {MARTS_SCHEMA}.{q(mart)}")
        negative = {c: n for c, n in zip(columns, values, strict=True) if n}
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=COUNTS_CHECK,
        passed=not negative,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "columns": dg.MetadataValue.json(columns),
            "rows_below_zero": dg.MetadataValue.json(negative),
        },
        description="; ".join(f"{c}: {n} rows below 0" for c, n in negative.items()) or None,
    )


def _specs(mart_keys: Sequence[dg.AssetKey]) -> Iterator[dg.AssetCheckSpec]:
    for key in mart_keys:
        yield dg.AssetCheckSpec(
            COUNTS_CHECK, asset=key, blocking=True, description="Every *_count column is >= 0."
        )
        if key.path[-1] in CORE_KPI_MARTS:
            yield dg.AssetCheckSpec(
                NOT_EMPTY_CHECK,
                asset=key,
                blocking=True,
                description="Computed from the core objects alone: empty means the pipeline lost data.",
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
        with (
            retry_on_warehouse_lock(context.op_execution_context),
            warehouse.marts_reader() as con,
        ):
            for key in mart_keys:
                if (key, COUNTS_CHECK) in selected:
                    yield check_counts_non_negative(con, key)
                    fault_point("mart_checks")  # reliability suite
                if (key, NOT_EMPTY_CHECK) in selected:
                    yield check_not_empty(con, key)

    return [kpi_mart_checks]
