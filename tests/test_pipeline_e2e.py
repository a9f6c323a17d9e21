"""End to end through Dagster: demo extracts -> raw -> dbt -> mart checks -> atomic publish.

One module-scoped scenario (each pipeline run takes about a minute): a first run over the whole
window publishes; re-running the last day gives identical marts; a batch that breaks a blocking
check (a negative Amount that parses fine) is not published and the previous file stays as it was.
"""

import hashlib
import os
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.defs.tags import WAREHOUSE_WRITER_TAG
from tests.conftest import DemoLanding, PipelineEnv

pytestmark = pytest.mark.e2e

START = date(2025, 1, 1)
DAYS = 40
LAST = START + timedelta(days=DAYS - 1)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def marts_fingerprint(published: Path) -> dict[str, str]:
    """Hash of each mart's ordered contents (load and build timestamps excluded: an incremental mart
    stamps the rows it rebuilt with `_built_at`), from the published file."""
    con = duckdb.connect(str(published), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        ]
        out = {}
        for table in sorted(tables):
            columns = [
                r[0]
                for r in con.execute(
                    "select column_name from duckdb_columns() where schema_name = 'marts' and table_name = ? "
                    "order by column_index",
                    [table],
                ).fetchall()
                if not r[0].endswith("loaded_at") and r[0] != "_built_at"
            ]
            rows = con.execute(f"select {', '.join(columns)} from marts.{table} order by all").fetchall()
            out[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return out
    finally:
        con.close()


def won_opportunities_in_landing(landing: Path) -> int:
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False) for f in landing.glob("Opportunity/*/*.csv")]
    opps = pd.concat(frames, ignore_index=True)
    opps["modstamp"] = pd.to_datetime(opps["SystemModstamp"], utc=True, format="ISO8601")
    latest = opps.sort_values("modstamp").drop_duplicates("Id", keep="last")
    stages = pd.read_csv(Path(__file__).parent.parent / "seeds" / "opportunity_stages.csv", dtype=str)
    won_stages = set(stages.loc[stages["is_won"].str.lower() == "true", "stage_name"])
    live = latest[latest["IsDeleted"].str.lower() != "true"]
    return int(live["StageName"].isin(won_stages).sum())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, demo_landing: DemoLanding, pipeline_env: PipelineEnv):
    base = tmp_path_factory.mktemp("e2e")
    demo_landing(days=DAYS, seed=7, start=START, into=base / "landing")
    with pipeline_env(base, partition_start=START):
        yield base


@pytest.fixture(scope="module")
def first_run(env: Path):
    from orchestration.tooling.pipeline import run_pipeline

    return run_pipeline(START, LAST)


def test_full_run_publishes_marts_and_history(env: Path, first_run) -> None:
    assert first_run.success, first_run.failed_steps
    published = env / "published.duckdb"
    con = duckdb.connect(str(published), read_only=True)
    try:
        marts = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        }
        assert {"kpi_bookings", "kpi_win_rate", "kpi_quota_attainment", "kpi_pipeline_funnel"} <= marts
        for table in ("kpi_bookings", "kpi_win_rate", "kpi_deal_size"):
            assert con.execute(f"select count(*) from marts.{table}").fetchone()[0] > 0, table
        assert con.execute("select count(*) from core.dim_reps").fetchone()[0] > 0
        (run_id, failed) = con.execute("select run_id, checks_failed from run_history").fetchone()
        assert run_id == first_run.run_id and failed == 0
        assert con.execute("select count(*) from check_results where run_id = ?", [run_id]).fetchone()[0] > 0
        # Won deals in the published mart equal the won opportunities of the landed files, read here
        # independently with pandas (latest SystemModstamp per Id, not deleted, won stage per the seed).
        assert con.execute("select sum(won_deal_count) from marts.kpi_bookings").fetchone()[0] == (
            won_opportunities_in_landing(env / "landing")
        )
    finally:
        con.close()


def test_published_file_opens_read_only_through_sqlalchemy(env: Path, first_run) -> None:
    """The URL the README gives BI tools (Superset/Metabase style, duckdb-engine) reads and cannot write."""
    sa = pytest.importorskip("sqlalchemy")
    pytest.importorskip("duckdb_engine")
    engine = sa.create_engine(f"duckdb:///{env / 'published.duckdb'}?access_mode=read_only")
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from marts.kpi_win_rate")).scalar() > 0
            with pytest.raises(sa.exc.DBAPIError, match="read-only"):
                conn.execute(sa.text("create table main.scratch (x integer)"))
    finally:
        engine.dispose()


def test_rerunning_a_day_gives_identical_marts(env: Path, first_run) -> None:
    from orchestration.tooling.pipeline import run_pipeline

    before = marts_fingerprint(env / "published.duckdb")
    # A BI reader holds the published file open during the whole run: the run must not block on it,
    # and the reader keeps its consistent snapshot.
    reader = duckdb.connect(str(env / "published.duckdb"), read_only=True)
    bookings_before = reader.execute(
        "select sum(bookings_amount_corporate) from marts.kpi_bookings"
    ).fetchone()
    # The same extract delivered again (every file of the day landed anew: new modification times), so
    # the day is loaded, built and published again; an untouched day would be a no-op (test_noop_e2e).
    for f in (env / "landing").glob(f"*/{LAST.isoformat()}/*"):
        st = f.stat()
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = run_pipeline(LAST)
    assert again.success, again.failed_steps
    assert reader.execute("select sum(bookings_amount_corporate) from marts.kpi_bookings").fetchone() == (
        bookings_before
    )
    reader.close()
    assert marts_fingerprint(env / "published.duckdb") == before
    con = duckdb.connect(str(env / "published.duckdb"), read_only=True)
    assert con.execute("select count(*) from run_history").fetchone()[0] == 2  # carried forward
    con.close()


def _first_opportunities(env: Path, rows: int) -> pd.DataFrame:
    """The first ``rows`` records of the first Opportunity extract, every value as text."""
    source = sorted((env / "landing" / "Opportunity").glob("*/*.csv"))[0]
    return pd.read_csv(source, dtype=str, keep_default_na=False).head(rows)


def _run_a_bad_opportunity_day(env: Path, bad: pd.DataFrame, day: date, name: str):
    """Land ``bad`` as the Opportunity file ``name`` of extract date ``day`` and run that day: the run
    must fail at the raw asset. Returns the run's result."""
    from orchestration.tooling.pipeline import run_pipeline

    folder = env / "landing" / "Opportunity" / day.isoformat()
    folder.mkdir(parents=True)
    bad.to_csv(folder / name, index=False)
    result = run_pipeline(day)
    assert not result.success
    assert "raw__opportunity" in result.failed_steps
    return result


def test_blocking_check_failure_is_not_published(env: Path, first_run) -> None:
    published = env / "published.duckdb"
    before = _sha(published)
    # A new extract day with one opportunity in a currency the org does not have: it parses, so it
    # loads, and the blocking landing check (currency_known) must stop the run before dbt and publish.
    bad = _first_opportunities(env, 1)
    currency = next(c for c in bad.columns if c.replace("_", "").lower() == "currencyisocode")
    bad[currency] = "XXX"
    result = _run_a_bad_opportunity_day(env, bad, LAST + timedelta(days=1), "bad.csv")
    assert "published" not in result.step_seconds or "published" in result.failed_steps
    assert _sha(published) == before
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute("select count(*) from marts.kpi_bookings").fetchone()[0] > 0
    assert con.execute("select count(*) from run_history").fetchone()[0] >= 1
    con.close()


def test_batch_missing_its_key_column_fails_its_check_and_is_not_published(env: Path, first_run) -> None:
    published = env / "published.duckdb"
    before = _sha(published)
    # A new extract day whose Opportunity file lacks its key column Id: wrong as a whole.
    bad = _first_opportunities(env, 3)
    bad = bad.drop(columns=[c for c in bad.columns if c.lower() == "id"])
    bad_day = LAST + timedelta(days=2)
    result = _run_a_bad_opportunity_day(env, bad, bad_day, "no_stage.csv")
    checks = [
        e
        for e in result.result.get_asset_check_evaluations()
        if e.asset_key.path == ["raw", "opportunity"] and e.check_name == "landing_errors"
    ]
    assert [c.passed for c in checks] == [False]
    assert "no_stage.csv" in checks[0].description and "key column(s) Id missing" in checks[0].description
    assert _sha(published) == before
    con = duckdb.connect(str(env / "warehouse.duckdb"), read_only=True)
    assert con.execute(
        "select count(*) from raw.opportunity where _extract_date = ?", [bad_day]
    ).fetchone() == (0,)
    con.close()


def test_every_run_carries_the_warehouse_writer_tag(first_run) -> None:
    assert WAREHOUSE_WRITER_TAG in first_run.instance.get_run_by_id(first_run.run_id).tags


def test_a_cli_run_keeps_no_bookkeeping_per_asset_and_day(first_run) -> None:
    """The in-memory instance's run is of the unpartitioned job: ONE planned and ONE stored
    materialization per raw asset, and one planned row per check, instead of one per asset (or check)
    and day: in a year's backfill those were most of `make run`'s time outside any step. The raw asset
    still loaded every day of the run (its metadata), and the run names its dates."""
    import dagster as dg

    from orchestration.defs.tags import EXTRACT_END_TAG, EXTRACT_START_TAG

    instance, run_id = first_run.instance, first_run.run_id
    run = instance.get_run_by_id(run_id)
    assert not run.is_partitioned
    assert (run.tags[EXTRACT_START_TAG], run.tags[EXTRACT_END_TAG]) == (str(START), str(LAST))

    def events(kind: dg.DagsterEventType) -> list:
        records = instance.get_records_for_run(run_id, of_type=kind, limit=100_000).records
        return [
            r.event_log_entry.dagster_event
            for r in records
            if r.event_log_entry.dagster_event.asset_key == dg.AssetKey(["raw", "account"])
        ]

    assert len(events(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)) == 1
    [stored] = events(dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert stored.partition is None
    metadata = stored.event_specific_data.materialization.metadata
    assert metadata["extract_dates"].value == DAYS > 1
    checks = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(["raw", "account"]), "landing_errors"), limit=1000
    )
    assert [(c.run_id, c.partition) for c in checks] == [(run_id, None)]
