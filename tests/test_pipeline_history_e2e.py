"""End to end, the daily pipeline history (core.fct_pipeline_daily, issue 12) against the demo's landing
files: for sampled past days, the open opportunities with their stage, amount and close date equal the
Opportunity state of that day read straight from the CSV files with DuckDB, never from the warehouse.

The state of a day D from the files: of every version of a record (a CSV row), those in effect on or before
D, the latest by SystemModstamp (then extract date, file, line); open when not deleted and not IsClosed.
"In effect" is the version's SystemModstamp day, at the latest its extract date: the generator delivers a
share of versions late (an extract days after the change, `make_late` in demo_data/dirt.py, as real
replication lag does), while OpportunityHistory dates each change by its CreatedDate. Dated by extract
date instead, the files lag history exactly for those late versions; the second test checks that these
are the only differences.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.e2e

SAMPLED_DAYS = 24

#: Every version of every Opportunity of the landing folder, with its extract date and effective day.
_VERSIONS = """
create table versions as
select
    Id as opportunity_id,
    StageName as stage_name,
    cast(CloseDate as date) as close_date,
    cast(Amount as decimal(18, 2)) as amount,
    coalesce(lower(IsDeleted) in ('true', '1'), false) as is_deleted,
    coalesce(lower(IsClosed) in ('true', '1'), false) as is_closed,
    cast(SystemModstamp as timestamptz) as modified_at,
    cast(regexp_extract(filename, '(\\d{4}-\\d{2}-\\d{2})', 1) as date) as extract_date,
    filename as source_file,
    line
from (
    select *, row_number() over () as line
    from read_csv(?, filename = true, all_varchar = true, header = true)
)
"""

#: The open opportunities of day ? from `versions`, dated by `{date_column}`.
_OPEN_ON = """
select opportunity_id, stage_name, close_date, amount
from (
    select
        *,
        row_number() over (
            partition by opportunity_id
            order by modified_at desc nulls last, extract_date desc, source_file desc, line desc
        ) as version_rank
    from versions
    where {date_column} <= ?
)
where version_rank = 1 and not is_deleted and not is_closed
"""
EFFECTIVE = "least(extract_date, cast(timezone('UTC', modified_at) as date))"


@pytest.fixture(scope="module")
def pipeline(demo_warehouse: tuple[Path, Path]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding the landing's Opportunity versions, with the warehouse attached as `wh`."""
    landing, warehouse = demo_warehouse
    con = duckdb.connect()
    con.execute(_VERSIONS, [str(landing / "Opportunity" / "*" / "*.csv")])
    con.execute(f"attach '{warehouse}' as wh (read_only)")
    return con


def _sampled_days(con: duckdb.DuckDBPyConnection) -> list[date]:
    days = [r[0] for r in con.execute("select distinct extract_date from versions order by 1").fetchall()]
    assert len(days) >= SAMPLED_DAYS
    return sorted(random.Random(12).sample(days, SAMPLED_DAYS))


def _open_on(con: duckdb.DuckDBPyConnection, day: date, date_column: str) -> dict[str, tuple]:
    rows = con.execute(_OPEN_ON.format(date_column=date_column), [day]).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _pipeline_on(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, tuple]:
    rows = con.execute(
        "select opportunity_id, stage_name, close_date, amount from wh.core.fct_pipeline_daily "
        "where as_of_date = ?",
        [day],
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_pipeline_of_past_days_equals_the_landing_files(pipeline: duckdb.DuckDBPyConnection) -> None:
    for day in _sampled_days(pipeline):
        expected = _open_on(pipeline, day, EFFECTIVE)
        got = _pipeline_on(pipeline, day)
        assert expected, f"no open opportunity in the files on {day}"
        missing = sorted(set(expected) - set(got))[:5]
        extra = sorted(set(got) - set(expected))[:5]
        assert not missing and not extra, f"{day}: missing {missing}, not open in the files {extra}"
        changed = [(k, expected[k], got[k]) for k in sorted(expected) if expected[k] != got[k]][:5]
        assert not changed, f"{day}: (id, files, pipeline) {changed}"


def test_by_extract_date_only_late_versions_differ(pipeline: duckdb.DuckDBPyConnection) -> None:
    """Dated by extract date (the files as they arrived), the state differs from the rebuilt pipeline only
    for opportunities with a version delivered after day D that took effect on or before D."""
    differing_days = 0
    for day in _sampled_days(pipeline):
        as_arrived = _open_on(pipeline, day, "extract_date")
        got = _pipeline_on(pipeline, day)
        differ = {k for k in set(as_arrived) | set(got) if as_arrived.get(k) != got.get(k)}
        late = {
            r[0]
            for r in pipeline.execute(
                f"select opportunity_id from versions where {EFFECTIVE} <= ? and extract_date > ?", [day, day]
            ).fetchall()
        }
        assert differ <= late, f"{day}: differ without a late version: {sorted(differ - late)[:5]}"
        differing_days += bool(differ)
    assert differing_days, "no late version on any sampled day: the second reading checks nothing"


def test_latest_day_is_the_open_pipeline_of_fct_opportunities(pipeline: duckdb.DuckDBPyConnection) -> None:
    latest = pipeline.execute(
        "select count(*), sum(amount_corporate) from wh.core.fct_pipeline_daily "
        "where as_of_date = (select max(as_of_date) from wh.core.fct_pipeline_daily)"
    ).fetchone()
    current = pipeline.execute(
        "select count(*), sum(amount_corporate) from wh.core.fct_opportunities where not is_closed"
    ).fetchone()
    assert latest == current


def test_waterfall_closing_of_a_week_is_the_opening_of_the_next(pipeline: duckdb.DuckDBPyConnection) -> None:
    """Weeks inside one quarter chain: the closing pipeline of a week is the next week's opening."""
    rows = pipeline.execute(
        """
        select period_start, target_quarter_start,
               sum(opening_amount_corporate), sum(opening_count),
               sum(closing_amount_corporate), sum(closing_count)
        from wh.marts.kpi_pipeline_changes
        where period_grain = 'week'
        group by period_start, target_quarter_start
        order by period_start
        """
    ).fetchall()
    assert len(rows) > 10
    chained = 0
    for previous, current in zip(rows, rows[1:], strict=False):
        if previous[1] == current[1]:
            assert current[2:4] == previous[4:6], f"week {current[0]}"
            chained += 1
    assert chained > 10
