"""The KPI dashboard (orchestration/tooling/dashboard): what it reads, what it says, and that it draws.

Content checks run on small hand-made published files with the marts' schema (every figure known in
advance). The browser checks open the HTML file in Debian's headless Chromium through Playwright, with
the network off: no console error, every chart drawn (Plotly's SVG with marks of data), a screenshot in
the test's tmp folder. The end-to-end test runs ``sales-wh run`` on demo extracts and checks that the
publish wrote the dashboard and that it draws on real marts (the hand-made schema cannot drift from them).

Without Chromium (``apt-get install chromium``) or Playwright the browser tests skip, except in CI
(``CI=true``), where they fail: ``.ci/run`` installs Chromium.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.tooling.dashboard import write_after_publish, write_dashboard
from orchestration.tooling.dashboard.charts import BUILDERS
from orchestration.tooling.dashboard.data import read_published
from orchestration.tooling.dashboard.page import tiles
from tests.conftest import DemoLanding, PipelineEnv

# --- a hand-made published file ------------------------------------------------------------------------

_D = "date"
_N = "decimal(18,2)"  # money, as the contracts publish it
#: table -> (columns with types, rows). The columns are those the published marts have (a subset where
#: the dashboard reads none of the rest). As of 2025-06-30: this quarter Q2, last quarter Q1.
# fmt: off
TABLES: dict[str, tuple[str, list[tuple[Any, ...]]]] = {
    "marts.kpi_bookings": (
        f"close_month {_D}, close_quarter {_D}, fiscal_year integer, fiscal_quarter_start {_D}, "
        "rep_id varchar, territory_id varchar, segment varchar, opportunity_type varchar, "
        f"lead_source varchar, won_deal_count bigint, won_deal_with_amount_count bigint, "
        f"bookings_amount_corporate {_N}",
        [
            ("2025-02-01", "2025-01-01", 2025, "2025-01-01", "r1", "t1", "SMB", "New", "Web", 2, 2, 1000),
            ("2025-05-01", "2025-04-01", 2025, "2025-04-01", "r1", "t1", "SMB", "New", "Web", 1, 1, 1500),
            ("2025-06-01", "2025-04-01", 2025, "2025-04-01", "r2", "t2", "Enterprise", None, None, 1, 1, 500),
        ],
    ),
    "marts.kpi_win_rate": (
        f"close_month {_D}, close_quarter {_D}, fiscal_quarter_start {_D}, rep_id varchar, "
        "territory_id varchar, segment varchar, lead_source varchar, won_count bigint, lost_count bigint, "
        f"closed_count bigint, won_amount_corporate {_N}, lost_amount_corporate {_N}, "
        f"closed_amount_corporate {_N}, win_rate_by_count double, win_rate_by_amount double",
        [
            ("2025-02-01", "2025-01-01", "2025-01-01", "r1", "t1", "SMB", "Web",
             2, 2, 4, 1000, 1000, 2000, 0.5, 0.5),
            ("2025-05-01", "2025-04-01", "2025-04-01", "r1", "t1", "SMB", "Web",
             1, 3, 4, 1500, 500, 2000, 0.25, 0.75),
            ("2025-06-01", "2025-04-01", "2025-04-01", "r2", "t2", "Enterprise", None,
             1, 0, 1, 500, 0, 500, 1, 1),
        ],
    ),
    "marts.kpi_quota_attainment": (
        f"rep_id varchar, period_start {_D}, period_end {_D}, rep_name varchar, manager_id varchar, "
        "manager_name varchar, territory_id varchar, territory_name varchar, "
        f"quota_amount_corporate {_N}, bookings_amount_corporate {_N}, won_deal_count bigint, "
        "quota_attainment double, has_quota_count integer, is_at_quota_count integer",
        [
            ("r1", "2025-01-01", "2025-04-01", "Ann", "m", "Meg", "t1", "North", 1000, 1000, 2, 1.0, 1, 1),
            ("r2", "2025-01-01", "2025-04-01", "Bob", "m", "Meg", "t2", "South", 500, 600, 1, 1.2, 1, 1),
            ("r1", "2025-04-01", "2025-07-01", "Ann", "m", "Meg", "t1", "North", 1000, 1500, 1, 1.5, 1, 1),
            ("r2", "2025-04-01", "2025-07-01", "Bob", "m", "Meg", "t2", "South", 1000, 500, 1, 0.5, 1, 0),
            ("r3", "2025-04-01", "2025-07-01", "Cy", "m", "Meg", None, None, None, 0, 0, None, 0, 0),
        ],
    ),
    "marts.kpi_deal_size_quarterly": (
        f"close_quarter {_D}, segment varchar, won_deal_count bigint, won_amount_corporate {_N}, "
        "avg_deal_size_corporate double, median_deal_size_corporate double",
        [
            ("2025-01-01", "SMB", 2, 1000, 500, 500),
            ("2025-04-01", "SMB", 1, 1500, 1500, 1500),
            ("2025-04-01", "Enterprise", 1, 500, 500, 500),
        ],
    ),
    "marts.kpi_lead_funnel": (
        f"month_start {_D}, lead_source varchar, leads_created_count bigint, leads_converted_count bigint, "
        "leads_disqualified_count bigint, lead_conversion_rate double, leads_reached_mql_count bigint, "
        "mql_reached_sql_count bigint, mql_skipped_count bigint, mql_to_sql_rate double, "
        "median_days_mql_to_sql double",
        [
            ("2025-04-01", "Web", 100, 10, 5, 0.1, 40, 20, 2, 0.5, 3.0),
            ("2025-05-01", "Web", 80, 4, 2, 0.05, 30, 9, 0, 0.3, 4.0),
        ],
    ),
    "marts.kpi_pipeline_funnel": (
        f"cohort_quarter {_D}, stage_name varchar, stage_order integer, is_won_stage boolean, "
        "reached_count bigint, moved_on_count bigint, lost_count bigint, open_count bigint, "
        "won_count bigint, first_stage_reached_count bigint, next_stage_conversion_rate double, "
        "stage_loss_rate double, cumulative_conversion_rate double",
        [
            ("2025-04-01", "Prospecting", 1, False, 10, 6, 3, 1, 0, 10, 0.6, 0.3, 1.0),
            ("2025-04-01", "Negotiation", 2, False, 6, 2, 2, 2, 0, 10, 1 / 3, 1 / 3, 0.6),
            ("2025-04-01", "Closed Won", 3, True, 2, 0, 0, 0, 2, 10, None, 0.0, 0.2),
        ],
    ),
    "marts.kpi_stage_bottlenecks": (
        f"quarter_start {_D}, stage_name varchar, stage_order integer, completed_stay_count bigint, "
        "total_days_in_stage double, avg_days_in_stage double, median_days_in_stage double, "
        "p90_days_in_stage double, lost_count bigint, stage_loss_rate double, "
        "is_largest_loss_stage boolean, is_longest_dwell_stage boolean",
        [
            ("2025-04-01", "Prospecting", 1, 9, 45, 5, 4, 9, 3, 1 / 3, True, False),
            ("2025-04-01", "Negotiation", 2, 4, 40, 10, 9, 15, 2, 0.5, False, True),
        ],
    ),
    "marts.kpi_pipeline_coverage": (
        f"rep_id varchar, period_offset integer, period_label varchar, period_start {_D}, period_end {_D}, "
        f"as_of_date {_D}, rep_name varchar, manager_id varchar, manager_name varchar, "
        f"territory_id varchar, territory_name varchar, open_opportunity_count bigint, "
        f"open_pipeline_amount_corporate {_N}, quota_amount_corporate {_N}, "
        f"bookings_to_date_amount_corporate {_N}, remaining_quota_amount_corporate {_N}, "
        "pipeline_coverage_ratio double",
        [
            ("r1", 0, "current", "2025-04-01", "2025-07-01", "2025-06-30", "Ann", "m", "Meg", "t1", "North",
             3, 900, 1000, 1500, 0, None),
            ("r2", 0, "current", "2025-04-01", "2025-07-01", "2025-06-30", "Bob", "m", "Meg", "t2", "South",
             2, 1000, 1000, 500, 500, 2.0),
            ("r1", 1, "next", "2025-07-01", "2025-10-01", "2025-06-30", "Ann", "m", "Meg", "t1", "North",
             1, 400, 1000, 0, 1000, 0.4),
            ("r2", 1, "next", "2025-07-01", "2025-10-01", "2025-06-30", "Bob", "m", "Meg", "t2", "South",
             0, 0, None, None, None, None),
        ],
    ),
    "marts.kpi_sales_velocity": (
        "rep_id varchar, segment varchar, rep_name varchar, manager_id varchar, territory_id varchar, "
        f"as_of_date {_D}, window_start_date {_D}, open_opportunity_count bigint, closed_count bigint, "
        f"won_count bigint, won_amount_corporate {_N}, won_with_amount_count bigint, "
        "won_cycle_days_sum bigint, won_with_cycle_count bigint, win_rate double, "
        "avg_deal_size_corporate double, avg_sales_cycle_days double, "
        "sales_velocity_corporate_per_day double",
        [
            ("r1", "SMB", "Ann", "m", "t1", "2025-06-30", "2024-07-01", 3, 8, 3, 2500, 3, 90, 3,
             0.375, 2500 / 3, 30, 31.25),
            ("r2", "Enterprise", "Bob", "m", "t2", "2025-06-30", "2024-07-01", 2, 1, 1, 500, 1, 20, 1,
             1.0, 500, 20, 50),
        ],
    ),
    "marts.kpi_rep_activity": (
        f"rep_id varchar, week_start {_D}, category varchar, rep_name varchar, manager_id varchar, "
        "manager_name varchar, territory_id varchar, activity_count bigint, customer_touch_count bigint, "
        "duration_minutes double, selling_minutes double, selling_share double",
        [
            ("r1", "2025-02-03", "customer_digital", "Ann", "m", "Meg", "t1", 4, 4, 100, 100, 1),
            ("r1", "2025-02-03", "admin", "Ann", "m", "Meg", "t1", 2, 0, 100, 0, 0),
            ("r1", "2025-04-07", "customer_digital", "Ann", "m", "Meg", "t1", 10, 10, 300, 300, 1),
            ("r1", "2025-04-07", "admin", "Ann", "m", "Meg", "t1", 5, 0, 100, 0, 0),
            ("r2", "2025-05-05", "customer_in_person", "Bob", "m", "Meg", "t2", 2, 2, 120, 120, 1),
            ("r2", "2025-05-05", "travel", "Bob", "m", "Meg", "t2", 1, 0, 80, 0, 0),
        ],
    ),
    "marts.kpi_activity_effectiveness": (
        "touch_bucket varchar, touch_bucket_order integer, closed_opportunity_count bigint, "
        "won_opportunity_count bigint, lost_opportunity_count bigint, touch_count bigint, "
        "won_touch_count bigint, lost_touch_count bigint, win_rate double",
        [
            ("0", 0, 4, 1, 3, 0, 0, 0, 0.25),
            ("1-2", 1, 3, 1, 2, 5, 2, 3, 1 / 3),
            ("3-5", 2, 2, 2, 0, 8, 8, 0, 1.0),
        ],
    ),
    "marts.kpi_activity_effectiveness_by_category": (
        "category varchar, outcome varchar, touch_count bigint, touch_minutes double",
        [
            ("customer_digital", "won", 8, 240),
            ("customer_digital", "lost", 3, 90),
            ("customer_in_person", "won", 2, 120),
        ],
    ),
    "marts.kpi_territory_balance": (
        f"territory_id varchar, territory_name varchar, quarter_start {_D}, account_count bigint, "
        f"rep_count bigint, open_pipeline_amount_corporate {_N}, bookings_amount_corporate {_N}, "
        f"quota_amount_corporate {_N}, quota_attainment double, accounts_per_rep double, "
        "open_pipeline_per_rep_corporate double, bookings_per_rep_corporate double, "
        "quota_per_rep_corporate double, accounts_per_rep_index double, "
        "open_pipeline_per_rep_index double, bookings_per_rep_index double, quota_per_rep_index double, "
        "is_accounts_out_of_band boolean, is_open_pipeline_out_of_band boolean, "
        "is_bookings_out_of_band boolean, is_quota_out_of_band boolean, is_out_of_band boolean",
        [
            ("t1", "North", "2025-01-01", 10, 1, 0, 1000, 1000, 1, 10, 0, 1000, 1000, 1, 1, 1, 1,
             False, False, False, False, False),
            ("t1", "North", "2025-04-01", 10, 1, 900, 1500, 1000, 1.5, 10, 900, 1500, 1000,
             1.33, 0.95, 1.5, 1, True, False, True, False, True),
            ("t2", "South", "2025-04-01", 5, 1, 1000, 500, 1000, 0.5, 5, 1000, 500, 1000,
             0.67, 1.05, 0.5, 1, True, False, True, False, True),
            ("t3", "West", "2025-04-01", 8, 1, 950, 1000, 1000, 1, 8, 950, 1000, 1000,
             1, 1, 1, 1, False, False, False, False, False),
        ],
    ),
    "core.dq_findings": (
        "check_name varchar, object varchar, row_count bigint, severity varchar, treatment varchar",
        [
            ("opportunity_negative_amount", "Opportunity", 2, "warn", "Negative Amount: counted as it is"),
            ("lead_without_created_date", "Lead", 0, "warn", "No CreatedDate"),
        ],
    ),
    "core.dq_unmapped_values": (
        "object varchar, field varchar, value varchar, row_count bigint, seed_file varchar, "
        "suggested_seed_line varchar",
        [("Opportunity", "StageName", "Mystery Stage", 3, "seeds/opportunity_stages.csv",
          "Mystery Stage,99")],
    ),
    "main.run_history": (
        "run_id varchar, published_at timestamp, partition_range varchar, tables_published integer, "
        "row_counts varchar, checks_passed integer, checks_failed integer, objects_not_found varchar",
        [
            ("old-run", "2025-06-30 06:05:00", "2025-06-29..2025-06-29", 20, "{}", 100, 2, "[]"),
            ("run-abc12345", "2025-07-01 06:05:00", "2025-06-30..2025-06-30", 20, "{}", 100, 1,
             '["LeadStatus"]'),
        ],
    ),
    "main.check_results": (
        "run_id varchar, asset_key varchar, check_name varchar, passed boolean, severity varchar, "
        "description varchar, evaluated_at timestamp",
        [
            ("run-abc12345", "raw/account", "freshness", False, "ERROR", "Account: 4 days late",
             "2025-07-01"),
            ("run-abc12345", "raw/account", "landing_errors", True, "ERROR", None, "2025-07-01"),
            ("old-run", "raw/lead", "stale_check_of_an_older_run", False, "WARN", None, "2025-06-30"),
        ],
    ),
    # The loader's batches and rejects as core.dq_load_batches / dq_load_rejects publish them: line 3 of
    # Account has two bad cells (two rejects, one rejected row); Lead's batch was refused (not loaded).
    "core.dq_load_batches": (
        f"object varchar, extract_date {_D}, source_file_count bigint, source_row_count bigint, "
        "loaded_row_count bigint, rejected_row_count bigint, loaded_at timestamp",
        [
            ("Account", "2025-06-30", 1, 10, 9, 1, "2025-07-01"),
            ("Event", "2025-06-30", 1, 5, 4, 1, "2025-07-01"),
        ],
    ),
    "core.dq_load_rejects": (
        f"object varchar, extract_date {_D}, reason varchar, column_name varchar, is_committed boolean, "
        "reject_count bigint, rejected_row_count bigint, example_source_file varchar, "
        "example_source_line bigint, example_value varchar, loaded_at timestamp",
        [
            ("Account", "2025-06-30", "not a date", "created_date", True, 1, 1, "Account/a.csv", 3,
             "2025-13-45", "2025-07-01"),
            ("Account", "2025-06-30", "not an amount", "annual_revenue", True, 1, 1, "Account/a.csv", 3,
             "abc", "2025-07-01"),
            ("Event", "2025-06-30", "not a date", "start_date_time", True, 1, 1, "Event/e.csv", 9, "x",
             "2025-07-01"),
            ("Lead", "2025-06-30", "refused batch", "id", False, 1, 1, "Lead/l.csv", 2, "", "2025-07-01"),
        ],
    ),
    # Q2 to date: 1000 open + 200 new + 100 pulled in + 50 up - 30 down - 120 pushed out - 400 won
    # - 100 lost = 700 closing (the waterfall reconciles, as the mart's own test requires).
    "marts.kpi_pipeline_changes": (
        f"period_grain varchar, period_start {_D}, closing_as_of_date {_D}, "
        + ", ".join(f"{m}_amount_corporate {_N}" for m in [
            "opening", "new", "pulled_in", "reopened", "restored", "increased", "decreased",
            "currency_change", "pushed_out", "won", "lost", "deleted", "closing"]),
        [("quarter_to_date", "2025-04-01", "2025-06-30", 1000, 200, 100, 0, 0, 50, 30, 0, 120, 400, 100, 0,
          700)],
    ),
    "marts.kpi_forecast": (
        f"fiscal_quarter_start {_D}, week_of_quarter integer, as_of_date {_D}, segment varchar, "
        f"method varchar, forecast_amount_corporate {_N}, won_to_date_amount_corporate {_N}",
        [
            ("2025-04-01", 1, "2025-04-07", "SMB", "learned", 1800, 100),
            ("2025-04-01", 1, "2025-04-07", "SMB", "probability", 2000, 100),
            ("2025-04-01", 1, "2025-04-07", "SMB", "commit", 900, 100),
            ("2025-04-01", 2, "2025-04-14", "SMB", "learned", 1900, 300),
            ("2025-04-01", 2, "2025-04-14", "SMB", "probability", 2100, 300),
            ("2025-04-01", 2, "2025-04-14", "SMB", "commit", 1000, 300),
        ],
    ),
    "marts.kpi_forecast_accuracy_summary": (
        "method varchar, week_of_quarter integer, mean_absolute_percentage_error double, "
        "quarter_count bigint",
        [("learned", 1, 0.2, 3), ("learned", 2, 0.15, 3), ("probability", 1, 0.1, 3),
         ("probability", 2, 0.12, 3), ("commit", 1, 0.6, 3), ("commit", 2, 0.5, 3)],
    ),
}
# fmt: on


def make_published(
    path: Path, *, empty: Sequence[str] = (), missing: Sequence[str] = (), bookings_factor: int = 1
) -> Path:
    """A published file of TABLES; ``empty`` tables have no rows, ``missing`` ones are not there."""
    con = duckdb.connect(str(path))
    try:
        for table, (columns, rows) in TABLES.items():
            if table in missing:
                continue
            con.execute(f"create schema if not exists {table.split('.')[0]}")
            con.execute(f"create table {table} ({columns})")
            if rows and table not in empty:
                con.executemany(f"insert into {table} values ({', '.join('?' * len(rows[0]))})", rows)
        if bookings_factor != 1:
            con.execute(
                "update marts.kpi_bookings set bookings_amount_corporate = bookings_amount_corporate * ?",
                [bookings_factor],
            )
    finally:
        con.close()
    return path


@pytest.fixture
def published(tmp_path: Path) -> Path:
    return make_published(tmp_path / "published.duckdb")


# --- content ---------------------------------------------------------------------------------------------


def test_tiles_are_the_marts_figures_of_this_and_last_quarter(published: Path) -> None:
    data = read_published(published)
    assert data.as_of == date(2025, 6, 30)
    got = {t.label: t for t in tiles(data)}
    assert got["Bookings this quarter"].value == "2.00 k"  # 1500 + 500 closed in 2025 Q2
    assert "2025 Q1: 1.00 k (+100%)" in got["Bookings this quarter"].detail
    assert got["Win rate (by count)"].value == "40.0%"  # (1 + 1) won / (4 + 1) closed
    assert "2025 Q1: 50.0%" in got["Win rate (by count)"].detail
    assert got["Reps at quota"].value == "50.0%"  # Ann 1.5, Bob 0.5; Cy has no quota
    assert (
        "1 of 2 reps" in got["Reps at quota"].detail
        and "previous period: 100.0%" in got["Reps at quota"].detail
    )
    assert got["Selling-time share"].value == "70.0%"  # (300 + 120) / (300 + 100 + 120 + 80)
    assert "2025 Q1: 50.0%" in got["Selling-time share"].detail
    # Team coverage sums numerator and denominator: (900 + 1000) / (0 + 500); next: 400 / 1000.
    assert got["Pipeline coverage"].value == "3.80×"
    assert "next period: 0.40×" in got["Pipeline coverage"].detail


def test_page_states_as_of_publish_and_data_quality(published: Path, tmp_path: Path) -> None:
    page = write_dashboard(published, tmp_path / "out" / "dashboard.html").read_text(encoding="utf-8")
    assert "As of <b id='as-of'>2025-06-30</b>" in page
    assert "published 2025-07-01 06:05:00 UTC by run run-abc1" in page  # the latest publish
    dq = page[page.index("id='data-quality'") :]
    # Rows (file, line) of loaded batches, not cells; the refused batch's reject is listed apart.
    assert "<b>2</b> source rows rejected of 15 read (13 loaded)" in dq
    assert "Account/a.csv:3 created_date = 2025-13-45" in dq and "refused (not loaded)" in dq
    assert "rejected rows 2 of 15 source rows" in page  # the header's summary
    assert "Mystery Stage" in dq and "Mystery Stage,99" in dq  # unmapped value with its seed line
    assert "opportunity_negative_amount" in dq and "lead_without_created_date" not in dq  # rows > 0 only
    assert "Account: 4 days late" in dq and "stale_check_of_an_older_run" not in dq  # this publish's run
    assert "LeadStatus" in dq  # objects not landed
    # One card per chart, every one with data here.
    assert page.count("class='card'") == len(BUILDERS)
    assert "data-no-data='true'" not in page
    # Self-contained: plotly.js is inlined once, nothing is fetched.
    assert len(re.findall(r"<script[^>]+src=", page)) == 0
    assert page.count("plotly.js v") >= 1 and len(page) > 3_000_000


def test_charts_are_drawn_in_the_slim_white_template_and_plotly_default_is_restored(published: Path) -> None:
    """Every figure, with data or without, has plotly_white's white plot background (Plotly's own
    default template draws on #E5ECF6), and no per-trace-type defaults (the slim template's point);
    Plotly's default template is the caller's again afterwards."""
    import plotly.io as pio

    from orchestration.tooling.dashboard.charts import build_charts

    before = pio.templates.default
    charts = build_charts(read_published(published))
    assert pio.templates.default == before
    assert len(charts) == len(BUILDERS)
    for chart in charts:
        template = chart.figure.layout.template
        assert template.layout.plot_bgcolor == "white", chart.key
        assert not template.data.bar and not template.data.heatmap, chart.key


def test_empty_or_missing_mart_shows_an_explicit_no_data_note(tmp_path: Path) -> None:
    path = make_published(
        tmp_path / "p.duckdb",
        empty=["marts.kpi_sales_velocity"],
        missing=["marts.kpi_activity_effectiveness_by_category", "core.dq_load_rejects"],
    )
    page = write_dashboard(path, tmp_path / "d.html").read_text(encoding="utf-8")
    card = re.search(r"<section class='card' id='card-velocity'[^>]*>.*?</section>", page, re.S)
    assert card and "data-no-data='true'" in card.group(0)
    assert "No data: marts.kpi_sales_velocity has no rows" in card.group(0)
    card = re.search(r"<section class='card' id='card-touches-per-deal'[^>]*>.*?</section>", page, re.S)
    assert card and "marts.kpi_activity_effectiveness_by_category is not in the published file" in card.group(
        0
    )
    assert page.count("data-no-data='true'") == 2
    assert "rejected rows are in <code>raw._rejects</code> of the working warehouse" in page


def test_a_published_file_without_kpi_rows_renders_no_data_everywhere(tmp_path: Path) -> None:
    path = make_published(tmp_path / "p.duckdb", empty=[t for t in TABLES if t.startswith("marts.")])
    data = read_published(path)
    assert data.as_of is None
    assert {t.value for t in tiles(data)} == {"n/a"}
    page = write_dashboard(path, tmp_path / "d.html").read_text(encoding="utf-8")
    assert page.count("data-no-data='true'") == len(BUILDERS)
    assert "As of <b id='as-of'>n/a</b>" in page


def test_reads_the_published_file_read_only_and_sees_each_new_publish(
    published: Path, tmp_path: Path
) -> None:
    before = published.stat().st_mtime_ns
    out = write_dashboard(published, tmp_path / "d.html")
    assert published.stat().st_mtime_ns == before
    # The connection is closed: this process may open the file read-write again (DuckDB refuses a
    # second configuration of a file it still holds open).
    duckdb.connect(str(published)).close()
    # A publish renames a new file over the old one: the next dashboard shows the new figures.
    newer = make_published(tmp_path / "newer.duckdb", bookings_factor=10)
    os.replace(newer, published)
    write_dashboard(published, out)
    assert {t.label: t.value for t in tiles(read_published(published))}["Bookings this quarter"] == "20.00 k"


def test_cli_writes_to_the_data_dir_by_default(
    published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestration.tooling.cli import main

    monkeypatch.setenv("SALES_WH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SALES_WH_PUBLISHED", str(published))
    assert main(["dashboard"]) == 0
    assert (tmp_path / "data" / "dashboard.html").is_file()
    assert f"Dashboard: {tmp_path / 'data' / 'dashboard.html'}" in capsys.readouterr().out
    assert main(["dashboard", "--published", str(published), "--out", str(tmp_path / "x.html")]) == 0
    assert (tmp_path / "x.html").is_file()
    assert main(["dashboard", "--published", str(tmp_path / "none.duckdb")]) == 1
    assert "no published warehouse" in capsys.readouterr().err


def test_a_dashboard_failure_after_a_publish_does_not_fail_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SALES_WH_DATA_DIR", str(tmp_path))
    assert write_after_publish(tmp_path / "none.duckdb") is None
    assert "Dashboard not written" in capsys.readouterr().err
    assert not (tmp_path / "dashboard.html").exists()


# --- in a real browser -----------------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; .ci/run installs it (apt-get install chromium, pip install -e .[dev])")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        _unavailable("Debian's chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright (python) is not installed")
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


#: Per Plotly chart: its SVG layers, traces and drawn marks (bars, points, lines, boxes, funnel steps).
_CHARTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
    id: gd.id,
    svg: gd.querySelectorAll('svg.main-svg').length,
    traces: gd.querySelectorAll('.trace').length,
    marks: gd.querySelectorAll('.point, path.js-line, path.box').length,
    text: gd.textContent,
}))"""


def open_in_chromium(browser: Any, html: Path, screenshot: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Load ``html`` from disk with the network off; the charts' drawing, the console errors, and a
    full-page screenshot."""
    context = browser.new_context(offline=True, viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        page.goto(html.as_uri(), wait_until="load")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
        charts = page.evaluate(_CHARTS_JS)
        page.screenshot(path=str(screenshot), full_page=True)
        return charts, errors
    finally:
        context.close()


def assert_every_chart_drawn(charts: list[dict[str, Any]], no_data: Sequence[str] = ()) -> None:
    assert len(charts) == len(BUILDERS)
    for chart in charts:
        assert chart["svg"] > 0, chart["id"]
        if chart["id"] in no_data:
            assert chart["traces"] == 0 and "No data:" in chart["text"], chart["id"]
        else:
            assert chart["traces"] > 0 and chart["marks"] > 0, chart["id"]


def test_dashboard_draws_in_headless_chromium(browser: Any, published: Path, tmp_path: Path) -> None:
    html = write_dashboard(published, tmp_path / "dashboard.html")
    charts, errors = open_in_chromium(browser, html, tmp_path / "dashboard.png")
    assert errors == []
    assert_every_chart_drawn(charts)
    assert (tmp_path / "dashboard.png").stat().st_size > 50_000
    print(f"screenshot: {tmp_path / 'dashboard.png'}")


def test_no_data_chart_draws_its_note_in_chromium(browser: Any, tmp_path: Path) -> None:
    path = make_published(tmp_path / "p.duckdb", empty=["marts.kpi_territory_balance"])
    html = write_dashboard(path, tmp_path / "dashboard.html")
    charts, errors = open_in_chromium(browser, html, tmp_path / "dashboard.png")
    assert errors == []
    assert_every_chart_drawn(charts, no_data=["chart-territory"])


# --- end to end: a run publishes, then writes the dashboard -------------------------------------------------

E2E_START = date(2025, 1, 1)
E2E_DAYS = 40


@pytest.mark.e2e
def test_run_writes_the_dashboard_after_publishing_and_it_draws(
    tmp_path_factory: pytest.TempPathFactory,
    demo_landing: DemoLanding,
    pipeline_env: PipelineEnv,
    browser: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from orchestration.tooling.cli import main

    base = tmp_path_factory.mktemp("dashboard-e2e")
    demo_landing(days=E2E_DAYS, seed=7, start=E2E_START, into=base / "landing")
    last = E2E_START + timedelta(days=E2E_DAYS - 1)
    with pipeline_env(base, partition_start=E2E_START):
        monkeypatch.setenv("SALES_WH_DATA_DIR", str(base))
        assert main(["run", "--start", E2E_START.isoformat(), "--end", last.isoformat()]) == 0
    html = base / "dashboard.html"
    assert html.is_file() and str(html) in capsys.readouterr().out
    charts, errors = open_in_chromium(browser, html, base / "dashboard.png")
    assert errors == []
    assert_every_chart_drawn(charts)
    con = duckdb.connect(str(base / "published.duckdb"), read_only=True)
    try:
        (published_at,) = con.execute("select max(published_at) from main.run_history").fetchone() or (None,)
    finally:
        con.close()
    assert f"published {published_at:%Y-%m-%d %H:%M:%S} UTC" in html.read_text(encoding="utf-8")
    print(f"screenshot: {base / 'dashboard.png'}")


def test_tables_match_the_published_schema_of_the_marts() -> None:
    """The hand-made marts above name only columns the real marts have (models/marts/kpi/*.sql), so the
    content tests cannot pass on a column the pipeline does not publish."""
    models = Path(__file__).parent.parent / "models" / "marts"
    for table, (columns, _) in TABLES.items():
        schema, name = table.split(".")
        if schema not in {"marts", "core"}:
            continue
        yml = next(models.glob(f"**/_{name}.yml"), None) or next(models.glob("**/_core__models.yml"))
        text = yml.read_text(encoding="utf-8")
        sql = (next(models.glob(f"**/{name}.sql"))).read_text(encoding="utf-8")
        for column in re.findall(
            r"(\w+) (?:varchar|date|integer|bigint|double|boolean|timestamp|decimal)", columns
        ):
            assert column in text or column in sql, f"{table}.{column} is not a column of the model"
