"""Demo-data generator: contract shape, determinism, formats, and the realism the KPIs rely on.

Expected values come from the issue's ranges and from the seeds, recomputed here from the written
files with DuckDB, never from the generator's internals.
"""

from __future__ import annotations

import csv
import hashlib
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.contract import DAILY_OBJECTS, ID_PREFIXES, OBJECTS_BY_NAME, header_key, snake_case
from orchestration.contract import OBJECTS as CONTRACT_OBJECTS
from orchestration.settings import PROJECT_ROOT
from orchestration.tooling.demo_data import generate
from orchestration.tooling.demo_data.dirty import SHARES
from orchestration.tooling.demo_data.writer import MALFORMED, written_fields

START = date(2025, 1, 1)
#: The org's metadata objects are not simulated (the demo's stages and statuses are the seeds'), so the
#: generator writes every contract object but these.
NOT_GENERATED = ("OpportunityStage", "LeadStatus")
OBJECTS = tuple(o for o in CONTRACT_OBJECTS if o.name not in NOT_GENERATED)
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("year")
    return out, generate(out, scale="S", days=365, seed=7, start=START, progress=False)


@pytest.fixture(scope="module")
def db(year: tuple[Path, dict[str, int]]) -> duckdb.DuckDBPyConnection:
    return _open(year[0])


def _open(out: Path) -> duckdb.DuckDBPyConnection:
    """Every object as a view of all its rows (text), with its extract date, and a `latest_` view."""
    con = duckdb.connect()
    for obj in OBJECTS:
        con.execute(
            f"create table {obj.table} as select *, "
            f"cast(regexp_extract(filename, '(\\d{{4}}-\\d{{2}}-\\d{{2}})', 1) "
            f"as date) as extract_date from read_csv('{out}/{obj.name}/*/*.csv', all_varchar = true, "
            "filename = true)"
        )
        key = ", ".join(obj.key)
        order = (
            "SystemModstamp desc, extract_date desc"
            if obj.version_field == "SystemModstamp"
            else ("extract_date desc")
        )
        deleted = (
            "where coalesce(IsDeleted, 'false') = 'false'"
            if any(f.name == "IsDeleted" for f in obj.fields)
            else ""
        )
        con.execute(
            f"create view latest_{obj.table} as select * from (select * from {obj.table} "
            "qualify row_number() "
            f"over (partition by {key} order by {order}) = 1) {deleted}"
        )
    for seed in ("opportunity_stages", "lead_statuses", "activity_types"):
        con.execute(
            f"create view {seed} as select * from read_csv('{PROJECT_ROOT / 'seeds' / (seed + '.csv')}')"
        )
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


# --- shape -------------------------------------------------------------------------------------------


def test_every_object_written_with_contract_columns(year, db) -> None:
    out, rows = year
    for obj in OBJECTS:
        files = sorted((out / obj.name).glob("*/part-0.csv"))
        assert files, obj.name
        with open(files[0], newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        assert header == [f.name for f in written_fields(obj)]
        assert rows[obj.name] == one(db, f"select count(*) from {obj.table}") > 0
        for f in obj.required_fields:
            assert one(db, f'select count(*) from {obj.table} where "{f.name}" is null') == 0, (
                obj.name,
                f.name,
            )


def test_reference_objects_arrive_in_the_first_extract(year) -> None:
    out, _ = year
    for name in (
        "UserRole",
        "Territory2",
        "UserTerritory2Association",
        "ObjectTerritory2Association",
        "CurrencyType",
        "DatedConversionRate",
        "ForecastingQuota",
        "User",
        "Account",
    ):
        assert (out / name / "2025-01-01" / "part-0.csv").exists(), name
    # ... plus later changes of some of them.
    for name in ("User", "Account", "ForecastingQuota", "CurrencyType", "DatedConversionRate"):
        assert len(list((out / name).iterdir())) > 1, name


def test_daily_objects_have_an_extract_every_day(year) -> None:
    """A daily incremental export writes a file every day, header only when nothing changed (freshness
    expects them); objects delivered when they change have days without a file."""
    out, _ = year
    every_day = [(START + timedelta(days=i)).isoformat() for i in range(365)]
    header_only = 0
    for obj in OBJECTS:
        days = sorted(p.name for p in (out / obj.name).iterdir())
        if obj.name not in DAILY_OBJECTS:
            assert days != every_day, obj.name
            continue
        assert days == every_day, obj.name
        for day in days:
            lines = (out / obj.name / day / "part-0.csv").read_text(encoding="utf-8").splitlines()
            assert lines[0].replace('"', "").split(",") == [f.name for f in written_fields(obj)]
            header_only += len(lines) == 1
    assert header_only > 100  # Account changes on about a third of the days


def test_ids_and_value_formats(db) -> None:
    for obj in OBJECTS:
        if obj.key != ("Id",):
            continue
        bad = one(
            db,
            f"select count(*) from {obj.table} where length(Id) <> 18 or "
            f"left(Id, 3) <> '{ID_PREFIXES[obj.name]}'",
        )
        assert bad == 0, obj.name
    opp = db.execute("select * from opportunity").df()
    assert opp["CreatedDate"].str.match(TS).all() and opp["SystemModstamp"].str.match(TS).all()
    assert opp["CloseDate"].str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    assert set(opp["IsWon"]) == {"true", "false"} and set(opp["IsDeleted"]) == {"true", "false"}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    kw = dict(scale="S", days=12, start=START, fmt="mixed", header_style="mixed", progress=False)
    generate(tmp_path / "a", seed=3, **kw)
    generate(tmp_path / "b", seed=3, **kw)
    generate(tmp_path / "c", seed=4, **kw)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "mixed"])
def test_formats_and_snake_headers_read_back(tmp_path: Path, fmt: str) -> None:
    rows = generate(tmp_path, scale="S", days=5, start=START, fmt=fmt, header_style="snake", progress=False)
    con = duckdb.connect()
    for obj in OBJECTS:
        total = 0
        for ext, reader in (("csv", "read_csv"), ("parquet", "read_parquet"), ("jsonl", "read_json")):
            files = list((tmp_path / obj.name).glob(f"*/*.{ext}"))
            if fmt != "mixed":
                assert (ext == fmt) == bool(files) or not files, (obj.name, ext)
            for f in files:
                df = con.execute(f"select * from {reader}('{f}')").df()
                assert list(df.columns) == [snake_case(x.name) for x in written_fields(obj)], f
                total += len(df)
        assert total == rows[obj.name], obj.name


def test_parquet_keeps_types(tmp_path: Path) -> None:
    generate(tmp_path, scale="S", days=2, start=START, fmt="parquet", progress=False)
    con = duckdb.connect()
    desc = con.execute(f"describe select * from '{tmp_path}/Opportunity/*/*.parquet'").fetchall()
    types = {row[0]: row[1] for row in desc}
    assert types["CloseDate"] == "DATE" and types["IsWon"] == "BOOLEAN"
    assert types["Amount"] == "DECIMAL(18,2)" and types["CreatedDate"].startswith("TIMESTAMP")


# --- realism -----------------------------------------------------------------------------------------


def test_role_hierarchy_and_territories(db) -> None:
    users = db.execute("select * from latest_users").df()
    reps = users[users["Title"].str.contains("Account Executive")]
    managers = users[users["Title"] == "Sales Manager"]
    vp = users[users["ManagerId"].isna()]
    assert len(vp) == 1 and len(managers) >= 2 and 20 <= len(reps) <= 30
    assert set(reps["ManagerId"]) <= set(managers["Id"])
    assert set(managers["ManagerId"]) == set(vp["Id"])
    roles = db.execute("select * from latest_user_role").df().set_index("Id")
    for _, rep in reps.iterrows():  # rep role -> manager role -> VP role
        parent = roles.loc[rep["UserRoleId"], "ParentRoleId"]
        assert roles.loc[parent, "ParentRoleId"] == vp["UserRoleId"].iloc[0]
    assert one(db, "select count(*) from latest_territory2 where ParentTerritory2Id is null") == 1
    # Unbalanced: accounts per rep differ a lot between territories.
    per_rep = (
        db.execute("""
        with acc as (select Territory2Id, count(*) as n from latest_object_territory2_association group by 1),
             rep as (select Territory2Id, count(*) as n from latest_user_territory2_association group by 1)
        select acc.n / rep.n from acc join rep using (Territory2Id)""")
        .df()
        .iloc[:, 0]
    )
    assert per_rep.max() / per_rep.min() >= 3


def test_selling_share_near_39_percent_and_differs_by_rep(db) -> None:
    minutes = db.execute("""
        with acts as (
            select t.OwnerId, 'task' as src, t.Type, cast(t.CallDurationInSeconds as double) / 60 as minutes
            from latest_task t
            union all
            select e.OwnerId, 'event', e.Type, cast(e.DurationInMinutes as double) from latest_event e
        )
        select OwnerId, sum(case when s.is_selling then coalesce(minutes, s.default_duration_minutes) end)
                        / sum(coalesce(minutes, s.default_duration_minutes)) as share,
               sum(case when s.is_selling then coalesce(minutes, s.default_duration_minutes) end) as selling,
               sum(coalesce(minutes, s.default_duration_minutes)) as total
        from acts join activity_types s on s.activity_source = acts.src and s.activity_type = acts.Type
        group by 1""").df()
    overall = minutes["selling"].sum() / minutes["total"].sum()
    assert 0.35 <= overall <= 0.45
    assert minutes["share"].max() - minutes["share"].min() > 0.08


def test_activity_types_are_the_seed_types_on_weekdays(db) -> None:
    for table, src in (("task", "task"), ("event", "event")):
        unknown = one(
            db,
            f"select count(*) from {table} where Type not in "
            f"(select activity_type from activity_types where activity_source = '{src}')",
        )
        assert unknown == 0
        weekend = one(
            db, f"select count(*) from {table} where dayofweek(cast(ActivityDate as date)) in (0, 6)"
        )
        assert weekend == 0
    # Customer activities point at an opportunity or an account; non-selling ones at nothing.
    prefixes = set(
        db.execute("select distinct left(WhatId, 3) from task where WhatId is not null").df().iloc[:, 0]
    )
    assert prefixes == {"006", "001"}
    calls = db.execute("select CallDurationInSeconds from task where Type = 'Call'").df().iloc[:, 0]
    assert calls.notna().mean() > 0.5
    events = db.execute("select * from latest_event").df()
    span = (
        pd.to_datetime(events["EndDateTime"]) - pd.to_datetime(events["StartDateTime"])
    ).dt.total_seconds()
    assert (span / 60 == events["DurationInMinutes"].astype(float)).all()


def test_won_deals_had_more_touches_before_close(db) -> None:
    touches = (
        db.execute("""
        with closed as (
            select o.Id, o.IsWon = 'true' as won, cast(o.CloseDate as date) as close_date
            from latest_opportunity o
            where o.IsClosed = 'true' and cast(o.CloseDate as date) >= date '2025-04-01'
        ), acts as (
            select WhatId, cast(ActivityDate as date) as d from latest_task
            union all select WhatId, cast(ActivityDate as date) from latest_event
        )
        select won, count(a.WhatId) / count(distinct c.Id) as per_deal
        from closed c left join acts a on a.WhatId = c.Id and a.d between c.close_date - 90 and c.close_date
        group by won""")
        .df()
        .set_index("won")["per_deal"]
    )
    assert touches[True] > 1.3 * touches[False]


def _rated_won(db) -> str:
    return """
        with rates as (select IsoCode, cast(ConversionRate as double) as rate, cast(StartDate as date) as s,
                              cast(NextStartDate as date) as e from latest_dated_conversion_rate)
        select o.OwnerId, cast(o.CloseDate as date) as close_date, o.CurrencyIsoCode,
               a.Segment__c, cast(o.Amount as double) / r.rate as usd
        from latest_opportunity o
        join latest_account a on a.Id = o.AccountId
        join rates r on r.IsoCode = o.CurrencyIsoCode and cast(o.CloseDate as date) >= r.s
             and cast(o.CloseDate as date) < r.e
        where o.StageName in (select stage_name from opportunity_stages where is_won)"""


def test_reps_at_quota_share_per_full_quarter(db) -> None:
    shares = db.execute(f"""
        with won as ({_rated_won(db)}),
        quota as (select QuotaOwnerId, cast(StartDate as date) as q, cast(QuotaAmount as double) as quota
                  from latest_forecasting_quota)
        select quota.q, avg(case when coalesce(b.bookings, 0) >= quota then 1.0 else 0.0 end) as at_quota
        from quota left join (select OwnerId, date_trunc('quarter', close_date) as q, sum(usd) as bookings
                              from won group by all) b on b.OwnerId = quota.QuotaOwnerId and b.q = quota.q
        group by quota.q order by quota.q""").df()
    assert len(shares) == 4
    assert shares["at_quota"].between(0.3, 0.7).all(), shares


def test_deal_size_grows_with_segment_and_quarter_end_spikes(db) -> None:
    won = db.execute(_rated_won(db)).df()
    med = won.groupby("Segment__c")["usd"].median()
    assert med["SMB"] < med["Mid-Market"] < med["Enterprise"]
    assert won["CurrencyIsoCode"].nunique() >= 4
    close = pd.to_datetime(won["close_date"])
    last_week = ((close + pd.offsets.QuarterEnd(0)) - close).dt.days < 7
    assert last_week.mean() > 2 * 7 / 91


def test_currencies_and_dated_rate_chain(db) -> None:
    ct = db.execute("select * from latest_currency_type").df().set_index("IsoCode")
    assert set(ct.index) == {"USD", "EUR", "GBP", "JPY"}
    assert ct.loc["USD", "IsCorporate"] == "true" and float(ct.loc["USD", "ConversionRate"]) == 1
    assert (ct.drop("USD")["IsCorporate"] == "false").all()
    rates = db.execute("select * from latest_dated_conversion_rate order by IsoCode, StartDate").df()
    for _, g in rates.groupby("IsoCode"):
        assert list(g["NextStartDate"].iloc[:-1]) == list(g["StartDate"].iloc[1:])
        assert g["NextStartDate"].iloc[-1] == "9999-12-31"
        assert g["ConversionRate"].nunique() > 1 or g["IsoCode"].iloc[0] == "USD"


def test_opportunity_history_has_every_change(db) -> None:
    # Every version of an opportunity (each extract row) has its history row with the same values.
    missing = one(
        db,
        """
        select count(*) from opportunity o
        where Id not in (select Id from opportunity where IsDeleted = 'true') and not exists (
            select 1 from opportunity_history h
            where h.OpportunityId = o.Id and h.CreatedDate = o.SystemModstamp
              and h.StageName = o.StageName and h.Amount = o.Amount and h.CloseDate = o.CloseDate)""",
    )
    assert missing == 0
    # The first history row is the creation; consecutive rows differ in stage, amount or close date.
    steps = db.execute("""
        with h as (select distinct OpportunityId, CreatedDate, StageName, Amount, CloseDate
                   from opportunity_history
                   where IsDeleted = 'false'),
        seq as (select *, lag(StageName) over w as prev_stage, lag(Amount) over w as prev_amount,
                       lag(CloseDate) over w as prev_close, row_number() over w as n
                from h window w as (partition by OpportunityId order by CreatedDate))
        select count(*) filter (where n = 1 and StageName <> 'Prospecting') as bad_first,
               count(*) filter (where n > 1 and StageName = prev_stage and Amount = prev_amount
                                and CloseDate = prev_close) as no_change
        from seq""").fetchone()
    assert steps == (0, 0)


def test_funnel_dropoff_regressions_and_bottleneck(db) -> None:
    transitions = db.execute("""
        with h as (select distinct OpportunityId, CreatedDate, StageName from opportunity_history),
        seq as (select h.*, s.stage_order, lag(s.stage_order) over w as prev_order,
                       lag(h.StageName) over w as prev,
                       lead(cast(CreatedDate as timestamp)) over w as next_at
                from h join opportunity_stages s on s.stage_name = h.StageName
                window w as (partition by OpportunityId order by CreatedDate))
        select * from seq""").df()
    moved = transitions.dropna(subset=["prev_order"])
    assert (moved["stage_order"] < moved["prev_order"]).sum() > 20  # regressions
    open_stages = db.execute("select stage_name from opportunity_stages where not is_closed").df().iloc[:, 0]
    lost_from = set(moved.loc[moved["StageName"] == "Closed Lost", "prev"])
    assert set(open_stages) <= lost_from  # drop-off at every open stage
    changes = transitions[transitions["StageName"] != transitions["prev"]].copy()
    changes["next_change"] = changes.groupby("OpportunityId")["CreatedDate"].shift(-1)
    changes["days"] = (
        pd.to_datetime(changes["next_change"]) - pd.to_datetime(changes["CreatedDate"])
    ).dt.total_seconds() / 86400
    dwell = changes[changes["StageName"].isin(open_stages)].groupby("StageName")["days"].median()
    assert dwell.max() >= 1.8 * dwell.drop(dwell.idxmax()).median()


def test_leads_walk_the_status_seed(db) -> None:
    statuses = set(db.execute("select status from lead_statuses").df().iloc[:, 0])
    assert set(db.execute("select distinct Status from lead").df().iloc[:, 0]) <= statuses
    hist = db.execute("select * from lead_history where Field = 'Status'").df()
    assert set(hist["NewValue"]) <= statuses and set(hist["OldValue"]) <= statuses
    assert ((hist["OldValue"] == "Working - Contacted") & (hist["NewValue"] == "Sales Qualified")).sum() > 0
    dropped_from = set(hist.loc[hist["NewValue"] == "Closed - Not Converted", "OldValue"])
    assert {"Working - Contacted", "Marketing Qualified", "Sales Qualified"} <= dropped_from
    conv = db.execute("""select count(*), count(o.Id),
                                count(*) filter (where l.ConvertedAccountId = o.AccountId)
                         from latest_lead l left join opportunity o on o.Id = l.ConvertedOpportunityId
                         where l.IsConverted = 'true'""").fetchone()
    assert conv[0] > 100 and conv[0] == conv[1] == conv[2]
    rate = one(db, "select avg(case when IsConverted = 'true' then 1.0 else 0 end) from latest_lead")
    assert 0.05 < rate < 0.3


def test_dirt_duplicates_late_rows_and_deletions(db) -> None:
    for table in ("opportunity", "task", "lead"):
        dupes = one(
            db,
            f"select count(*) - (select count(*) from (select distinct * exclude (filename, "
            f"extract_date) from {table})) from {table}",
        )
        assert dupes > 0, table
        late = one(
            db,
            f"select count(*) from {table} where extract_date > date '2025-01-01' and "
            "cast(left(SystemModstamp, 10) as date) < extract_date - 1",
        )
        assert late > 0, table
        remodified = one(
            db,
            f"select count(*) from (select Id from {table} group by Id "
            "having count(distinct extract_date) > 1)",
        )
        assert remodified > 0, table
    for table in ("opportunity", "task", "event", "lead"):
        assert one(db, f"select count(*) from {table} where IsDeleted = 'true'") > 0, table
    undeleted = one(
        db,
        """select count(*) from opportunity d join opportunity u on u.Id = d.Id
                           where d.IsDeleted = 'true' and u.IsDeleted = 'false'
                             and u.SystemModstamp > d.SystemModstamp""",
    )
    assert undeleted > 0


def test_no_row_lands_before_its_stamp(db) -> None:
    # A late or duplicated row may land in a later extract, never in one before its SystemModstamp
    # (a row stamped after the last extract belongs to no extract of the window).
    for obj in OBJECTS:
        if obj.version_field != "SystemModstamp":
            continue
        early = one(
            db,
            f"select count(*) from {obj.table} where cast(left(SystemModstamp, 10) as date) > extract_date",
        )
        assert early == 0, obj.name


def test_malformed_rows_are_announced(tmp_path: Path) -> None:
    rows = generate(tmp_path, scale="S", days=20, start=START, malformed=True, progress=False)
    assert rows["malformed"] > 0
    con = duckdb.connect()
    found = 0
    for obj in OBJECTS:
        df = con.execute(f"select * from read_csv('{tmp_path}/{obj.name}/*/*.csv', all_varchar = true)").df()
        bad = pd.Series(False, index=df.index)
        # Cells a malformed row leaves empty (fields the contract once required; real rows fill them).
        emptied = {name for name, value in MALFORMED.get(obj.name, ()) if value is None}
        for f in written_fields(obj):
            col = df[f.name]
            if f.required or f.name in emptied:
                bad |= col.isna()
            if f.type in ("date", "timestamp"):
                bad |= col.notna() & pd.to_datetime(col.str[:19], format="mixed", errors="coerce").isna()
            if f.type in ("integer", "amount", "number", "rate"):
                bad |= col.notna() & pd.to_numeric(col, errors="coerce").isna()
            if f.type == "boolean":
                bad |= col.notna() & ~col.isin(["true", "false"])
        assert int(bad.sum()) == rows.get(f"malformed.{obj.name}", 0), obj.name
        found += int(bad.sum())
    assert found == rows["malformed"]


# --- dirty mode ----------------------------------------------------------------------------------------

#: Opportunities closed up to this day can be "migrated" (created 1-30 days after they closed).
MIGRATION_LAST_CLOSE = START + timedelta(days=365 - 31)
#: A dated rate whose range stays open-ended while a later one of its currency exists.
_OPEN_OVERLAP = """select IsoCode, StartDate from dated_conversion_rate d group by IsoCode, StartDate
    having bool_and(NextStartDate = '9999-12-31')
       and StartDate < (select max(StartDate) from dated_conversion_rate m where m.IsoCode = d.IsoCode)"""
_STAGES = (
    "(select OpportunityId as id, StageName as s from opportunity_history "
    "union all select Id, StageName from opportunity)"
)

#: Dirty kind -> (records of that kind in the files, records it picks from), counted over ALL rows of
#: the files (each version; deleted records too), from the values alone.
DIRTY_COUNTS = {
    "opportunity_unknown_open_stage": (
        f"select count(distinct id) from {_STAGES} where s = 'Legal Review'",
        f"select count(distinct id) from {_STAGES} where s in ('Legal Review', 'Negotiation/Review')",
    ),
    "opportunity_unknown_lost_stage": (
        "select count(distinct Id) from opportunity where StageName = 'Closed - Duplicate'",
        "select count(distinct Id) from opportunity where StageName in ('Closed - Duplicate', 'Closed Lost')",
    ),
    "opportunity_unknown_won_stage": (
        "select count(distinct Id) from opportunity where StageName = 'Closed - Signed'",
        "select count(distinct Id) from opportunity where StageName in ('Closed - Signed', 'Closed Won')",
    ),
    "opportunity_closed_before_created": (
        "select count(distinct Id) from opportunity "
        "where cast(CreatedDate as date) > cast(CloseDate as date)",
        "select count(distinct Id) from opportunity where IsClosed = 'true' "
        f"and cast(CloseDate as date) <= date '{MIGRATION_LAST_CLOSE}'",
    ),
    "opportunity_negative_amount": (
        "select count(distinct Id) from opportunity where cast(Amount as double) < 0",
        "select count(distinct Id) from opportunity",
    ),
    "opportunity_null_amount": (
        "select count(*) from (select Id from opportunity group by Id having count(Amount) = 0)",
        "select count(distinct Id) from opportunity",
    ),
    "opportunity_close_date_years_ahead": (
        "select count(distinct Id) from opportunity "
        "where cast(CloseDate as date) > cast(CreatedDate as date) + interval 5 year",
        "select count(*) from (select Id from opportunity group by Id "
        "having count(*) filter (where IsClosed = 'true') = 0)",
    ),
    "task_unknown_type": (
        "select count(distinct Id) from task where Type = 'Webinar Follow-up' and TaskSubtype is null",
        "select count(distinct Id) from task",
    ),
    "task_zero_call_duration": (
        "select count(distinct Id) from task where cast(CallDurationInSeconds as double) = 0",
        "select count(distinct Id) from task where CallDurationInSeconds is not null",
    ),
    "event_unknown_type": (
        "select count(distinct Id) from event where Type = 'Conference'",
        "select count(distinct Id) from event",
    ),
    "event_missing_duration": (
        "select count(*) from (select Id from event group by Id having count(DurationInMinutes) = 0)",
        "select count(distinct Id) from event",
    ),
    "event_zero_duration": (
        "select count(distinct Id) from event where cast(DurationInMinutes as double) = 0 "
        "and EndDateTime = StartDateTime",
        "select count(distinct Id) from event",
    ),
    "lead_converted_without_history": (
        "select count(distinct Id) from lead where IsConverted = 'true' "
        "and Id not in (select LeadId from lead_history)",
        "select count(distinct Id) from lead where IsConverted = 'true'",
    ),
    "lead_unknown_status": (
        "select count(distinct Id) from lead where Status = 'Recycled'",
        "select count(distinct Id) from lead where Status in ('Recycled', 'Closed - Not Converted')",
    ),
    "dated_rate_overlapping": (
        f"select count(*) from ({_OPEN_OVERLAP})",
        # the updates closing a non-corporate rate (after the first extract), plus those left out
        "select count(*) from (select IsoCode, StartDate from dated_conversion_rate "
        f"where extract_date > date '{START}' and NextStartDate <> '9999-12-31' and IsoCode <> 'USD' "
        f"union {_OPEN_OVERLAP})",
    ),
}


@pytest.fixture(scope="module")
def dirty_year(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, int], duckdb.DuckDBPyConnection]:
    out = tmp_path_factory.mktemp("dirty")
    rows = generate(out, scale="S", days=365, seed=7, start=START, dirty=True, progress=False)
    return rows, _open(out)


def test_every_dirty_kind_is_counted_here() -> None:
    assert set(DIRTY_COUNTS) == set(SHARES)


@pytest.mark.parametrize("kind", sorted(DIRTY_COUNTS))
def test_clean_mode_has_no_odd_records(db, kind: str) -> None:
    odd, candidates = (one(db, sql) for sql in DIRTY_COUNTS[kind])
    assert (odd, candidates > 0) == (0, True)


@pytest.mark.parametrize("kind", sorted(DIRTY_COUNTS))
def test_dirty_mode_plants_its_stated_share(dirty_year, kind: str) -> None:
    """Exactly max(1, round(share x candidates)) records of each kind, as the result says."""
    rows, con = dirty_year
    odd, candidates = (one(con, sql) for sql in DIRTY_COUNTS[kind])
    assert candidates > 0
    assert odd == max(1, round(SHARES[kind] * candidates)) == rows[f"dirty.{kind}"]


def test_dirty_mode_events_without_duration_come_in_three_shapes(dirty_year) -> None:
    _, con = dirty_year
    shapes = dict(
        con.execute("""
            select case when EndDateTime is null then 'no end'
                        when EndDateTime < StartDateTime then 'ends before it starts'
                        else 'end kept' end, count(distinct Id)
            from event where DurationInMinutes is null group by 1""").fetchall()
    )
    assert set(shapes) == {"no end", "ends before it starts", "end kept"}
    assert max(shapes.values()) - min(shapes.values()) <= 1


def test_dirty_mode_adds_no_rows(year, dirty_year) -> None:
    """Dirty mode changes values of a few records, never adds rows; LeadHistory and the rates lose
    the rows it leaves out."""
    _, clean = year
    dirty, _ = dirty_year
    for obj in OBJECTS:
        if obj.name in ("LeadHistory", "DatedConversionRate"):
            assert dirty[obj.name] < clean[obj.name], obj.name
        else:
            assert dirty[obj.name] == clean[obj.name], obj.name


def test_dirty_mode_is_deterministic(tmp_path: Path) -> None:
    kw = dict(scale="S", days=40, start=START, progress=False, dirty=True)
    generate(tmp_path / "a", seed=3, **kw)
    generate(tmp_path / "b", seed=3, **kw)
    generate(tmp_path / "c", seed=4, **kw)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


# --- writer internals ----------------------------------------------------------------------------------


def test_timestamp_text_matches_python_datetime() -> None:
    from datetime import UTC, datetime, timedelta

    import numpy as np

    from orchestration.tooling.demo_data.text import format_timestamps

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    moments = [
        epoch,
        datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),  # leap day, last millisecond
        datetime(2025, 1, 1, 0, 0, 0, 123000, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),  # before the epoch
        datetime(2100, 3, 1, 12, 0, tzinfo=UTC),  # 2100 is not a leap year
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
    ms = np.array([(m - epoch) // timedelta(milliseconds=1) for m in moments] + [0], dtype=np.int64)
    null = np.array([False] * len(moments) + [True])
    got = format_timestamps(ms, null).to_pylist()
    want = [m.strftime("%Y-%m-%dT%H:%M:%S.") + f"{m.microsecond // 1000:03d}+0000" for m in moments]
    assert got == [*want, None]


def test_chunked_writing_gives_the_same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.tooling.demo_data import writer

    kw = dict(scale="S", days=10, seed=5, start=START, fmt="mixed", header_style="mixed", progress=False)
    whole = generate(tmp_path / "whole", **kw)
    monkeypatch.setattr(writer, "CHUNK_ROWS", 500)  # every object in many chunks of a few days
    chunked = generate(tmp_path / "chunked", **kw)
    assert whole == chunked
    assert _digest(tmp_path / "whole") == _digest(tmp_path / "chunked")


# --- export dialects -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dialects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 6 days (seed 11) in the default shape and in each dialect."""
    out = {}
    for d in ("default", "api", "report", "connector"):
        folder = tmp_path_factory.mktemp(d)
        generate(
            folder,
            scale="S",
            days=6,
            seed=11,
            start=START,
            progress=False,
            dialect=None if d == "default" else d,
        )
        out[d] = folder
    return out


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


OPP_FILE = "Opportunity/2025-01-04/part-0.csv"


def test_api_dialect(dialects: dict[str, Path]) -> None:
    raw = (dialects["api"] / OPP_FILE).read_bytes()
    assert raw.startswith(b'\xef\xbb\xbf"Id","StageName","CloseDate","CreatedDate","OwnerId"')
    assert b"\r\n" not in raw
    header, rows = _rows(dialects["api"] / OPP_FILE)
    _, plain = _rows(dialects["default"] / OPP_FILE)
    assert header == [f.name for f in written_fields(OBJECTS_BY_NAME["Opportunity"])]
    assert len(rows) == len(plain) > 10
    for r, p in zip(rows, plain, strict=True):
        assert TS.match(r["CreatedDate"]) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["CloseDate"])
        assert r["IsWon"] in ("true", "false") and r["IsClosed"] in ("true", "false")
        # Unset deleted flags are left empty; set ones stay "true".
        assert r["IsDeleted"] == ("true" if p["IsDeleted"] == "true" else "")
        assert {k: v for k, v in r.items() if k != "IsDeleted"} == {
            k: v for k, v in p.items() if k != "IsDeleted"
        }


def test_report_dialect(dialects: dict[str, Path]) -> None:
    raw = (dialects["report"] / OPP_FILE).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == raw.count(b"\n")
    header, rows = _rows(dialects["report"] / OPP_FILE)
    assert header[:6] == ["ID", "Stage Name", "Close Date", "Created Date", "Owner ID", "Account ID"]
    assert "Currency ISO Code" in header and "System Modstamp" in header
    fields = written_fields(OBJECTS_BY_NAME["Opportunity"])
    # Every label still maps to its field by header_key.
    assert [header_key(h) for h in header] == [header_key(f.name) for f in fields]
    _, plain = _rows(dialects["default"] / OPP_FILE)
    for r, p in zip(rows, plain, strict=True):
        y, m, d = p["CloseDate"].split("-")
        assert r["Close Date"] == f"{m}/{d}/{y}"
        # 2025-01-03T14:05:09.000+0000 -> 01/03/2025 02:05 PM (minutes only, 12-hour clock)
        ts = p["CreatedDate"]
        hour = int(ts[11:13])
        clock = f"{(hour + 11) % 12 + 1:02d}:{ts[14:16]} {'PM' if hour >= 12 else 'AM'}"
        want = f"{ts[5:7]}/{ts[8:10]}/{ts[0:4]} {clock}"
        assert r["Created Date"] == want
        assert re.fullmatch(r"\d{2}/\d{2}/\d{4} (0[1-9]|1[0-2]):[0-5]\d (AM|PM)", r["System Modstamp"])
        assert r["Is Won"] == p["IsWon"].upper() and r["Is Deleted"] in ("TRUE", "FALSE")
        assert r["Amount"] == p["Amount"] and r["Stage Name"] == p["StageName"]
    header, _ = _rows(dialects["report"] / "Account/2025-01-01/part-0.csv")
    assert "Segment__c" in header  # custom fields keep their API name


def test_connector_dialect(dialects: dict[str, Path]) -> None:
    from datetime import datetime, timedelta

    raw = (dialects["connector"] / OPP_FILE).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    header, rows = _rows(dialects["connector"] / OPP_FILE)
    fields = [f for f in written_fields(OBJECTS_BY_NAME["Opportunity"]) if f.name != "SystemModstamp"]
    assert header == [f.column for f in fields] + ["_fivetran_synced", "_fivetran_deleted"]
    assert "system_modstamp" not in header
    _, plain = _rows(dialects["default"] / OPP_FILE)
    for r, p in zip(rows, plain, strict=True):
        assert r["close_date"] == p["CloseDate"] + " 00:00:00"
        assert r["created_date"] == p["CreatedDate"].replace("+0000", "Z")
        stamp = datetime.strptime(p["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.000+0000")
        assert r["_fivetran_synced"] == (stamp + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        assert r["_fivetran_deleted"] == r["is_deleted"] == p["IsDeleted"]
    # Objects without a version field are synced at 05:00 of their extract day.
    _, roles = _rows(dialects["connector"] / "UserRole/2025-01-01/part-0.csv")
    assert {r["_fivetran_synced"] for r in roles} == {"2025-01-01T05:00:00.000Z"}
    assert {r["_fivetran_deleted"] for r in roles} == {"false"}


def test_dialects_keep_rows_and_are_deterministic(dialects: dict[str, Path], tmp_path: Path) -> None:
    def line_counts(folder: Path) -> dict[str, int]:
        return {
            str(p.relative_to(folder)): len(p.read_bytes().splitlines())
            for p in sorted(folder.rglob("*.csv"))
        }

    base = line_counts(dialects["default"])
    for d in ("api", "report", "connector"):
        assert line_counts(dialects[d]) == base, d
    generate(tmp_path, scale="S", days=6, seed=11, start=START, progress=False, dialect="report")
    assert _digest(tmp_path) == _digest(dialects["report"])


def test_dialect_refuses_other_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dialect"):
        generate(tmp_path, scale="S", days=2, fmt="parquet", dialect="api", progress=False)
    with pytest.raises(ValueError, match="dialect must be one of"):
        generate(tmp_path, scale="S", days=2, dialect="excel", progress=False)


def test_dialect_text_matches_python_strftime() -> None:
    from datetime import UTC, datetime, timedelta

    import numpy as np

    from orchestration.tooling.demo_data.dialects import format_epoch_ms

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    moments = [
        datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC),  # midnight: 12:00 AM
        datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC),  # noon: 12:00 PM
        datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2026, 11, 30, 9, 5, 7, 42000, tzinfo=UTC),
    ]
    ms = np.array([(m - epoch) // timedelta(milliseconds=1) for m in moments], dtype=np.int64)
    for pattern in ("%m/%d/%Y %I:%M %p", "%Y-%m-%d 00:00:00", "%Y-%m-%dT%H:%M:%S.%fZ", "%d.%m.%Y"):
        got = format_epoch_ms(ms, pattern).to_pylist()
        want = [
            m.strftime(pattern.replace("%f", "{ms}")).format(ms=f"{m.microsecond // 1000:03d}")
            for m in moments
        ]
        assert got == want, pattern
    assert format_epoch_ms(ms[:2], "%Y", np.array([False, True])).to_pylist() == ["2025", None]
