"""Delete, then undelete, across daily incremental runs (issue 15, item 4).

Through Dagster, on the 30-day demo: day 0 is the backfill (a won USD opportunity and a Task exist),
day 1 delivers both as deleted, day 2 as undeleted, each by a newer version:

- the opportunity as a Salesforce Data Loader export with queryAll writes it: the whole record, API
  headers, ``IsDeleted`` true (then false) and a newer ``SystemModstamp``;
- the Task as a managed connector writes it: snake_case columns, ``_fivetran_deleted`` true (then
  false) and a newer ``_fivetran_synced``, no ``is_deleted`` nor ``system_modstamp`` column.

After each daily (incremental) run the published marts hide or show them, by the amounts read from
the landing files, and every staging, core and mart table equals a ``dbt run --full-refresh`` of a
copy of the same warehouse. After the undelete, the marts are the backfill's again (the pipeline
waterfall: on the periods complete before these days).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.defs.dbt_assets import DBT_PROFILES_DIR
from orchestration.settings import PROJECT_ROOT
from orchestration.warehouse import MARTS_SCHEMA
from tests.conftest import DemoLanding, PipelineEnv
from tests.test_incremental_e2e import BUILD_COLUMNS, _tables

pytestmark = pytest.mark.e2e

START = date(2025, 1, 1)
DAYS = 30
LAST = START + timedelta(days=DAYS - 1)
DELETED_ON = LAST + timedelta(days=1)
UNDELETED_ON = LAST + timedelta(days=2)


def _read(landing: Path, obj: str) -> pd.DataFrame:
    frames = [
        pd.read_csv(f, dtype=str, keep_default_na=False).assign(_extract_date=f.parent.name)
        for f in sorted((landing / obj).glob("*/*.csv"))
    ]
    rows = pd.concat(frames, ignore_index=True)
    rows["_modstamp"] = pd.to_datetime(rows["SystemModstamp"], utc=True, format="ISO8601")
    return rows.sort_values(["Id", "_modstamp", "_extract_date"], kind="stable")


def _latest(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop_duplicates("Id", keep="last")


def _pick(landing: Path) -> tuple[pd.Series, pd.Series]:
    """A won USD opportunity and a completed Task, live at the end of the demo, never deleted in it."""
    opps = _read(landing, "Opportunity")
    ever_deleted = set(opps.loc[opps["IsDeleted"] == "true", "Id"])
    latest = _latest(opps)
    won = latest[
        (latest["StageName"] == "Closed Won")
        & (latest["CurrencyIsoCode"] == "USD")
        & (latest["IsDeleted"] == "false")
        & ~latest["Id"].isin(ever_deleted)
        & (latest["Amount"] != "")
    ]
    tasks = _read(landing, "Task")
    ever_deleted = set(tasks.loc[tasks["IsDeleted"] == "true", "Id"])
    latest_tasks = _latest(tasks)
    done = latest_tasks[
        (latest_tasks["IsDeleted"] == "false")
        & ~latest_tasks["Id"].isin(ever_deleted)
        & (latest_tasks["Status"] == "Completed")
        & (latest_tasks["OwnerId"] != "")
    ]
    return won.iloc[0], done.iloc[0]


def _land_opportunity(landing: Path, day: date, record: pd.Series, deleted: bool) -> None:
    """A Data Loader (queryAll) row: the whole record with IsDeleted and a newer SystemModstamp."""
    row = record.drop(labels=["_extract_date", "_modstamp"]).copy()
    row["IsDeleted"] = "true" if deleted else "false"
    row["SystemModstamp"] = f"{day.isoformat()}T08:00:00.000+0000"
    folder = landing / "Opportunity" / day.isoformat()
    folder.mkdir(parents=True)
    pd.DataFrame([row]).to_csv(folder / "queryall.csv", index=False)


def _land_task(landing: Path, day: date, record: pd.Series, deleted: bool) -> None:
    """A connector row: snake_case columns, _fivetran_deleted / _fivetran_synced, no Salesforce flags."""
    row = record.drop(labels=["_extract_date", "_modstamp", "SystemModstamp", "IsDeleted"])
    row.index = [
        "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
        for name in row.index
    ]
    row["_fivetran_deleted"] = "true" if deleted else "false"
    row["_fivetran_synced"] = f"{day.isoformat()}T08:05:00.000Z"
    folder = landing / "Task" / day.isoformat()
    folder.mkdir(parents=True)
    pd.DataFrame([row]).to_csv(folder / "task.csv", index=False)


def _rows(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple]:
    """Every row of a table, its columns in name order (as test_incremental_e2e, but by name: a column
    that first arrives with a later batch, such as a connector's ``_fivetran_synced``, is appended to an
    incremental base table by ``on_schema_change: append_new_columns``, where a full build puts it in
    the raw table's order); live rows only for base tables (tombstones stay in incremental ones)."""
    columns = sorted(
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ?",
            [schema, table],
        ).fetchall()
        if r[0] not in BUILD_COLUMNS
    )
    select = ", ".join(f'"{c}"' for c in columns)
    live = " where not _is_deleted" if table.startswith("base_") else ""
    return con.execute(f'select {select} from {schema}."{table}"{live} order by all').fetchall()


def _scalar(path: Path, sql: str, params: list | None = None):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchone()[0]
    finally:
        con.close()


#: Marts over as-of dates: every run adds its extract dates as new as-of days, and the periods still open
#: on the backfill's last day (its week, its quarter to date) close later. Compared on the periods that
#: were over before the week of the backfill's last day (``closing_as_of_date`` column).
AS_OF_MARTS = {"kpi_pipeline_changes"}
COMPLETE_BEFORE = LAST - timedelta(days=LAST.weekday())


def _marts(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        marts = {t: _rows(con, s, t) for s, t in _tables(con) if s == MARTS_SCHEMA}
        for table in AS_OF_MARTS & set(marts):
            columns = [r[0] for r in con.execute(f"describe {MARTS_SCHEMA}.{table}").fetchall()]
            closing = sorted(c for c in columns if c not in BUILD_COLUMNS).index("closing_as_of_date")
            marts[table] = [r for r in marts[table] if r[closing] < COMPLETE_BEFORE]
            assert marts[table], f"{table}: no complete period to compare"
        return marts
    finally:
        con.close()


def _full_refresh_differences(warehouse: Path, tmp: Path) -> list[str]:
    """Tables of a full rebuild of a copy of ``warehouse`` that differ from the incremental ones."""
    copy = tmp / "full.duckdb"
    shutil.copyfile(warehouse, copy)
    env = {**os.environ, "SALES_WH_WAREHOUSE": str(copy), "DBT_TARGET_PATH": str(tmp / "target")}
    # `run`, not `build`: the models are compared; their tests passed in the pipeline's own build.
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "run",
            "--full-refresh",
            "--profiles-dir",
            str(DBT_PROFILES_DIR),
            "--quiet",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with (
        duckdb.connect(str(warehouse), read_only=True) as inc,
        duckdb.connect(str(copy), read_only=True) as full,
    ):
        tables = _tables(full)
        assert _tables(inc) == tables
        return [f"{s}.{t}" for s, t in tables if _rows(inc, s, t) != _rows(full, s, t)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, demo_landing: DemoLanding, pipeline_env: PipelineEnv):
    """The three runs; after each, what the test needs of the warehouse (a full rebuild compared)."""
    from orchestration.tooling.pipeline import run_pipeline

    base = tmp_path_factory.mktemp("undelete")
    landing, warehouse, published = base / "landing", base / "warehouse.duckdb", base / "published.duckdb"
    demo_landing(days=DAYS, seed=7, start=START, into=landing)
    opp, task = _pick(landing)
    states = {}
    with pipeline_env(base, partition_start=START):
        for name, day, deleted in (
            ("backfill", None, None),
            ("deleted", DELETED_ON, True),
            ("undeleted", UNDELETED_ON, False),
        ):
            if day is None:
                result = run_pipeline(START, LAST)
            else:
                _land_opportunity(landing, day, opp, deleted=bool(deleted))
                _land_task(landing, day, task, deleted=bool(deleted))
                result = run_pipeline(day)
            assert result.success, (name, result.failed_steps)
            states[name] = {
                "opportunity": _scalar(
                    published,
                    "select count(*) from core.fct_opportunities where opportunity_id = ?",
                    [opp["Id"]],
                ),
                "task": _scalar(
                    published, "select count(*) from core.fct_activities where activity_id = ?", [task["Id"]]
                ),
                "bookings": _scalar(
                    published, "select sum(bookings_amount_corporate) from marts.kpi_bookings"
                ),
                "won_deals": _scalar(published, "select sum(won_deal_count) from marts.kpi_bookings"),
                "activities": _scalar(published, "select sum(activity_count) from marts.kpi_rep_activity"),
                "marts": _marts(published),
                "differs_from_full_refresh": (
                    _full_refresh_differences(warehouse, tmp_path_factory.mktemp(f"full-{name}"))
                    if day is not None
                    else []
                ),
            }
    return {"opp": opp, "task": task, **states}


def test_the_record_exists_after_the_backfill(runs) -> None:
    assert (runs["backfill"]["opportunity"], runs["backfill"]["task"]) == (1, 1)


def test_deleted_records_leave_the_marts(runs) -> None:
    before, after = runs["backfill"], runs["deleted"]
    assert (after["opportunity"], after["task"]) == (0, 0)
    # a won USD deal: its corporate amount is its Amount in the landing file (rate 1)
    amount = float(runs["opp"]["Amount"])
    assert amount > 0
    assert float(after["bookings"]) == pytest.approx(float(before["bookings"]) - amount, abs=1e-6)
    assert after["won_deals"] == before["won_deals"] - 1
    assert after["activities"] == before["activities"] - 1


def test_undeleted_records_come_back(runs) -> None:
    after = runs["undeleted"]
    assert (after["opportunity"], after["task"]) == (1, 1)
    assert after["marts"] == runs["backfill"]["marts"], "the marts are the backfill's again"


@pytest.mark.parametrize("day", ["deleted", "undeleted"])
def test_each_daily_run_equals_a_full_refresh(runs, day: str) -> None:
    assert runs[day]["differs_from_full_refresh"] == []
