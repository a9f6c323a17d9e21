"""End to end, the metric layer: MetricFlow's answers (models/semantic/, run by ``sales-wh metrics`` on a
copy of the demo warehouse) equal the KPI marts' for every period the marts have.

Amounts must agree to the cent, counts exactly, ratios to 1e-9. A period MetricFlow reports that the mart
has no row for (open deals closing in a later quarter: no bookings yet) must hold zero counts, so the
metric layer can add empty periods but never lose or change one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.tooling import metrics
from orchestration.tooling.cli import main

pytestmark = pytest.mark.e2e

CENT = Decimal("0.01")
HEADLINE_METRICS = {
    "bookings", "bookings_growth_qoq", "won_deals", "lost_deals", "closed_deals", "win_rate", "avg_deal_size",
    "quota_attainment", "pct_reps_at_quota", "lead_conversion_rate", "mql_to_sql_rate", "selling_share",
    "pipeline_coverage",
}  # fmt: skip


@pytest.fixture(scope="module")
def copy(demo_warehouse: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's demo warehouse (the original is shared and read-only)."""
    target = tmp_path_factory.mktemp("metrics") / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse[1], target)
    return target


@pytest.fixture(scope="module")
def manifest(demo_warehouse: tuple[Path, Path]) -> Any:
    """The semantic manifest the fixture's ``dbt build`` wrote next to its warehouse."""
    return metrics.load_manifest(demo_warehouse[1].parent / "target" / "semantic_manifest.json")


def mf(manifest: Any, warehouse: Path, names: str, *group_by: str) -> dict[Any, dict[str, Any]]:
    """MetricFlow's rows keyed by the group-by values (one value: the value itself), dates as dates."""
    result = metrics.query(manifest, warehouse, names.split(","), group_by)
    out: dict[Any, dict[str, Any]] = {}
    for record in result.records():
        key = tuple(_day(record[g]) for g in group_by)
        out[key[0] if len(key) == 1 else key] = record
    return out


def mart(warehouse: Path, sql: str) -> dict[Any, dict[str, Any]]:
    """The mart's rows keyed by their first column."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description]
        return {_day(row[0]): dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}
    finally:
        con.close()


def _day(value: Any) -> Any:
    return value.date() if isinstance(value, datetime) else value


def cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def same_ratio(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 1e-9)


def test_semantic_manifest_validates(manifest: Any) -> None:
    blocking, issues = metrics.validation_issues(manifest)
    assert not blocking, "\n".join(issues)
    assert {m.name for m in manifest.metrics} >= HEADLINE_METRICS
    # a ratio is defined once, from its numerator and denominator metrics
    ratios = {m.name: m for m in manifest.metrics if m.type.value == "ratio"}
    assert ratios["win_rate"].type_params.numerator.name == "won_deals"
    assert ratios["win_rate"].type_params.denominator.name == "closed_deals"


def test_bookings_by_quarter(manifest: Any, copy: Path) -> None:
    ours = mf(manifest, copy, "bookings,won_deals", "metric_time__quarter")
    theirs = mart(
        copy,
        "select close_quarter, sum(bookings_amount_corporate) as bookings, sum(won_deal_count) as won_deals "
        "from marts.kpi_bookings group by close_quarter order by 1",
    )
    assert len(theirs) > 2
    for quarter, row in theirs.items():
        assert cents(ours[quarter]["bookings"]) == cents(row["bookings"]), quarter
        assert ours[quarter]["won_deals"] == row["won_deals"], quarter
    for quarter in ours.keys() - theirs.keys():
        assert ours[quarter]["won_deals"] == 0 and cents(ours[quarter]["bookings"]) == 0, quarter


def test_bookings_growth_quarter_on_quarter(manifest: Any, copy: Path) -> None:
    """The derived metric with a one-quarter offset, against the mart's bookings of consecutive quarters."""
    ours = mf(manifest, copy, "bookings_growth_qoq", "metric_time__quarter")
    theirs = mart(
        copy,
        "select close_quarter, sum(bookings_amount_corporate) as bookings from marts.kpi_bookings group by 1",
    )
    quarters = sorted(theirs)
    compared = 0
    for before, quarter in zip(quarters, quarters[1:], strict=False):
        consecutive = before.year * 12 + before.month + 3 == quarter.year * 12 + quarter.month
        if not consecutive or not theirs[before]["bookings"]:
            continue
        expected = float(theirs[quarter]["bookings"] / theirs[before]["bookings"] - 1)
        assert abs(float(ours[quarter]["bookings_growth_qoq"]) - expected) <= 1e-9, quarter
        compared += 1
    assert compared > 2


def test_win_rate_by_quarter(manifest: Any, copy: Path) -> None:
    ours = mf(
        manifest,
        copy,
        "win_rate,win_rate_by_amount,won_deals,lost_deals,closed_deals",
        "metric_time__quarter",
    )
    theirs = mart(
        copy,
        """
        select close_quarter, sum(won_count) as won_deals, sum(lost_count) as lost_deals,
               sum(closed_count) as closed_deals,
               sum(won_count) * 1.0 / nullif(sum(closed_count), 0) as win_rate,
               cast(sum(won_amount_corporate) / nullif(sum(closed_amount_corporate), 0) as double)
                   as win_rate_by_amount
        from marts.kpi_win_rate group by close_quarter order by 1
        """,
    )
    assert len(theirs) > 2
    for quarter, row in theirs.items():
        for count in ("won_deals", "lost_deals", "closed_deals"):
            assert ours[quarter][count] == row[count], (quarter, count)
        for rate in ("win_rate", "win_rate_by_amount"):
            assert same_ratio(ours[quarter][rate], row[rate]), (quarter, rate, ours[quarter][rate], row[rate])
    for quarter in ours.keys() - theirs.keys():
        assert ours[quarter]["closed_deals"] == 0 and ours[quarter]["win_rate"] is None, quarter


def test_pct_reps_at_quota_by_quarter(manifest: Any, copy: Path) -> None:
    ours = mf(manifest, copy, "pct_reps_at_quota,reps_at_quota,reps_with_quota", "metric_time__quarter")
    theirs = mart(
        copy,
        """
        select period_start, sum(is_at_quota_count) as reps_at_quota, sum(has_quota_count) as reps_with_quota,
               sum(is_at_quota_count) * 1.0 / nullif(sum(has_quota_count), 0) as pct_reps_at_quota
        from marts.kpi_quota_attainment group by period_start order by 1
        """,
    )
    assert ours.keys() == theirs.keys()
    assert sum(row["pct_reps_at_quota"] is not None for row in theirs.values()) > 2
    for quarter, row in theirs.items():
        assert ours[quarter]["reps_at_quota"] == row["reps_at_quota"], quarter
        assert ours[quarter]["reps_with_quota"] == row["reps_with_quota"], quarter
        assert same_ratio(ours[quarter]["pct_reps_at_quota"], row["pct_reps_at_quota"]), quarter


def test_quota_attainment_per_rep_and_quarter(manifest: Any, copy: Path) -> None:
    ours = mf(manifest, copy, "quota_attainment", "rep", "metric_time__quarter")
    con = duckdb.connect(str(copy), read_only=True)
    try:
        rows = con.execute(
            "select rep_id, period_start, quota_attainment from marts.kpi_quota_attainment"
        ).fetchall()
    finally:
        con.close()
    assert sum(attainment is not None for _, _, attainment in rows) > 20
    assert {(rep, _day(start)) for rep, start, _ in rows} == ours.keys()
    for rep, start, attainment in rows:
        assert same_ratio(ours[(rep, _day(start))]["quota_attainment"], attainment), (rep, start)


def test_avg_deal_size_lead_conversion_and_selling_share(manifest: Any, copy: Path) -> None:
    deal_size = mf(manifest, copy, "avg_deal_size", "metric_time__quarter")
    theirs = mart(
        copy,
        "select close_quarter, cast(sum(won_amount_corporate) / sum(won_deal_count) as double) as avg "
        "from marts.kpi_deal_size_quarterly group by close_quarter order by 1",
    )
    assert len(theirs) > 2
    for quarter, row in theirs.items():
        assert cents(deal_size[quarter]["avg_deal_size"]) == cents(row["avg"]), quarter

    funnel = mf(manifest, copy, "lead_conversion_rate,mql_to_sql_rate", "metric_time__month")
    theirs = mart(
        copy,
        """
        select month_start,
               sum(leads_converted_count) * 1.0 / nullif(sum(leads_created_count), 0) as lead_conversion_rate,
               sum(mql_reached_sql_count) * 1.0 / nullif(sum(leads_reached_mql_count), 0) as mql_to_sql_rate
        from marts.kpi_lead_funnel where month_start is not null group by month_start order by 1
        """,
    )
    assert len(theirs) > 2
    for month, row in theirs.items():
        for rate in ("lead_conversion_rate", "mql_to_sql_rate"):
            assert same_ratio(funnel[month][rate], row[rate]), (month, rate)

    selling = mf(manifest, copy, "selling_share", "metric_time__week")
    theirs = mart(
        copy,
        "select week_start, sum(selling_minutes) / nullif(sum(duration_minutes), 0) as selling_share "
        "from marts.kpi_rep_activity group by week_start order by 1",
    )
    assert len(theirs) > 2
    for week, row in theirs.items():
        assert same_ratio(selling[week]["selling_share"], row["selling_share"]), week


def test_pipeline_coverage_by_period(manifest: Any, copy: Path) -> None:
    ours = mf(manifest, copy, "pipeline_coverage,open_pipeline", "coverage__period_label")
    theirs = mart(
        copy,
        """
        select period_label, sum(open_pipeline_amount_corporate) as open_pipeline,
               cast(sum(open_pipeline_amount_corporate) / nullif(sum(remaining_quota_amount_corporate), 0)
                    as double) as pipeline_coverage
        from marts.kpi_pipeline_coverage group by period_label
        """,
    )
    assert ours.keys() == theirs.keys() == {"current", "next"}
    for label, row in theirs.items():
        assert cents(ours[label]["open_pipeline"]) == cents(row["open_pipeline"]), label
        assert same_ratio(ours[label]["pipeline_coverage"], row["pipeline_coverage"]), label


def test_cli_query(manifest: Any, copy: Path, demo_warehouse: tuple[Path, Path], capsys: Any) -> None:
    manifest_path = demo_warehouse[1].parent / "target" / "semantic_manifest.json"
    args = ["metrics", "query", "bookings,win_rate", "--by", "metric_time__quarter"]
    assert main([*args, "--warehouse", str(copy), "--manifest", str(manifest_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["metric_time__quarter", "bookings", "win_rate"]
    first = min(mart(copy, "select close_quarter from marts.kpi_bookings"))
    assert isinstance(first, date) and lines[2].startswith(first.isoformat())


@pytest.fixture
def held(copy: Path) -> Iterator[Path]:
    """The copy opened read-write by another process (a running pipeline), until the test ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(copy)!r}); print('ready', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield copy
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def test_query_while_a_run_holds_the_warehouse_fails_with_one_line(manifest: Any, held: Path) -> None:
    with pytest.raises(metrics.MetricsError) as raised:
        metrics.query(manifest, held, ["bookings"], ["metric_time__quarter"])
    message = str(raised.value)
    assert "running pipeline" in message and "\n" not in message
