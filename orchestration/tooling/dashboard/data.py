"""Everything the dashboard shows, read from the PUBLISHED file in one short read-only session.

Every figure comes from a KPI mart (``marts.kpi_*``), the data-quality tables (``core.dq_*``: findings,
unmapped values, the loader's batches and rejects) or the publish history (``main.run_history``,
``main.check_results``). Roll-ups re-aggregate a mart's additive columns the way
docs/KPI_DEFINITIONS.md prescribes (a rate = sum(numerator) / sum(denominator) over the rows; medians
only at their own grain); nothing is recomputed from the facts. The connection is opened read-only and
closed before any chart is drawn: a publish replaces the file by atomic rename, and a reader must not
hold the old snapshot longer than it needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

#: SQL of a date's quarter (its first day), and of its label ``2025 Q3``.
_QUARTER_SQL = "date_trunc('quarter', {col})"
_QLABEL = "strftime({col}, '%Y') || ' Q' || quarter({col})"
#: A rep's name, with the rep id when another rep has the same name.
_REP = (
    "coalesce({name}, {id}) || case when min({id}) over (partition by {name}) "
    "<> max({id}) over (partition by {name}) then ' (' || {id} || ')' else '' end"
)
_REP_ROW = _REP.format(name="rep_name", id="rep_id")

#: name -> (table the query reads, SQL). Parameters: ``$as_of`` (the reporting date), ``$q0`` (its
#: quarter's first day), ``$q1`` (the previous quarter's first day).
QUERIES: dict[str, tuple[str, str]] = {
    # --- headline tiles ---------------------------------------------------------------------------
    "tile_bookings": (
        "marts.kpi_bookings",
        "select close_quarter, sum(bookings_amount_corporate)::double as bookings, "
        "sum(won_deal_count)::bigint as won_deals from marts.kpi_bookings "
        "where close_quarter in ($q0, $q1) group by 1",
    ),
    "tile_win_rate": (
        "marts.kpi_win_rate",
        "select close_quarter, sum(won_count)::bigint as won, sum(closed_count)::bigint as closed, "
        "sum(won_count) / nullif(sum(closed_count), 0) as win_rate from marts.kpi_win_rate "
        "where close_quarter in ($q0, $q1) group by 1",
    ),
    # The latest quota period started by the reporting date (to date), and the one before it.
    "tile_at_quota": (
        "marts.kpi_quota_attainment",
        "select period_start, sum(is_at_quota_count)::bigint as at_quota, "
        "sum(has_quota_count)::bigint as with_quota, "
        "sum(is_at_quota_count) / nullif(sum(has_quota_count), 0) as share "
        "from marts.kpi_quota_attainment where period_start <= $as_of group by 1 "
        "having sum(has_quota_count) > 0 order by 1 desc limit 2",
    ),
    "tile_selling_share": (
        "marts.kpi_rep_activity",
        f"select {_QUARTER_SQL.format(col='week_start')} as quarter_start, "
        "sum(selling_minutes) / nullif(sum(duration_minutes), 0) as share from marts.kpi_rep_activity "
        f"where {_QUARTER_SQL.format(col='week_start')} in ($q0, $q1) group by 1",
    ),
    "tile_coverage": (
        "marts.kpi_pipeline_coverage",
        "select period_offset, min(period_label) as period_label, min(period_start) as period_start, "
        "sum(open_pipeline_amount_corporate)::double as open_pipeline, "
        "sum(remaining_quota_amount_corporate)::double as remaining_quota, "
        "sum(open_pipeline_amount_corporate) / nullif(sum(remaining_quota_amount_corporate), 0) "
        "as coverage from marts.kpi_pipeline_coverage group by 1 order by 1",
    ),
    # --- charts -----------------------------------------------------------------------------------
    "bookings_month": (
        "marts.kpi_bookings",
        "select close_month, coalesce(segment, '(none)') as segment, "
        "sum(bookings_amount_corporate)::double as bookings, sum(won_deal_count)::bigint as won_deals "
        "from marts.kpi_bookings where close_month is not null group by 1, 2 order by 1, 2",
    ),
    "bookings_quarter": (
        "marts.kpi_bookings",
        f"select {_QLABEL.format(col='close_quarter')} as quarter, coalesce(segment, '(none)') as segment, "
        "sum(bookings_amount_corporate)::double as bookings, sum(won_deal_count)::bigint as won_deals "
        "from marts.kpi_bookings where close_quarter is not null group by close_quarter, 2 order by 1, 2",
    ),
    "win_rate_month": (
        "marts.kpi_win_rate",
        "select close_month, sum(won_count)::bigint as won, sum(closed_count)::bigint as closed, "
        "sum(won_count) / nullif(sum(closed_count), 0) as win_rate_by_count, "
        "sum(won_amount_corporate) / nullif(sum(closed_amount_corporate), 0) as win_rate_by_amount "
        "from marts.kpi_win_rate where close_month is not null group by 1 order by 1",
    ),
    "quota_attainment": (
        "marts.kpi_quota_attainment",
        f"select {_QLABEL.format(col='period_start')} as period, period_start, "
        f"{_REP_ROW} as rep_name, quota_attainment, "
        "bookings_amount_corporate::double as bookings, quota_amount_corporate::double as quota "
        "from marts.kpi_quota_attainment where has_quota_count = 1 and quota_attainment is not null "
        "order by period_start, rep_name",
    ),
    "deal_size": (
        "marts.kpi_deal_size_quarterly",
        f"select {_QLABEL.format(col='close_quarter')} as quarter, coalesce(segment, '(none)') as segment, "
        "won_deal_count, avg_deal_size_corporate as mean, median_deal_size_corporate as median "
        "from marts.kpi_deal_size_quarterly where close_quarter is not null order by close_quarter, 2",
    ),
    # Totals of each count family (cohort counts by creation month, MQL counts by MQL month).
    "lead_funnel": (
        "marts.kpi_lead_funnel",
        "select sum(leads_created_count)::bigint as created, sum(leads_reached_mql_count)::bigint as mql, "
        "sum(mql_reached_sql_count)::bigint as sql, sum(leads_converted_count)::bigint as converted "
        "from marts.kpi_lead_funnel having count(*) > 0",
    ),
    "lead_rates_month": (
        "marts.kpi_lead_funnel",
        "select month_start, sum(mql_reached_sql_count) / nullif(sum(leads_reached_mql_count), 0) "
        "as mql_to_sql_rate, sum(leads_converted_count) / nullif(sum(leads_created_count), 0) "
        "as lead_conversion_rate, sum(leads_reached_mql_count)::bigint as reached_mql "
        "from marts.kpi_lead_funnel group by 1 order by 1",
    ),
    # reached and moved_on sum over cohorts only; lost, open, won over stages and cohorts.
    "pipeline_funnel": (
        "marts.kpi_pipeline_funnel",
        "select stage_order, stage_name, bool_or(is_won_stage) as is_won_stage, "
        "sum(reached_count)::bigint as reached, sum(moved_on_count)::bigint as moved_on, "
        "sum(lost_count)::bigint as lost, sum(open_count)::bigint as open, sum(won_count)::bigint as won, "
        "sum(lost_count) / nullif(sum(reached_count), 0) as stage_loss_rate "
        "from marts.kpi_pipeline_funnel group by 1, 2 order by 1, 2",
    ),
    "stage_days": (
        "marts.kpi_stage_bottlenecks",
        f"select stage_order, stage_name, {_QLABEL.format(col='quarter_start')} as quarter, "
        "median_days_in_stage, avg_days_in_stage, p90_days_in_stage, completed_stay_count, "
        "is_longest_dwell_stage from marts.kpi_stage_bottlenecks "
        "where median_days_in_stage is not null order by quarter_start, stage_order",
    ),
    "coverage": (
        "marts.kpi_pipeline_coverage",
        f"select {_REP_ROW} as rep_name, period_offset, "
        "period_label || ' (from ' || period_start || ')' as period, pipeline_coverage_ratio, "
        "open_pipeline_amount_corporate::double as open_pipeline, "
        "remaining_quota_amount_corporate::double as remaining_quota "
        "from marts.kpi_pipeline_coverage order by period_offset, rep_name",
    ),
    "velocity": (
        "marts.kpi_sales_velocity",
        f"select {_REP_ROW} as rep_name, coalesce(segment, '(none)') as segment, "
        "sales_velocity_corporate_per_day as velocity, open_opportunity_count::bigint as open_deals, "
        "win_rate, avg_deal_size_corporate as avg_deal_size, avg_sales_cycle_days "
        "from marts.kpi_sales_velocity order by rep_name, segment",
    ),
    "activity_hours": (
        "marts.kpi_rep_activity",
        "select date_trunc('month', week_start) as month, category, sum(duration_minutes) / 60.0 as hours, "
        "sum(activity_count)::bigint as activities from marts.kpi_rep_activity group by 1, 2 order by 1, 2",
    ),
    "selling_share_rep": (
        "marts.kpi_rep_activity",
        f"select {_REP.format(name='max(rep_name)', id='rep_id')} as rep_name, "
        "sum(selling_minutes) / nullif(sum(duration_minutes), 0) as selling_share, "
        "sum(duration_minutes) / 60.0 as hours from marts.kpi_rep_activity group by rep_id "
        "having sum(duration_minutes) > 0 order by selling_share",
    ),
    "effectiveness": (
        "marts.kpi_activity_effectiveness",
        "select touch_bucket, touch_bucket_order, won_opportunity_count::bigint as won, "
        "lost_opportunity_count::bigint as lost, win_rate "
        "from marts.kpi_activity_effectiveness order by touch_bucket_order",
    ),
    # Touches of a category per won (lost) deal: that category's touches / all won (lost) deals.
    "touches_per_deal": (
        "marts.kpi_activity_effectiveness_by_category",
        "with deals as (select sum(won_opportunity_count) as won, sum(lost_opportunity_count) as lost "
        "from marts.kpi_activity_effectiveness) "
        "select category, outcome, sum(touch_count)::bigint as touches, sum(touch_count) * 1.0 / "
        "nullif(max(case when outcome = 'won' then deals.won else deals.lost end), 0) as per_deal "
        "from marts.kpi_activity_effectiveness_by_category cross join deals "
        "group by 1, 2 order by 1, 2",
    ),
    # The quarter of the reporting date (else the latest quarter in the mart before it).
    "territory": (
        "marts.kpi_territory_balance",
        f"select territory_name, {_QLABEL.format(col='quarter_start')} as quarter, rep_count, "
        "accounts_per_rep_index, open_pipeline_per_rep_index, bookings_per_rep_index, "
        "quota_per_rep_index, is_accounts_out_of_band, is_open_pipeline_out_of_band, "
        "is_bookings_out_of_band, is_quota_out_of_band, is_out_of_band "
        "from marts.kpi_territory_balance where quarter_start = (select max(quarter_start) "
        "from marts.kpi_territory_balance where quarter_start <= coalesce($as_of, quarter_start)) "
        "order by territory_name",
    ),
    # The latest quarter forecast: the company forecast (the sum over segments) per week and method.
    "forecast_quarter": (
        "marts.kpi_forecast",
        f"select {_QLABEL.format(col='fiscal_quarter_start')} as quarter, week_of_quarter, as_of_date, "
        "method, sum(forecast_amount_corporate)::double as forecast, "
        "sum(won_to_date_amount_corporate)::double as won_to_date from marts.kpi_forecast "
        "where fiscal_quarter_start = (select max(fiscal_quarter_start) from marts.kpi_forecast) "
        "group by fiscal_quarter_start, 2, 3, 4 order by 2, 4",
    ),
    # The backtested MAPE per method and week of quarter (the forecast chart's error band).
    "forecast_error": (
        "marts.kpi_forecast_accuracy_summary",
        "select method, week_of_quarter, mean_absolute_percentage_error as mape, quarter_count "
        "from marts.kpi_forecast_accuracy_summary order by 1, 2",
    ),
    # The pipeline waterfall of the latest quarter to date (company totals; transfers between reps cancel).
    "pipeline_waterfall": (
        "marts.kpi_pipeline_changes",
        f"select {_QLABEL.format(col='period_start')} as quarter, closing_as_of_date, "
        "sum(opening_amount_corporate)::double as opening, "
        "sum(new_amount_corporate)::double as new, "
        "sum(pulled_in_amount_corporate)::double as pulled_in, "
        "sum(reopened_amount_corporate)::double as reopened, "
        "sum(restored_amount_corporate)::double as restored, "
        "sum(increased_amount_corporate)::double as increased, "
        "sum(decreased_amount_corporate)::double as decreased, "
        "sum(currency_change_amount_corporate)::double as currency_change, "
        "sum(pushed_out_amount_corporate)::double as pushed_out, "
        "sum(won_amount_corporate)::double as won, "
        "sum(lost_amount_corporate)::double as lost, "
        "sum(deleted_amount_corporate)::double as deleted, "
        "sum(closing_amount_corporate)::double as closing "
        "from marts.kpi_pipeline_changes where period_grain = 'quarter_to_date' and period_start = "
        "(select max(period_start) from marts.kpi_pipeline_changes where period_grain = 'quarter_to_date') "
        "group by period_start, closing_as_of_date",
    ),
    # --- data quality -----------------------------------------------------------------------------
    "dq_findings": (
        "core.dq_findings",
        "select check_name, object, row_count, severity, treatment from core.dq_findings "
        "where row_count > 0 order by row_count desc, check_name",
    ),
    "dq_unmapped": (
        "core.dq_unmapped_values",
        "select object, field, value, row_count, suggested_seed_line from core.dq_unmapped_values "
        "order by row_count desc, object, field, value",
    ),
    # Every source row is loaded or rejected: the loader's audit, summed per object.
    "dq_load_objects": (
        "core.dq_load_batches",
        "select object, count(*)::bigint as batches, sum(source_row_count)::bigint as source_rows, "
        "sum(loaded_row_count)::bigint as loaded_rows, sum(rejected_row_count)::bigint as rejected_rows "
        "from core.dq_load_batches group by 1 order by 1",
    ),
    # The most frequent reject reasons with their first example (by extract date, file and line), the
    # rejects of refused loads (whose batch was not loaded) apart. A reject is a cell: a row may have two.
    "dq_reject_reasons": (
        "core.dq_load_rejects",
        "with ranked as (select *, row_number() over (partition by object, reason, is_committed "
        "order by extract_date, example_source_file, example_source_line) as n from core.dq_load_rejects) "
        "select object, reason, is_committed, sum(reject_count)::bigint as rejects, "
        "max(case when n = 1 then coalesce(example_source_file, '?') "
        "|| coalesce(':' || example_source_line::varchar, '') || coalesce(' ' || column_name, '') "
        "|| coalesce(' = ' || left(example_value, 60), '') end) "
        "as example from ranked group by 1, 2, 3 order by rejects desc, 1, 2 limit 8",
    ),
    "failed_checks": (
        "main.check_results",
        "select asset_key, check_name, severity, description from main.check_results "
        "where not passed and run_id = (select run_id from main.run_history "
        "order by published_at desc limit 1) order by severity, asset_key, check_name",
    ),
}


#: Where the reporting date comes from, in order (the last one: its latest close month).
AS_OF_TABLES = ("marts.kpi_pipeline_coverage", "marts.kpi_sales_velocity", "marts.kpi_bookings")
#: The publish history (written by the publish step, not a dbt model): the header's latest publish.
RUN_HISTORY_TABLE = "main.run_history"


def tables_read() -> set[str]:
    """Every table the dashboard reads (``schema.table``). dbt's exposure ``kpi_dashboard``
    (models/exposures.yml) lists the dbt models among them: tests/test_docs.py holds the two equal."""
    return {table for table, _ in QUERIES.values()} | set(AS_OF_TABLES) | {RUN_HISTORY_TABLE}


@dataclass(frozen=True)
class PublishInfo:
    run_id: str
    published_at: datetime
    partition_range: str
    checks_passed: int
    checks_failed: int
    objects_not_found: list[str]
    publishes: int  # rows of main.run_history: publishes this file's history holds


@dataclass
class DashboardData:
    published_path: Path
    as_of: date | None
    as_of_source: str
    publish: PublishInfo | None
    #: Query name -> rows, or None when the table it reads is not in the published file.
    frames: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    #: Table -> row count, for every table the queries read that the published file holds.
    table_rows: dict[str, int] = field(default_factory=dict)

    def quarters(self) -> tuple[date | None, date | None]:
        """First day of the reporting date's quarter and of the quarter before."""
        if self.as_of is None:
            return None, None
        q0 = date(self.as_of.year, 3 * ((self.as_of.month - 1) // 3) + 1, 1)
        q1 = date(q0.year - 1, 10, 1) if q0.month == 1 else date(q0.year, q0.month - 3, 1)
        return q0, q1


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        f"{s}.{t}" for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()
    }


def _as_of(con: duckdb.DuckDBPyConnection, tables: set[str]) -> tuple[date | None, str]:
    """The marts' reporting date (dbt var ``as_of_date``, or the latest date in the data)."""
    *with_as_of, bookings = AS_OF_TABLES
    for table in with_as_of:
        if table in tables:
            row = con.execute(f"select max(as_of_date) from {table}").fetchone()
            if row and row[0] is not None:
                return row[0], f"as_of_date of {table}"
    if bookings in tables:
        row = con.execute(f"select max(close_month) from {bookings}").fetchone()
        if row and row[0] is not None:
            return row[0], f"latest close month of {bookings}"
    return None, "no KPI mart carries a reporting date"


def _publish_info(con: duckdb.DuckDBPyConnection, tables: set[str]) -> PublishInfo | None:
    if RUN_HISTORY_TABLE not in tables:
        return None
    row = con.execute(
        "select run_id, published_at, partition_range, checks_passed, checks_failed, objects_not_found, "
        f"(select count(*) from {RUN_HISTORY_TABLE}) from {RUN_HISTORY_TABLE} "
        "order by published_at desc limit 1"
    ).fetchone()
    if row is None:
        return None
    try:
        missing = [str(o) for o in json.loads(row[5] or "[]")]
    except ValueError:
        missing = [row[5]]
    return PublishInfo(row[0], row[1], row[2] or "", row[3] or 0, row[4] or 0, missing, int(row[6]))


def read_published(path: Path) -> DashboardData:
    """Run every query on the published file (read-only) and close it before returning."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no published warehouse at {path}: run the pipeline first (make run)")
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = _tables(con)
        as_of, source = _as_of(con, tables)
        data = DashboardData(Path(path), as_of, source, _publish_info(con, tables))
        q0, q1 = data.quarters()
        params: dict[str, Any] = {"as_of": as_of, "q0": q0, "q1": q1}
        for name, (table, sql) in QUERIES.items():
            if table not in tables:
                data.frames[name] = None
                continue
            if table not in data.table_rows:
                (data.table_rows[table],) = con.execute(f"select count(*) from {table}").fetchone() or (0,)
            used = {k: v for k, v in params.items() if f"${k}" in sql}
            data.frames[name] = con.execute(sql, used).df()
        return data
    finally:
        con.close()
