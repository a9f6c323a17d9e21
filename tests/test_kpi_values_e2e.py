"""End to end, the six KPI marts that need more than sums: quota attainment, pipeline coverage, sales
velocity, the lead funnel's MQL->SQL side, stage bottlenecks and territory balance, row by row against
answers computed independently with pandas from the demo's landing files.

The pandas side follows docs/KPI_DEFINITIONS.md (the models' doc blocks) and DESIGN.md, never the SQL and
never a table of the warehouse: latest version per Id (SystemModstamp, else the latest extract and the
later line), deleted records dropped, amounts converted with the dated rate in force on the relevant date,
stages and lead statuses classified with the seed CSVs. The shared basics (reading an object, live
records, opportunities with won/closed flags, dated rates) live in tests/test_kpis_e2e.py.

Each test compares every row of its mart (the key sets must be equal) and every value column that the
definition fixes; a difference names the first differing row and column.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.portability import run_dbt
from tests.test_kpis_e2e import SEEDS, flag, live_records, opportunities, rates_on, read_object, timestamps

pytestmark = pytest.mark.e2e

QUARTER = pd.DateOffset(months=3)
TERRITORY_BALANCE_BAND = 0.25  # dbt_project.yml var territory_balance_band
ACTIVE_QUARTER = pd.Timestamp("2025-04-01")  # a full quarter inside the demo year
EARLIER_AS_OF = pd.Timestamp("2025-08-14")  # a reporting date inside a quarter, quotas on both sides


@pytest.fixture(scope="module")
def built(demo_warehouse: tuple[Path, Path]) -> tuple[Path, Path]:
    """The demo's landing files and warehouse, built once per session (tests/conftest.py)."""
    return demo_warehouse


# ------------------------------------------------------------------------------------ comparison


def mart_frame(warehouse: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def _comparable(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.strftime("%Y-%m-%d")
    return values


def assert_rows_match(
    expected: pd.DataFrame, actual: pd.DataFrame, keys: list[str], *, atol: dict[str, float] | None = None
) -> None:
    """Same key set, then every column of ``expected`` equal in ``actual`` row by row: numbers within a
    relative 1e-9 plus an absolute ``atol[column]`` (default 1e-3 for amounts, ``*_corporate``: sums of
    cents, exact in the mart, summed in floating point here; 1e-9 otherwise), NULL exactly where NULL is
    expected; other values exactly."""
    expected, actual = expected.reset_index(drop=True), actual.reset_index(drop=True)
    expected = expected.assign(**{k: _comparable(expected[k]) for k in keys})
    actual = actual.assign(**{k: _comparable(actual[k]) for k in keys})
    merged = expected.merge(actual, on=keys, how="outer", suffixes=("_exp", "_act"), indicator=True)
    only = merged[merged["_merge"] != "both"]
    assert only.empty, (
        f"rows on one side only (left_only = expected, not in the mart):\n{only[[*keys, '_merge']]}"
    )
    merged = merged.sort_values(keys).reset_index(drop=True)
    for column in (c for c in expected.columns if c not in keys):
        exp, act = merged[f"{column}_exp"], merged[f"{column}_act"]
        if pd.api.types.is_numeric_dtype(exp) and not pd.api.types.is_bool_dtype(exp):
            e = exp.astype(float).to_numpy()
            a = pd.to_numeric(act).astype(float).to_numpy()
            tolerance = (atol or {}).get(column, 1e-3 if column.endswith("_corporate") else 1e-9)
            same = np.isclose(a, e, rtol=1e-9, atol=tolerance, equal_nan=True)
        else:
            equal = (exp.isna() & act.isna()) | (exp == act).fillna(False).astype(bool)
            same = equal.to_numpy()
        if not same.all():
            first = int(np.flatnonzero(~same)[0])
            row = merged.loc[first, keys].to_dict()
            raise AssertionError(
                f"{column} differs in {int((~same).sum())} of {len(merged)} rows; first at {row}: "
                f"expected {exp.iloc[first]!r}, mart {act.iloc[first]!r}"
            )


#: A money value that the mart derives from exact values and then rounds to the cent (an average, a median,
#: a per-rep amount, a velocity): the expected value here is the exact one, so the mart is within half a cent.
HALF_CENT = 0.005 + 1e-9


def cents(values: np.ndarray) -> np.ndarray:
    """Money rounded to the cent per record as the warehouse does it (KPI_DEFINITIONS "Types and money
    rounding"): the double's 15 significant digits to 6 decimals, then to the cent, half away from zero.
    NaN stays NaN."""

    def one(value: float) -> float:
        if np.isnan(value):
            return value
        micro = Decimal(f"{value:.15g}").quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        rounded = micro.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return float(rounded)

    return np.array([one(float(v)) for v in values], dtype=float)


def safe_ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """A ratio of the marts: NULL (NaN) when the denominator is NULL or 0."""
    denominator = denominator.astype(float)
    return numerator.astype(float) / denominator.where(denominator != 0)


# ------------------------------------------------------------------------ independent pandas side


def frame_cache(build: Callable[[Path], pd.DataFrame]) -> Callable[[Path], pd.DataFrame]:
    """Reading the landing CSVs dominates: build each frame once per landing folder, hand out copies."""
    cached = functools.cache(build)

    @functools.wraps(build)
    def get(landing: Path) -> pd.DataFrame:
        return cached(landing).copy()

    return get


def latest_by_extract(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Objects without SystemModstamp: the latest extract wins (in it, the later file and line)."""
    return frame.sort_values("_extract_date", kind="stable").drop_duplicates(key, keep="last")


def quarter_start(dates: pd.Series) -> pd.Series:
    return dates.dt.to_period("Q").dt.start_time


def naive_utc(values: pd.Series) -> pd.Series:
    return timestamps(values).dt.tz_convert(None)


@frame_cache
def deals(landing: Path) -> pd.DataFrame:
    """Live opportunities with rep (OwnerId, else ``unassigned``), the account's segment (else
    ``Unknown``), the corporate amount (dated rate on the close date, rounded to the cent) and the sales
    cycle in days (close date - created date; NULL when negative or still open)."""
    opps = opportunities(landing).reset_index(drop=True)
    opps["amount_corporate"] = cents(
        opps["amount"].to_numpy() / rates_on(landing, opps["CurrencyIsoCode"], opps["close_date"]).to_numpy()
    )
    opps["rep_id"] = opps["OwnerId"].fillna("unassigned")
    accounts = live_records(read_object(landing, "Account"))
    segment = pd.Series(accounts["Segment__c"].to_numpy(), index=accounts["Id"])
    opps["segment"] = opps["AccountId"].map(segment).fillna("Unknown")
    created = naive_utc(opps["CreatedDate"]).dt.normalize()
    cycle = (opps["close_date"] - created).dt.days
    opps["cycle_days"] = cycle.where(opps["is_closed"] & (cycle >= 0))
    return opps


@frame_cache
def quota_rows(landing: Path) -> pd.DataFrame:
    """ForecastingQuota rows (latest extract per Id): rep, period start, corporate amount (rate on the
    period start). Quarter quota periods (var quota_period)."""
    quotas = latest_by_extract(read_object(landing, "ForecastingQuota"), "Id").reset_index(drop=True)
    start = pd.to_datetime(quotas["StartDate"], format="%Y-%m-%d")
    rate = rates_on(landing, quotas["CurrencyIsoCode"], start).to_numpy()
    return pd.DataFrame(
        {
            "rep_id": quotas["QuotaOwnerId"],
            "period_start": start,
            "period_end": start + QUARTER,
            "quota": cents(pd.to_numeric(quotas["QuotaAmount"]).to_numpy() / rate),
        }
    )


def quota_periods(landing: Path) -> pd.DataFrame:
    """One row per rep and quota period; rows of one period add up (a split quota)."""
    quotas = quota_rows(landing)
    return quotas.groupby(["rep_id", "period_start", "period_end"])["quota"].sum().reset_index()


def rep_territories(landing: Path) -> pd.Series:
    """rep -> territory: the user's UserTerritory2Association with the smallest Id."""
    assoc = latest_by_extract(read_object(landing, "UserTerritory2Association"), "Id")
    first = assoc.sort_values("Id").drop_duplicates("UserId")
    return pd.Series(first["Territory2Id"].to_numpy(), index=first["UserId"])


@functools.cache
def last_activity_day(landing: Path) -> pd.Timestamp:
    """The latest activity date: Task ActivityDate (else its created day), Event ActivityDate (else
    its start day)."""
    tasks = live_records(read_object(landing, "Task"))
    task_day = pd.to_datetime(tasks["ActivityDate"], format="%Y-%m-%d").fillna(
        naive_utc(tasks["CreatedDate"]).dt.normalize()
    )
    events = live_records(read_object(landing, "Event"))
    event_day = pd.to_datetime(events["ActivityDate"], format="%Y-%m-%d").fillna(
        naive_utc(events["StartDateTime"]).dt.normalize()
    )
    return max(task_day.max(), event_day.max())


def as_of_date(landing: Path, opps: pd.DataFrame) -> pd.Timestamp:
    """The reporting date: the latest close date of a closed deal or activity date in the data."""
    return max(opps.loc[opps["is_closed"], "close_date"].max(), last_activity_day(landing))


def expected_quota_attainment(landing: Path) -> pd.DataFrame:
    """Per rep and quota period: quota, bookings of the won deals whose close date the period
    [start, end) contains, attainment, the 1/0 counts; a won deal outside every quota period of its rep
    makes a row of its calendar quarter without quota (bookings 0 where a quota has no won deal)."""
    opps = deals(landing)
    won = opps[opps["is_won"]].copy()
    quotas = quota_periods(landing)
    pairs = won.reset_index().merge(quotas, on="rep_id")
    inside = pairs[
        (pairs["close_date"] >= pairs["period_start"]) & (pairs["close_date"] < pairs["period_end"])
    ]
    booked = inside.groupby(["rep_id", "period_start"], as_index=False).agg(
        bookings=("amount_corporate", "sum"), won_deal_count=("amount_corporate", "size")
    )
    with_quota = quotas.merge(booked, on=["rep_id", "period_start"], how="left")
    with_quota[["bookings", "won_deal_count"]] = with_quota[["bookings", "won_deal_count"]].fillna(0)
    outside = won[~won.index.isin(inside["index"])]
    outside = outside.assign(period_start=quarter_start(outside["close_date"]))
    without_quota = outside.groupby(["rep_id", "period_start"], as_index=False).agg(
        bookings=("amount_corporate", "sum"), won_deal_count=("amount_corporate", "size")
    )
    without_quota = without_quota.assign(period_end=without_quota["period_start"] + QUARTER, quota=np.nan)
    rows = pd.concat([with_quota, without_quota], ignore_index=True)
    has_quota = rows["quota"] > 0
    return pd.DataFrame(
        {
            "rep_id": rows["rep_id"],
            "period_start": rows["period_start"],
            "period_end": rows["period_end"].dt.strftime("%Y-%m-%d"),
            "quota_amount_corporate": rows["quota"],
            "bookings_amount_corporate": rows["bookings"],
            "won_deal_count": rows["won_deal_count"],
            "quota_attainment": safe_ratio(rows["bookings"], rows["quota"]),
            "has_quota_count": has_quota.astype(int),
            "is_at_quota_count": (has_quota & (rows["bookings"] >= rows["quota"])).astype(int),
            "territory_id": rows["rep_id"].map(rep_territories(landing)),
        }
    )


def expected_pipeline_coverage(landing: Path, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per rep (with a deal or a quota) for the current period (the rep's quota period containing the
    reporting date, else its calendar quarter) and the next (the quota period containing the day the
    current one ends, else the quarter from there): open deals with close date in the period, quota,
    bookings up to the reporting date, remaining quota clipped at 0, coverage = open / remaining.
    A rep-period with no open deal, no booking and no quota has no row. ``as_of``: var as_of_date."""
    opps = deals(landing)
    as_of = as_of_date(landing, opps) if as_of is None else as_of
    quotas = quota_periods(landing)
    calendar_start = quarter_start(pd.Series([as_of])).iloc[0]
    rows = []
    for rep in sorted(set(opps["rep_id"]) | set(quotas["rep_id"])):
        own = quotas[quotas["rep_id"] == rep]
        start, end = calendar_start, calendar_start + QUARTER
        for offset in (0, 1):
            day = as_of if offset == 0 else end
            containing = own[(own["period_start"] <= day) & (own["period_end"] > day)]
            if offset == 1:
                start, end = end, end + QUARTER
            quota = np.nan
            if len(containing):
                start, end = containing["period_start"].iloc[0], containing["period_end"].iloc[0]
                quota = containing["quota"].sum()
            mine = opps[(opps["rep_id"] == rep) & (opps["close_date"] >= start) & (opps["close_date"] < end)]
            open_deals = mine[~mine["is_closed"]]
            booked = mine[mine["is_won"] & (mine["close_date"] <= as_of)]
            if open_deals.empty and booked.empty and np.isnan(quota):
                continue
            bookings = booked["amount_corporate"].sum()
            remaining = np.nan if np.isnan(quota) else max(quota - bookings, 0.0)
            rows.append(
                {
                    "rep_id": rep,
                    "period_offset": offset,
                    "period_start": start,
                    "period_end": end.strftime("%Y-%m-%d"),
                    "as_of_date": as_of.strftime("%Y-%m-%d"),
                    "open_opportunity_count": len(open_deals),
                    "open_pipeline_amount_corporate": open_deals["amount_corporate"].sum(),
                    "quota_amount_corporate": quota,
                    "bookings_to_date_amount_corporate": bookings,
                    "remaining_quota_amount_corporate": remaining,
                }
            )
    frame = pd.DataFrame(rows)
    frame["pipeline_coverage_ratio"] = safe_ratio(
        frame["open_pipeline_amount_corporate"], frame["remaining_quota_amount_corporate"]
    )
    return frame


def expected_sales_velocity(landing: Path, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per rep and segment: deals open now (any close date); deals closed in the trailing 4 quarters,
    close date in (as_of - 12 months, as_of]; won amount and cycle over the won ones of that window;
    velocity = open x win rate x avg deal size / avg cycle, NULL unless deal size and cycle are > 0.
    ``as_of``: var as_of_date."""
    opps = deals(landing)
    as_of = as_of_date(landing, opps) if as_of is None else as_of
    window_start = as_of - pd.DateOffset(months=12)  # exclusive
    closed = opps["is_closed"] & (opps["close_date"] > window_start) & (opps["close_date"] <= as_of)
    won = closed & opps["is_won"]
    parts = opps.assign(
        is_open=~opps["is_closed"],
        is_closed_in_window=closed,
        is_won_in_window=won,
        won_amount=opps["amount_corporate"].where(won),
        won_cycle=opps["cycle_days"].where(won),
    )
    grouped = parts.groupby(["rep_id", "segment"], as_index=False).agg(
        open_opportunity_count=("is_open", "sum"),
        closed_count=("is_closed_in_window", "sum"),
        won_count=("is_won_in_window", "sum"),
        won_amount_corporate=("won_amount", "sum"),
        won_with_amount_count=("won_amount", "count"),
        won_cycle_days_sum=("won_cycle", "sum"),
        won_with_cycle_count=("won_cycle", "count"),
    )
    grouped = grouped[(grouped["open_opportunity_count"] > 0) | (grouped["closed_count"] > 0)].copy()
    grouped["as_of_date"] = as_of.strftime("%Y-%m-%d")
    grouped["window_start_date"] = (window_start + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    grouped["win_rate"] = safe_ratio(grouped["won_count"], grouped["closed_count"])
    grouped["avg_deal_size_corporate"] = safe_ratio(
        grouped["won_amount_corporate"], grouped["won_with_amount_count"]
    )
    grouped["avg_sales_cycle_days"] = safe_ratio(
        grouped["won_cycle_days_sum"], grouped["won_with_cycle_count"]
    )
    size, cycle = grouped["avg_deal_size_corporate"], grouped["avg_sales_cycle_days"]
    velocity = grouped["open_opportunity_count"] * grouped["win_rate"] * size / cycle
    grouped["sales_velocity_corporate_per_day"] = velocity.where((size > 0) & (cycle > 0))
    return grouped


def lead_milestones(landing: Path) -> pd.DataFrame:
    """Per live lead: source, cohort month, current lifecycle stage, and when it first reached MQL and
    SQL. Lifecycle steps are the status at creation (the first Status change's OldValue, else the
    current Status of a lead that did not convert) and every Status change of LeadHistory, mapped with
    seeds/lead_statuses.csv (lead 1, mql 2, sql 3, converted 4, disqualified 0 never counts). Reached X
    = first step at X or later; a conversion reaches SQL; a conversion known only from IsConverted +
    ConvertedDate is dated at the lead's MQL/SQL milestone of that day, else midnight of ConvertedDate;
    a lead never at an MQL status that reached SQL or converted skipped MQL and reached MQL when it
    reached SQL."""
    statuses = pd.read_csv(SEEDS / "lead_statuses.csv", dtype=str)
    order = pd.Series(pd.to_numeric(statuses["lifecycle_order"]).to_numpy(), index=statuses["status"])
    stage = pd.Series(statuses["lifecycle_stage"].to_numpy(), index=statuses["status"])
    leads = live_records(read_object(landing, "Lead")).reset_index(drop=True)
    leads["created_at"] = naive_utc(leads["CreatedDate"])
    history = latest_by_extract(read_object(landing, "LeadHistory"), "Id")
    changes = history[history["Field"] == "Status"].assign(at=lambda h: naive_utc(h["CreatedDate"]))
    changes = changes.sort_values(["LeadId", "at", "Id"])
    first_old = changes.drop_duplicates("LeadId").set_index("LeadId")["OldValue"]
    # without a Status change the status at creation is the current one, unless the lead converted
    # (its status changed then): such a lead's creation status is unknown, its conversion day tells
    converted = flag(leads["IsConverted"])
    initial = leads["Id"].map(first_old).fillna(leads["Status"].where(~converted))
    steps = pd.concat(
        [
            pd.DataFrame({"lead": leads["Id"], "status": initial, "at": leads["created_at"]}),
            pd.DataFrame({"lead": changes["LeadId"], "status": changes["NewValue"], "at": changes["at"]}),
        ]
    )
    steps["order"] = steps["status"].map(order)
    steps["stage"] = steps["status"].map(stage)

    def first_at(min_order: int) -> pd.Series:
        return steps[steps["order"] >= min_order].groupby("lead")["at"].min()

    ids = leads["Id"]
    mql, sql = ids.map(first_at(2)), ids.map(first_at(3))
    was_at_mql = ids.isin(steps.loc[steps["stage"] == "mql", "lead"])
    converted_date = pd.to_datetime(leads["ConvertedDate"], format="%Y-%m-%d")
    reached = sql.fillna(mql)
    same_day = reached.notna() & (reached.dt.normalize() == converted_date)
    converted_day_at = reached.where(same_day | converted_date.isna(), converted_date).where(converted)
    mql_at = mql.fillna(converted_day_at)
    reached_sql_at = sql.fillna(converted_day_at).fillna(ids.map(first_at(4)))
    current = leads["Status"].map(stage)
    return pd.DataFrame(
        {
            "lead_source": leads["LeadSource"],
            "cohort_month": leads["created_at"].dt.to_period("M").dt.start_time,
            "is_converted": converted | (current == "converted"),
            "is_disqualified": current == "disqualified",
            "mql_at": mql_at,
            "reached_sql_at": reached_sql_at,
            "is_mql_skipped": (mql.notna() | converted) & ~was_at_mql,
        }
    )


def expected_lead_funnel(landing: Path) -> pd.DataFrame:
    """Per month and lead source: the created-month cohort counts, and the MQL counts dated by the month
    the lead reached MQL (reached SQL at any time later; skippers counted apart and left out of the median
    days, which are fractional days from first MQL to first SQL)."""
    leads = lead_milestones(landing)
    keys = ["month_start", "lead_source"]
    cohorts = (
        leads[leads["cohort_month"].notna()]  # a lead without CreatedDate has no cohort
        .rename(columns={"cohort_month": "month_start"})
        .groupby(keys, as_index=False, dropna=False)
        .agg(
            leads_created_count=("is_converted", "size"),
            leads_converted_count=("is_converted", "sum"),
            leads_disqualified_count=("is_disqualified", "sum"),
        )
    )
    mqls = leads[leads["mql_at"].notna()].copy()
    mqls["month_start"] = mqls["mql_at"].dt.to_period("M").dt.start_time
    days = (mqls["reached_sql_at"] - mqls["mql_at"]).dt.total_seconds() / 86400.0
    mqls["days"] = days.where((days >= 0) & ~mqls["is_mql_skipped"])
    mql_months = mqls.groupby(keys, as_index=False, dropna=False).agg(
        leads_reached_mql_count=("mql_at", "size"),
        mql_reached_sql_count=("reached_sql_at", "count"),
        mql_skipped_count=("is_mql_skipped", "sum"),
        median_days_mql_to_sql=("days", "median"),
    )
    funnel = cohorts.merge(mql_months, on=keys, how="outer")
    counts = [c for c in funnel.columns if c.endswith("_count")]
    funnel[counts] = funnel[counts].fillna(0).astype(int)
    funnel["lead_conversion_rate"] = safe_ratio(
        funnel["leads_converted_count"], funnel["leads_created_count"]
    )
    funnel["mql_to_sql_rate"] = safe_ratio(funnel["mql_reached_sql_count"], funnel["leads_reached_mql_count"])
    return funnel


def stage_catalog() -> pd.DataFrame:
    stages = pd.read_csv(SEEDS / "opportunity_stages.csv", dtype=str)
    return stages.assign(
        stage_order=pd.to_numeric(stages["stage_order"]),
        is_closed=flag(stages["is_closed"]),
        is_won=flag(stages["is_won"]),
    )


def expected_stage_bottlenecks(landing: Path) -> pd.DataFrame:
    """Per open stage and quarter: the completed stays in the stage (entered by a stage change of
    OpportunityHistory, left by the next change; dated by the quarter they ended), their count, total,
    mean, median and p90 fractional days; losses = moves from the stage into a lost stage, dated by the
    move; the largest-loss and longest-median-dwell flags per quarter (ties all flagged, never for 0)."""
    stages = stage_catalog()
    open_order = stages[~stages["is_closed"]].set_index("stage_name")["stage_order"]
    lost_stages = set(stages.loc[stages["is_closed"] & ~stages["is_won"], "stage_name"])
    live_opps = set(live_records(read_object(landing, "Opportunity"))["Id"])
    history = live_records(read_object(landing, "OpportunityHistory"))
    history = history[history["OpportunityId"].isin(live_opps)].assign(
        at=lambda h: naive_utc(h["CreatedDate"])
    )
    history = history.sort_values(["OpportunityId", "at", "Id"])
    previous = history.groupby("OpportunityId")["StageName"].shift()
    entries = history[previous.isna() | (history["StageName"] != previous)].copy()
    by_opp = entries.groupby("OpportunityId")
    entries["from_stage"], entries["exited_at"] = by_opp["StageName"].shift(), by_opp["at"].shift(-1)

    stays = entries[entries["StageName"].isin(open_order.index) & entries["exited_at"].notna()]
    stays = stays.assign(
        quarter_start=quarter_start(stays["exited_at"]),
        days=(stays["exited_at"] - stays["at"]).dt.total_seconds() / 86400.0,
    )
    dwell = stays.groupby(["quarter_start", "StageName"])["days"].agg(
        completed_stay_count="size",
        total_days_in_stage="sum",
        median_days_in_stage="median",
        p90_days_in_stage=lambda d: d.quantile(0.9),
    )
    moves = entries[entries["StageName"].isin(lost_stages) & entries["from_stage"].isin(open_order.index)]
    losses = (
        moves.assign(quarter_start=quarter_start(moves["at"])).groupby(["quarter_start", "from_stage"]).size()
    )
    losses.index = losses.index.set_names(["quarter_start", "StageName"])
    frame = dwell.join(losses.rename("lost_count"), how="outer").reset_index()
    frame = frame.rename(columns={"StageName": "stage_name"})
    frame[["completed_stay_count", "lost_count"]] = (
        frame[["completed_stay_count", "lost_count"]].fillna(0).astype(int)
    )
    frame["total_days_in_stage"] = frame["total_days_in_stage"].fillna(0.0)
    frame["stage_order"] = frame["stage_name"].map(open_order)
    frame["avg_days_in_stage"] = safe_ratio(frame["total_days_in_stage"], frame["completed_stay_count"])
    frame["stage_loss_rate"] = safe_ratio(frame["lost_count"], frame["completed_stay_count"])
    per_quarter = frame.groupby("quarter_start")
    max_lost, max_median = (
        per_quarter["lost_count"].transform("max"),
        per_quarter["median_days_in_stage"].transform("max"),
    )
    frame["is_largest_loss_stage"] = (max_lost > 0) & (frame["lost_count"] == max_lost)
    frame["is_longest_dwell_stage"] = (max_median > 0) & (frame["median_days_in_stage"] == max_median)
    return frame


def expected_territory_balance(landing: Path) -> pd.DataFrame:
    """Per territory and calendar quarter: accounts assigned to it (its own ObjectTerritory2Association
    with the smallest Id, else its owner's territory), its active reps, and the open pipeline (by close
    quarter), bookings (won, by close quarter) and quotas (by the quarter the period starts in) of those
    same reps; attainment; per-rep values; index = per-rep value / unweighted mean over the quarter's
    territories with reps; out of band when |index - 1| > 0.25 (an index on the edge is in band).
    Territories with nothing have no row."""
    territories = latest_by_extract(read_object(landing, "Territory2"), "Id")
    users = live_records(read_object(landing, "User"))
    rep_territory = rep_territories(landing)
    active = users.loc[flag(users["IsActive"].fillna("true")), "Id"]
    members = pd.Series(active.map(rep_territory).to_numpy(), index=active.to_numpy()).dropna()
    accounts = live_records(read_object(landing, "Account"))
    assoc = latest_by_extract(read_object(landing, "ObjectTerritory2Association"), "Id")
    own = assoc.sort_values("Id").drop_duplicates("ObjectId").set_index("ObjectId")["Territory2Id"]
    account_territory = accounts["Id"].map(own).fillna(accounts["OwnerId"].map(rep_territory))

    opps = deals(landing)
    opps = opps[opps["rep_id"].isin(members.index) & (opps["is_won"] | ~opps["is_closed"])]
    opps = opps.assign(
        territory_id=opps["rep_id"].map(members),
        quarter_start=quarter_start(opps["close_date"]),
        open_amount=opps["amount_corporate"].where(~opps["is_closed"], 0.0),
        won_amount=opps["amount_corporate"].where(opps["is_won"], 0.0),
    )
    amounts = opps.groupby(["territory_id", "quarter_start"]).agg(
        open_pipeline_amount_corporate=("open_amount", "sum"), bookings_amount_corporate=("won_amount", "sum")
    )
    quotas = quota_rows(landing)
    quotas = quotas[quotas["rep_id"].isin(members.index)]
    quotas = quotas.assign(
        territory_id=quotas["rep_id"].map(members), quarter_start=quarter_start(quotas["period_start"])
    )
    quota = quotas.groupby(["territory_id", "quarter_start"])["quota"].sum().rename("quota_amount_corporate")

    quarters = sorted(set(amounts.index.get_level_values(1)) | set(quota.index.get_level_values(1)))
    grid = pd.MultiIndex.from_product([territories["Id"], quarters], names=["territory_id", "quarter_start"])
    frame = pd.DataFrame(index=grid).join(amounts).join(quota).fillna(0.0).reset_index()
    frame["territory_name"] = frame["territory_id"].map(territories.set_index("Id")["Name"])
    frame["account_count"] = frame["territory_id"].map(account_territory.value_counts()).fillna(0).astype(int)
    frame["rep_count"] = frame["territory_id"].map(members.value_counts()).fillna(0).astype(int)
    amount_columns = ["open_pipeline_amount_corporate", "bookings_amount_corporate", "quota_amount_corporate"]
    keep = (frame[["rep_count", "account_count"]] > 0).any(axis=1) | (frame[amount_columns] != 0).any(axis=1)
    frame = frame[keep].copy()
    frame["quota_attainment"] = safe_ratio(
        frame["bookings_amount_corporate"], frame["quota_amount_corporate"]
    )
    per_rep = {
        "accounts": ("accounts_per_rep", "account_count"),
        "open_pipeline": ("open_pipeline_per_rep_corporate", "open_pipeline_amount_corporate"),
        "bookings": ("bookings_per_rep_corporate", "bookings_amount_corporate"),
        "quota": ("quota_per_rep_corporate", "quota_amount_corporate"),
    }
    for name, (column, total) in per_rep.items():
        frame[column] = safe_ratio(frame[total], frame["rep_count"])
        index = safe_ratio(frame[column], frame.groupby("quarter_start")[column].transform("mean"))
        frame[f"{column.removesuffix('_corporate')}_index"] = index
        # the band's edge is in band; 1e-9 absorbs the double rounding of an index such as 11 / 10
        frame[f"is_{name}_out_of_band"] = ((index - 1).abs() > TERRITORY_BALANCE_BAND + 1e-9).fillna(False)
    frame["is_out_of_band"] = frame[[f"is_{name}_out_of_band" for name in per_rep]].any(axis=1)
    return frame


# ---------------------------------------------------------------------------------------------- tests


def test_quota_attainment_matches_landing_files(built: tuple[Path, Path]) -> None:
    """Every rep x quota period: quota, bookings, won deals, attainment, the at-quota counts, territory;
    and % of reps at quota in one quarter."""
    landing, warehouse = built
    expected = expected_quota_attainment(landing)
    assert (expected["has_quota_count"] == 1).any() and (expected["has_quota_count"] == 0).any()
    actual = mart_frame(warehouse, "select * from marts.kpi_quota_attainment")
    actual["period_end"] = actual["period_end"].astype(str)
    assert_rows_match(expected, actual, ["rep_id", "period_start"])
    quarter = expected[expected["period_start"] == ACTIVE_QUARTER]
    at_quota = quarter["is_at_quota_count"].sum() / quarter["has_quota_count"].sum()
    assert 0 < at_quota < 1
    mart_share = mart_frame(
        warehouse,
        "select sum(is_at_quota_count) * 1.0 / sum(has_quota_count) as share from marts.kpi_quota_attainment "
        f"where period_start = date '{ACTIVE_QUARTER.date().isoformat()}'",
    )["share"].iloc[0]
    assert mart_share == pytest.approx(at_quota, rel=1e-12)


def assert_pipeline_coverage(
    landing: Path, warehouse: Path, as_of: pd.Timestamp | None = None
) -> pd.DataFrame:
    expected = expected_pipeline_coverage(landing, as_of)
    actual = mart_frame(warehouse, "select * from marts.kpi_pipeline_coverage")
    assert set(actual["period_label"]) == {"current", "next"}
    assert (actual["period_label"] == actual["period_offset"].map({0: "current", 1: "next"})).all()
    actual[["period_end", "as_of_date"]] = actual[["period_end", "as_of_date"]].astype(str)
    assert_rows_match(expected, actual, ["rep_id", "period_offset"])
    return expected


def assert_sales_velocity(landing: Path, warehouse: Path, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    expected = expected_sales_velocity(landing, as_of)
    actual = mart_frame(warehouse, "select * from marts.kpi_sales_velocity")
    actual[["as_of_date", "window_start_date"]] = actual[["as_of_date", "window_start_date"]].astype(str)
    rounded = {"avg_deal_size_corporate": HALF_CENT, "sales_velocity_corporate_per_day": HALF_CENT}
    assert_rows_match(expected, actual, ["rep_id", "segment"], atol=rounded)
    totals = expected.drop(columns=["rep_id", "segment"]).sum(numeric_only=True)
    company = (
        totals["open_opportunity_count"]
        * (totals["won_count"] / totals["closed_count"])
        * (totals["won_amount_corporate"] / totals["won_with_amount_count"])
        / (totals["won_cycle_days_sum"] / totals["won_with_cycle_count"])
    )
    mart_company = mart_frame(
        warehouse,
        "select sum(open_opportunity_count) * (sum(won_count) * 1.0 / sum(closed_count))"
        " * (sum(won_amount_corporate) / sum(won_with_amount_count))"
        " / (sum(won_cycle_days_sum) * 1.0 / sum(won_with_cycle_count)) as v from marts.kpi_sales_velocity",
    )["v"].iloc[0]
    assert float(mart_company) == pytest.approx(company, rel=1e-9)
    return expected


def test_pipeline_coverage_matches_landing_files(built: tuple[Path, Path]) -> None:
    """Every rep x current/next period at the default reporting date (the data's last day, 2025-12-31):
    the period, open deals and pipeline, quota, bookings to date, remaining quota (clipped at 0) and the
    coverage ratio."""
    expected = assert_pipeline_coverage(*built)
    assert (
        expected["pipeline_coverage_ratio"].notna().any() and (expected["open_opportunity_count"] > 0).any()
    )


def test_sales_velocity_matches_landing_files(built: tuple[Path, Path]) -> None:
    """Every rep x segment: the window, each component (open, closed, won, won amount, cycle days), the
    three ratios and the velocity; and the company's velocity recomputed from the summed components."""
    expected = assert_sales_velocity(*built)
    assert expected["sales_velocity_corporate_per_day"].gt(0).any()


def test_coverage_and_velocity_at_an_earlier_reporting_date(built: tuple[Path, Path], tmp_path: Path) -> None:
    """var as_of_date mid-quarter (on a copy of the warehouse): the next quota period has quotas too,
    bookings to date stop at the date, the velocity window ends there. Deals are in their current state
    (a deal won after the date is closed, not open), as the definitions say."""
    landing, warehouse = built
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse, copy)
    run_dbt(
        ["run", "--target", "duckdb", "-s", "kpi_pipeline_coverage", "kpi_sales_velocity"]
        + ["--vars", f"{{as_of_date: '{EARLIER_AS_OF.date().isoformat()}'}}"],
        {"SALES_WH_WAREHOUSE": str(copy)},
        tmp_path / "target",
    )
    coverage = assert_pipeline_coverage(landing, copy, EARLIER_AS_OF)
    following = coverage[coverage["period_offset"] == 1]
    assert (following["pipeline_coverage_ratio"] > 0).any()
    assert (coverage["bookings_to_date_amount_corporate"] > 0).any()
    assert_sales_velocity(landing, copy, EARLIER_AS_OF)


def test_lead_funnel_matches_landing_files(built: tuple[Path, Path]) -> None:
    """Every month x lead source: cohort counts (created, converted, disqualified) and conversion rate,
    MQL counts (reached MQL, of them reached SQL, skipped MQL), the MQL->SQL rate and the median days.

    Interpretation (docs/KPI_DEFINITIONS.md, lead funnel and "Odd source data"): a lead's status at
    creation is the OldValue of its first Status change; SQLs reached after the MQL month still count for
    the MQL month; a lead that skipped MQL is dated in the MQL months by the moment it reached SQL."""
    landing, warehouse = built
    expected = expected_lead_funnel(landing)
    assert expected["mql_skipped_count"].sum() > 0 and expected["median_days_mql_to_sql"].notna().any()
    actual = mart_frame(warehouse, "select * from marts.kpi_lead_funnel")
    assert_rows_match(expected, actual, ["month_start", "lead_source"])


def test_stage_bottlenecks_match_landing_files(built: tuple[Path, Path]) -> None:
    """Every quarter x open stage: completed stays, total / mean / median / p90 days, losses, loss rate,
    and the largest-loss and longest-dwell flags."""
    landing, warehouse = built
    expected = expected_stage_bottlenecks(landing)
    quarter = expected[expected["quarter_start"] == ACTIVE_QUARTER]
    assert (
        len(quarter) >= 5
        and quarter["is_largest_loss_stage"].any()
        and quarter["is_longest_dwell_stage"].any()
    )
    actual = mart_frame(warehouse, "select * from marts.kpi_stage_bottlenecks")
    # the total is summed in numeric(28, 6) (kpi_exact_sum): each stay rounded to 1e-6 days
    rounding = {"total_days_in_stage": 1e-3, "avg_days_in_stage": 1e-6}
    assert_rows_match(expected, actual, ["quarter_start", "stage_name"], atol=rounding)


def test_territory_balance_matches_landing_files(built: tuple[Path, Path]) -> None:
    """Every territory x quarter: account and rep counts, the three amounts, attainment, the per-rep
    values, their indexes and every band flag (computed from the expected index, band 0.25)."""
    landing, warehouse = built
    expected = expected_territory_balance(landing)
    quarter = expected[expected["quarter_start"] == ACTIVE_QUARTER]
    assert quarter["is_out_of_band"].any() and not quarter["is_bookings_out_of_band"].all()
    actual = mart_frame(warehouse, "select * from marts.kpi_territory_balance")
    per_rep = ["open_pipeline_per_rep_corporate", "bookings_per_rep_corporate", "quota_per_rep_corporate"]
    keys = ["territory_id", "quarter_start"]
    assert_rows_match(expected, actual, keys, atol=dict.fromkeys(per_rep, HALF_CENT))
