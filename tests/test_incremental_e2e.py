"""Incremental builds give the same warehouse as a full rebuild.

Through Dagster: a first day without any Event (first build: ``--full-refresh``; the Event base model
is built empty), a backfill on top (incremental from then on), a run that reloads an older extract
date whose corrected file lost some Tasks, then a daily run. The base models, staging, core tables and
marts built incrementally are then compared, table by table and row by row, with a
``dbt run --full-refresh`` of a copy of the same warehouse; and the activities kept are checked
against the landing files, read with pandas.
"""

import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.defs.dbt_assets import DBT_PROFILES_DIR, fingerprint_path
from orchestration.settings import PROJECT_ROOT
from orchestration.warehouse import CORE_SCHEMA, INTERMEDIATE_SCHEMA, MARTS_SCHEMA, STAGING_SCHEMA
from tests.conftest import DemoLanding, PipelineEnv

pytestmark = pytest.mark.e2e

START = date(2025, 1, 1)
DAYS = 30
BACKFILL_END = START + timedelta(days=DAYS - 3)
RELOADED = START + timedelta(days=9)
SCHEMAS = (STAGING_SCHEMA, INTERMEDIATE_SCHEMA, CORE_SCHEMA, MARTS_SCHEMA)
#: Differs between an incremental and a full build by design (when a row was written).
BUILD_COLUMNS = {"_built_at"}


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Every table and view of the dbt schemas."""
    return con.execute(
        """select schema_name, table_name from duckdb_tables() where schema_name in ?
           union all
           select schema_name, view_name from duckdb_views() where not internal and schema_name in ?
           order by 1, 2""",
        [list(SCHEMAS), list(SCHEMAS)],
    ).fetchall()


def _rows(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple]:
    columns = [
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ? "
            "order by column_index",
            [schema, table],
        ).fetchall()
        if r[0] not in BUILD_COLUMNS
    ]
    select = ", ".join(f'"{c}"' for c in columns)
    # Tombstones (a record left without any version) stay in the incremental base models as deletion
    # markers for the models downstream, and a full build has none: base models are compared through
    # their stg_ views, which drop deleted records and tombstones alike.
    live = " where not _is_deleted" if table.startswith("base_") else ""
    return con.execute(f'select {select} from {schema}."{table}"{live} order by all').fetchall()


def _drop_lines(csv_path: Path, every: int) -> list[str]:
    """Remove every ``every``-th data line of a CSV file (a corrected re-delivery); returns their Ids."""
    lines = csv_path.read_text(encoding="utf-8").splitlines(keepends=True)
    header, data = lines[0], lines[1:]
    dropped = [line for i, line in enumerate(data) if i % every == 0]
    kept = [line for i, line in enumerate(data) if i % every != 0]
    csv_path.write_text(header + "".join(kept), encoding="utf-8")
    return [line.split(",", 1)[0].strip('"') for line in dropped]


def _live_tasks_in_landing(landing: Path, through: date) -> set[str]:
    """Task Ids whose latest version (by SystemModstamp, then extract date) in the extract dates up to
    ``through`` (the last one loaded) is not deleted."""
    frames = []
    for f in landing.glob("Task/*/*.csv"):
        if date.fromisoformat(f.parent.name) > through:
            continue
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        df["_extract_date"] = f.parent.name
        frames.append(df)
    tasks = pd.concat(frames, ignore_index=True)
    tasks["modstamp"] = pd.to_datetime(tasks["SystemModstamp"], utc=True, format="ISO8601")
    latest = tasks.sort_values(["modstamp", "_extract_date"]).drop_duplicates("Id", keep="last")
    return set(latest.loc[latest["IsDeleted"].str.lower() != "true", "Id"])


@pytest.fixture(scope="module")
def incremental(
    tmp_path_factory: pytest.TempPathFactory, demo_landing: DemoLanding, pipeline_env: PipelineEnv
):
    from orchestration.tooling.pipeline import run_pipeline

    base = tmp_path_factory.mktemp("incremental")
    warehouse = base / "warehouse.duckdb"
    demo_landing(days=DAYS, seed=11, start=START, into=base / "landing")
    # No Event extract on the first day: its base model is first built empty, then fills incrementally.
    shutil.rmtree(base / "landing" / "Event" / START.isoformat())
    with pipeline_env(base, partition_start=START):
        assert run_pipeline(START, START).success
        with duckdb.connect(str(warehouse), read_only=True) as con:
            assert con.execute("select count(*) from staging.base_salesforce__events").fetchone()[0] == 0
        assert run_pipeline(START + timedelta(days=1), BACKFILL_END).success
        with duckdb.connect(str(warehouse), read_only=True) as con:
            before = {r[0] for r in con.execute("select activity_id from core.fct_activities").fetchall()}
        # A corrected re-delivery of an older extract date: a third of its Tasks and of its lead and
        # opportunity history rows are gone (some records then have no version left: tombstones).
        landing_day = {
            o: base / "landing" / o / RELOADED.isoformat()
            for o in ("Task", "LeadHistory", "OpportunityHistory")
        }
        dropped = _drop_lines(next(landing_day["Task"].glob("*.csv")), 3)
        for obj in ("LeadHistory", "OpportunityHistory"):
            assert _drop_lines(next(landing_day[obj].glob("*.csv")), 3)
        assert run_pipeline(RELOADED, RELOADED).success
        # A daily run on top (test_undelete_e2e runs two in a row, each compared with a full rebuild).
        day = BACKFILL_END + timedelta(days=1)
        assert run_pipeline(day, day).success
        yield {"base": base, "warehouse": warehouse, "before": before, "dropped": dropped, "last": day}


def test_daily_runs_build_incrementally(incremental) -> None:
    """The later runs did not rebuild everything: untouched base rows keep their first build time."""
    assert fingerprint_path(str(incremental["warehouse"])).exists()
    with duckdb.connect(str(incremental["warehouse"]), read_only=True) as con:
        builds = con.execute(
            "select count(distinct _built_at), count(*) from staging.base_salesforce__tasks"
        ).fetchone()
        # the build that wrote the most Tasks (the backfill) and how many of them no later run rewrote
        untouched = con.execute(
            "select max(n) from (select count(*) as n from staging.base_salesforce__tasks group by _built_at)"
        ).fetchone()[0]
    assert builds[0] >= 3, "each incremental run writes the records it touched with its own _built_at"
    assert untouched > builds[1] // 2, "most Tasks were written once, by the backfill, and left alone"


def test_incremental_warehouse_equals_a_full_rebuild(incremental, tmp_path: Path) -> None:
    copy = tmp_path / "full.duckdb"
    shutil.copyfile(incremental["warehouse"], copy)
    env = {**os.environ, "SALES_WH_WAREHOUSE": str(copy), "DBT_TARGET_PATH": str(tmp_path / "target")}
    dbt = Path(sys.executable).with_name("dbt")
    # `run`, not `build`: the models are compared; their tests passed in the pipeline's own builds.
    done = subprocess.run(
        [str(dbt), "run", "--full-refresh", "--profiles-dir", str(DBT_PROFILES_DIR), "--quiet"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with (
        duckdb.connect(str(incremental["warehouse"]), read_only=True) as inc,
        duckdb.connect(str(copy), read_only=True) as full,
    ):
        tables = _tables(full)
        assert _tables(inc) == tables
        for model in (
            ("staging", "stg_salesforce__tasks"),
            ("core", "fct_activities"),
            ("core", "fct_leads"),
            # incremental by opportunity / by as-of date, and the waterfall read from them
            ("intermediate", "int_opportunity_states_ranged"),
            ("core", "fct_pipeline_daily"),
            ("marts", "kpi_pipeline_changes"),
        ):
            assert model in tables
        for schema, table in tables:
            assert _rows(inc, schema, table) == _rows(full, schema, table), f"{schema}.{table} differs"


def test_activities_follow_the_landing_files(incremental) -> None:
    """Tasks dropped from the reloaded file and left without any version are gone; the rest match."""
    landing = incremental["base"] / "landing"
    live = _live_tasks_in_landing(landing, incremental["last"])
    with duckdb.connect(str(incremental["warehouse"]), read_only=True) as con:
        tasks = {
            r[0]
            for r in con.execute(
                "select activity_id from core.fct_activities where activity_source = 'task'"
            ).fetchall()
        }
    assert tasks == live
    vanished = {t for t in incremental["dropped"] if t not in live}
    assert vanished, "the corrected file removed Tasks that exist nowhere else"
    assert vanished <= incremental["before"], "they were in fct_activities before the reload"
    assert not vanished & tasks


def _files_of_day(landing: Path, obj: str, day: date) -> pd.DataFrame:
    """The rows of the files of ``obj`` delivered on ``day``, as text (none when it has no folder)."""
    frames = [
        pd.read_csv(f, dtype=str, keep_default_na=False)
        for f in (landing / obj / day.isoformat()).glob("*.csv")
    ]
    return pd.concat(frames) if frames else pd.DataFrame()


def _column_of_day(landing: Path, obj: str, day: date, column: str) -> set[str]:
    rows = _files_of_day(landing, obj, day)
    return set(rows[column]) if not rows.empty else set()


def test_a_daily_run_rewrites_past_pipeline_days_of_the_changed_opportunities_only(incremental) -> None:
    """core.fct_pipeline_daily: on the days before its own, the daily run rewrote the rows of opportunities
    that its files changed (a version or a history row, here some dated days back), or whose account or
    owner's territory it may restate, and left every other open opportunity of those days as it was. A
    rebuild by day (every opportunity from the earliest changed day) rewrites all of them and fails here."""
    landing, day = incremental["base"] / "landing", incremental["last"]
    # Reference and territory-definition batches rightly rebuild or regroup every opportunity.
    for shared in ("CurrencyType", "DatedConversionRate", "OpportunityStage", "Territory2"):
        assert not list((landing / shared / day.isoformat()).glob("*.csv")), f"{shared} delivered on {day}"
    history = _files_of_day(landing, "OpportunityHistory", day)
    late = history[history["CreatedDate"].str[:10] < (day - timedelta(days=1)).isoformat()]
    assert not late.empty, "the day's files change no past day: nothing to check"
    changed = _column_of_day(landing, "Opportunity", day, "Id") | set(history["OpportunityId"])
    accounts = _column_of_day(landing, "Account", day, "Id") | _column_of_day(
        landing, "ObjectTerritory2Association", day, "ObjectId"
    )
    reps = _column_of_day(landing, "User", day, "Id") | _column_of_day(
        landing, "UserTerritory2Association", day, "UserId"
    )
    with duckdb.connect(str(incremental["warehouse"]), read_only=True) as con:
        rows = con.execute(
            """select as_of_date, opportunity_id, coalesce(account_id, ''), rep_id,
                      _built_at = (select max(_built_at) from core.fct_pipeline_daily) as rewritten
               from core.fct_pipeline_daily where as_of_date < ?""",
            [day],
        ).fetchall()
    rewritten = [r for r in rows if r[4]]
    assert {r[1] for r in rewritten} & set(late["OpportunityId"]), "the late history rows rewrote nothing"
    unexplained = sorted(
        (str(d), o)
        for d, o, a, rep, _ in rewritten
        if o not in changed and a not in accounts and rep not in reps
    )
    assert not unexplained, (
        f"rewritten without a change in the day's files: {unexplained[:5]} ({len(unexplained)})"
    )
    first_day = min(r[0] for r in rewritten)
    kept = [r for r in rows if r[0] == first_day and not r[4]]
    assert kept, f"every open opportunity of {first_day} was rewritten"


def test_the_published_file_equals_the_warehouse_after_publishing_by_key(incremental) -> None:
    """The later runs published the incremental tables by key from a copy of the previous file
    (publishing/publish.py `_apply_delta`): every published table still holds exactly the warehouse's rows."""
    with duckdb.connect(str(incremental["base"] / "published.duckdb"), read_only=True) as pub:
        pub.execute(f"attach '{incremental['warehouse']}' as wh (read_only)")
        tables = pub.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
            "and schema_name in (?, ?) order by all",
            [CORE_SCHEMA, MARTS_SCHEMA],
        ).fetchall()
        assert ("core", "fct_pipeline_daily") in tables and ("core", "fct_activities") in tables
        for schema, table in tables:
            name = f'{schema}."{table}"'
            differ = pub.execute(
                f"select count(*) from ((from {name} except all from wh.{name}) "
                f"union all (from wh.{name} except all from {name}))"
            ).fetchone()[0]
            assert differ == 0, f"{schema}.{table}: {differ} rows differ from the warehouse"
