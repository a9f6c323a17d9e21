"""End to end through Dagster on three hand-written, export-shaped landing folders (issue 9).

tests/fixtures/exports/ holds what real tools write (see its README): a Data Loader / Bulk API export of
a recent org (``api_export``), a Salesforce report export (``report_export``) and managed-connector
tables (``connector_tables``). Each folder is copied to a temp landing folder and run through the whole
pipeline with NO settings (no ``SALES_WH_DATE_FORMATS``): it must load, pass its blocking checks and
publish.

Every expected number below was worked out by hand from the fixture files, following DESIGN.md's
definitions (won/lost from stage semantics: the landed OpportunityStage, then the record's own
IsClosed/IsWon, then the stage seed; the latest version per Id wins; deleted records disappear). The
arithmetic is in the comments. Do not change an expected value to match the code: change it only when
the fixture changes, and recompute it by hand.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.contract import LOAD_AUDIT_TABLE, RAW_SCHEMA, REJECTS_TABLE, get_object
from orchestration.sql import table_columns
from tests.conftest import PipelineEnv

pytestmark = pytest.mark.e2e

EXPORTS = Path(__file__).parent / "fixtures" / "exports"


@dataclass(frozen=True)
class Expected:
    #: landing-relative file -> data records in it (hand-counted; a quoted newline does not start a record)
    files: dict[str, int]
    #: rows of each file rejected by the loader (every value of these fixtures is valid: none)
    rejected: dict[str, int] = field(default_factory=dict)
    bookings: Decimal = Decimal("0")
    won: int = 0
    lost: int = 0
    win_rate: float = 0.0


EXPECTED: dict[str, Expected] = {
    # ------------------------------------------------------------------------------------ api_export
    # Stage semantics come from OpportunityStage/2026-02-24/OpportunityStage.csv (the org's picklist):
    #   open: Prospecting, Qualification (inactive), Discovery, Proposal/Quote, Negotiation
    #   won: Closed Won; lost: Closed Lost, Closed - No Decision (IsClosed=true, IsWon=false)
    # Opportunity.csv (14 records; IsClosed/IsWon written 1 or left empty):
    #   006Dn000004Zx01IAK Closed Won            12000.00  CloseDate 2023-11-30 (created 2024-01-22: migrated)
    #   006Dn000004Zx02IAK Closed Lost            8500.00  CloseDate 2023-10-15 (migrated)
    #   006Dn000004Zx03IAK Closed Won             4200.50  CloseDate 2023-12-20 (migrated)
    #   006Dn000004Zx04IAK Discovery             15000.00  open
    #   006Dn000004Zx05IAK Proposal/Quote        22000.00  open
    #   006Dn000004Zx06IAK Negotiation           31000.00  open
    #   006Dn000004Zx07IAK Closed Won            18750.00  CloseDate 2026-01-28
    #   006Dn000004Zx08IAK Closed Lost            6000.00  CloseDate 2026-02-05
    #   006Dn000004Zx09IAK Closed - No Decision   9900.00  CloseDate 2026-02-12
    #                      (IsWon empty: lost by OpportunityStage alone)
    #   006Dn000004Zx10IAK Discovery             (no amount) open
    #   006Dn000004Zx11IAK Proposal/Quote        26400.00  open
    #   006Dn000004Zx12IAK Qualification          7300.00  open
    #   006Dn000004Zx13IAK Closed Won             2500.00  CloseDate 2026-02-20
    #   006Dn000004Zx14IAK Negotiation           11000.00  open
    "api_export": Expected(
        files={
            "User/2026-02-24/User.csv": 5,
            "Account/2026-02-24/Account.csv": 5,
            "Opportunity/2026-02-24/Opportunity.csv": 14,  # 16 physical lines: header + a 2-line record
            "OpportunityStage/2026-02-24/OpportunityStage.csv": 8,
            "OpportunityHistory/2026-02-24/OpportunityHistory.csv": 25,
            "Lead/2026-02-24/Lead.csv": 8,
            "Task/2026-02-24/Task.csv": 10,
            "Event/2026-02-24/Event.csv": 2,
        },
        # won: Zx01 12000.00 + Zx03 4200.50 + Zx07 18750.00 + Zx13 2500.00 = 37450.50
        bookings=Decimal("37450.50"),
        won=4,  # Zx01, Zx03, Zx07, Zx13
        lost=3,  # Zx02 (Closed Lost), Zx08 (Closed Lost), Zx09 (Closed - No Decision)
        win_rate=4 / 7,  # 4 won / (4 won + 3 lost) = 0.5714...
    ),
    # --------------------------------------------------------------------------------- report_export
    # No OpportunityStage landed, no OwnerId column: stage semantics from the record's "Is Closed" /
    # "Is Won" (TRUE/FALSE), which agree with the seed for the standard stages; "Contract Signed" is in
    # no seed but the record says Is Closed TRUE, Is Won TRUE, so it is won.
    #   0068d00000Rp001AAA Closed Won          14500.00  01/15/2026
    #   0068d00000Rp002AAA Closed Won           3200.00  02/10/2026
    #   0068d00000Rp003AAA Closed Lost          8800.00  01/30/2026
    #   0068d00000Rp004AAA Closed Lost          2100.00  12/19/2025
    #   0068d00000Rp005AAA Contract Signed      6400.00  02/18/2026 (won by its own flags)
    #   0068d00000Rp006AAA Negotiation/Review  19000.00  open
    #   0068d00000Rp007AAA Prospecting          4000.00  open
    #   0068d00000Rp008AAA Value Proposition    7700.00  open
    #   0068d00000Rp009AAA Closed Won            950.75  02/20/2026
    #   0068d00000Rp010AAA Id. Decision Makers 12500.00  open
    "report_export": Expected(
        files={
            "User/2026-02-24/users_report.csv": 3,
            "Account/2026-02-24/accounts_report.csv": 4,
            "Opportunity/2026-02-24/opportunities_report.csv": 10,
            "OpportunityHistory/2026-02-24/opportunity_history_report.csv": 11,
            "Lead/2026-02-24/leads_report.csv": 6,
        },
        # won: Rp001 14500.00 + Rp002 3200.00 + Rp005 6400.00 + Rp009 950.75 = 25050.75
        bookings=Decimal("25050.75"),
        won=4,  # Rp001, Rp002, Rp005, Rp009
        lost=2,  # Rp003, Rp004
        win_rate=4 / 6,  # 4 won / (4 won + 2 lost) = 0.6667
    ),
    # ------------------------------------------------------------------------------ connector_tables
    # No system_modstamp: versions are ordered by _fivetran_synced. Latest version of each Id:
    #   0061t00000Fv001AAA Closed Won             5000.0   2025-12-19 00:00:00
    #   0061t00000Fv002AAA Closed Won            12500.5   2026-01-09 00:00:00
    #   0061t00000Fv003AAA Closed Lost            3000.0   2025-11-28 00:00:00
    #   0061t00000Fv004AAA Negotiation/Review     9000.0   open
    #   0061t00000Fv005AAA Prospecting            1500.0   open
    #   0061t00000Fv006AAA day 1 Proposal/Price Quote 7000.0 (synced 2026-01-20 14:00:09.871)
    #                      day 2 Closed Won 7200.0, close 2026-02-20 (synced 2026-02-21 06:10:02.881) <- wins
    #   0061t00000Fv007AAA day 1 Closed Won 40000.0 (synced 2026-02-02 18:00:14.330)
    #                      day 2 same, _fivetran_deleted=true (synced 2026-02-21 06:10:02.881) <- deleted
    #   0061t00000Fv008AAA Closed Lost            2200.0   2026-02-03 00:00:00
    #   0061t00000Fv009AAA day 1 Closed Lost 4500.0, close 2026-02-12 (synced 2026-02-12 18:30:05.552) <- wins
    #                      day 2 Negotiation/Review (synced 2026-02-10 17:00:03.126: older, arrived late)
    #   0061t00000Fv010AAA Value Proposition      3300.0   open
    "connector_tables": Expected(
        files={
            "User/2026-02-20/user.csv": 3,
            "Account/2026-02-20/account.csv": 4,
            "Opportunity/2026-02-20/opportunity.csv": 10,
            "Opportunity/2026-02-21/opportunity.csv": 3,
            "OpportunityHistory/2026-02-20/opportunity_history.csv": 8,
            "OpportunityHistory/2026-02-21/opportunity_history.csv": 1,
            "Lead/2026-02-20/lead.jsonl": 5,
            "Task/2026-02-20/task.jsonl": 6,
        },
        # won: Fv001 5000.00 + Fv002 12500.50 + Fv006 7200.00 = 24700.50 (Fv007's 40000.00 is deleted)
        bookings=Decimal("24700.50"),
        won=3,  # Fv001, Fv002, Fv006
        lost=3,  # Fv003, Fv008, Fv009
        win_rate=3 / 6,  # 3 won / (3 won + 3 lost) = 0.5
    ),
}


# ------------------------------------------------------------------------------------------- running


@dataclass
class ExportRun:
    name: str
    landing: Path
    warehouse: Path
    published: Path
    result: object  # orchestration.tooling.pipeline.PipelineResult

    def published_con(self) -> duckdb.DuckDBPyConnection:
        """The published file, read-only; fails early (with the failed steps) when the run did not publish."""
        assert self.result.success, f"{self.name}: run failed at {self.result.failed_steps}"
        assert self.published.exists(), f"{self.name}: nothing published"
        return duckdb.connect(str(self.published), read_only=True)

    def warehouse_con(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.warehouse), read_only=True)


def extract_dates(landing: Path) -> list[date]:
    folders = [p for p in landing.glob("*/*") if p.is_dir() and re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.name)]
    return sorted({date.fromisoformat(p.name) for p in folders})


def run_export(name: str, base: Path, pipeline_env: PipelineEnv) -> ExportRun:
    """Copy one fixture to ``base`` and run the whole pipeline over its extract dates, with no settings."""
    from orchestration.tooling.pipeline import run_pipeline

    landing = base / "landing"
    shutil.copytree(EXPORTS / name, landing, ignore=shutil.ignore_patterns("README*"))
    # no settings: the formats must be detected; default partition start
    with pipeline_env(base, partition_start=None):
        dates = extract_dates(landing)
        result = run_pipeline(dates[0], dates[-1])
    return ExportRun(name, landing, base / "warehouse.duckdb", base / "published.duckdb", result)


@pytest.fixture(scope="module")
def export_run(
    tmp_path_factory: pytest.TempPathFactory, pipeline_env: PipelineEnv
) -> Callable[[str], ExportRun]:
    """``export_run(name)``: the pipeline run of one fixture (run once per module, on first use)."""
    runs: dict[str, ExportRun] = {}

    def get(name: str) -> ExportRun:
        if name not in runs:
            runs[name] = run_export(name, tmp_path_factory.mktemp(name), pipeline_env)
        return runs[name]

    return get


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    return con.execute(sql, params or []).fetchone()[0]


def opportunity(con: duckdb.DuckDBPyConnection, opportunity_id: str, columns: str) -> tuple:
    """``columns`` of one opportunity in ``core.fct_opportunities``."""
    return con.execute(
        f"select {columns} from core.fct_opportunities where opportunity_id = ?", [opportunity_id]
    ).fetchone()


def activities(con: duckdb.DuckDBPyConnection, where: str = "true") -> int:
    """Activities counted in ``marts.kpi_rep_activity`` (its rows matching ``where``)."""
    return scalar(con, f"select coalesce(sum(activity_count), 0) from marts.kpi_rep_activity where {where}")


def leads_created_and_converted(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    return con.execute(
        "select coalesce(sum(leads_created_count), 0), coalesce(sum(leads_converted_count), 0) "
        "from marts.kpi_lead_funnel"
    ).fetchone()


def raw_opportunity_columns(wh: duckdb.DuckDBPyConnection) -> set[str]:
    return set(table_columns(wh, RAW_SCHEMA, "opportunity"))


# ------------------------------------------------------------------------------------ every fixture


@pytest.mark.parametrize("name", list(EXPECTED))
def test_export_runs_through_dagster_and_publishes(name: str, export_run) -> None:
    run = export_run(name)
    with run.published_con() as con:
        # a fresh published file: exactly this run
        assert [r[0] for r in con.execute("select run_id from run_history").fetchall()] == [run.result.run_id]
        # no blocking check failed (odd but possible data may fail warn-severity checks: findings)
        blocking = con.execute(
            "select asset_key, check_name from check_results "
            "where run_id = ? and not passed and upper(severity) = 'ERROR'",
            [run.result.run_id],
        ).fetchall()
        assert blocking == []


def _by_file(rows: list[tuple[str, int]], rel: str) -> int:
    """Sum of counts whose stored source file is ``rel`` (stored relative to the landing folder)."""
    return sum(n for f, n in rows if f is not None and str(f).replace("\\", "/").endswith(rel))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_source_row_is_loaded_or_rejected(name: str, export_run) -> None:
    run = export_run(name)
    expected = EXPECTED[name]
    with run.warehouse_con() as con:
        batches: dict[tuple[str, date], int] = {}
        for rel, source_rows in expected.files.items():
            obj_name, day, _ = rel.split("/")
            obj = get_object(obj_name)
            loaded = _by_file(
                con.execute(
                    f'select _source_file, count(*) from {RAW_SCHEMA}."{obj.table}" group by 1'
                ).fetchall(),
                rel,
            )
            rejected = _by_file(
                con.execute(
                    f"select source_file, count(distinct source_line) from {RAW_SCHEMA}.{REJECTS_TABLE} "
                    "where object = ? group by 1",
                    [obj_name],
                ).fetchall(),
                rel,
            )
            assert (loaded, rejected) == (
                source_rows - expected.rejected.get(rel, 0),
                expected.rejected.get(rel, 0),
            ), f"{rel}: {source_rows} source rows, {loaded} loaded, {rejected} rejected"
            key = (obj_name, date.fromisoformat(day))
            batches[key] = batches.get(key, 0) + source_rows
        # the loader's own audit of each batch says the same
        for (obj_name, day), source_rows in batches.items():
            audit = con.execute(
                f"select source_rows, loaded_rows, rejected_rows from {RAW_SCHEMA}.{LOAD_AUDIT_TABLE} "
                "where object = ? and extract_date = ? order by loaded_at desc limit 1",
                [obj_name, day],
            ).fetchone()
            assert audit is not None, f"no audit row for {obj_name} {day}"
            assert audit[0] == source_rows, (obj_name, day, audit)
            assert audit[0] == audit[1] + audit[2], (obj_name, day, audit)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_bookings_won_lost_and_win_rate_match_the_hand_computation(name: str, export_run) -> None:
    run = export_run(name)
    expected = EXPECTED[name]
    with run.published_con() as con:
        bookings, won_deals = con.execute(
            "select coalesce(sum(bookings_amount_corporate), 0), coalesce(sum(won_deal_count), 0) "
            "from marts.kpi_bookings"
        ).fetchone()
        assert Decimal(str(bookings)).quantize(Decimal("0.01")) == expected.bookings
        assert won_deals == expected.won
        won, lost, closed = con.execute(
            "select coalesce(sum(won_count), 0), coalesce(sum(lost_count), 0), "
            "coalesce(sum(closed_count), 0) from marts.kpi_win_rate"
        ).fetchone()
        assert (won, lost, closed) == (expected.won, expected.lost, expected.won + expected.lost)
        assert won / closed == pytest.approx(expected.win_rate)
        # the same from the fact the marts are built from
        fct_won, fct_lost = con.execute(
            "select count(*) filter (where is_won), count(*) filter (where is_closed and not is_won) "
            "from core.fct_opportunities"
        ).fetchone()
        assert (fct_won, fct_lost) == (expected.won, expected.lost)


# ---------------------------------------------------------------------------------------- api_export


def test_api_export_stages_come_from_the_landed_opportunity_stage(export_run) -> None:
    run = export_run("api_export")
    with run.published_con() as con:
        rows = {
            r[0]: r[1:]
            for r in con.execute(
                "select opportunity_id, stage_name, is_closed, is_won from core.fct_opportunities"
            ).fetchall()
        }
        assert len(rows) == 14
        # a custom closed stage with IsWon left empty: lost, from OpportunityStage alone
        assert rows["006Dn000004Zx09IAK"] == ("Closed - No Decision", True, False)
        # the org's own open stages (not in the default seed) are open, not unknown-and-closed
        for opp in ("006Dn000004Zx04IAK", "006Dn000004Zx05IAK", "006Dn000004Zx06IAK", "006Dn000004Zx14IAK"):
            assert rows[opp][1:] == (False, False), opp
        # an inactive stage of the org still describes its old deals
        assert rows["006Dn000004Zx12IAK"] == ("Qualification", False, False)
        # migrated deals (created 2024-01-22, closed in 2023) are still bookings in 2023
        migrated = con.execute(
            "select coalesce(sum(bookings_amount_corporate), 0) from marts.kpi_bookings "
            "where close_month < date '2024-01-01'"
        ).fetchone()[0]
        assert Decimal(str(migrated)).quantize(Decimal("0.01")) == Decimal("16200.50")  # 12000.00 + 4200.50
        # their negative cycle days never make velocity negative
        assert (
            scalar(
                con,
                "select count(*) from marts.kpi_sales_velocity where sales_velocity_corporate_per_day < 0",
            )
            == 0
        )
        # the quoted comma and the quoted newline survived
        assert opportunity(con, "006Dn000004Zx11IAK", "opportunity_name") == ("Acme, Inc. - Renewal 2026",)
    with run.warehouse_con() as wh:
        columns = raw_opportunity_columns(wh)
        assert any("region" in c for c in columns), f"custom field Region__c not kept: {sorted(columns)}"
        assert "description" in columns, sorted(columns)
        text = scalar(wh, "select description from raw.opportunity where id = '006Dn000004Zx06IAK'")
        assert (
            text.replace("\r\n", "\n")
            == "Security review done.\nWaiting on procurement, PO expected in March."
        )


def test_api_export_activity_and_lead_funnel_are_not_silently_empty(export_run) -> None:
    run = export_run("api_export")
    with run.published_con() as con:
        # 10 tasks (Type empty; TaskSubtype Call x4, Email x3, Task x3) + 2 events = 12 activities
        assert activities(con) == 12
        # Call (Tk01, Tk04, Tk07, Tk10) + Email (Tk02, Tk05, Tk08) = 7, customer_digital per activity_types
        assert activities(con, "category = 'customer_digital'") == 7
        assert scalar(con, "select count(*) from marts.kpi_rep_activity where category is null") == 0
        # 8 leads, all with CreatedDate; converted: Ld04, Ld05 (IsConverted = 1, status Qualified)
        assert leads_created_and_converted(con) == (8, 2)
        # the new-org statuses are mapped: no lead is left without a lifecycle stage
        assert scalar(con, "select count(*) from core.fct_leads") == 8
        # the funnel sees the org's own stages
        assert (
            scalar(con, "select count(*) from marts.kpi_pipeline_funnel where stage_name = 'Discovery'") > 0
        )


# ------------------------------------------------------------------------------------- report_export


def test_report_export_deals_without_owner_go_to_the_unassigned_rep(export_run) -> None:
    run = export_run("report_export")
    with run.published_con() as con:
        unassigned = con.execute(
            "select rep_id from core.dim_reps "
            "where lower(rep_id) = 'unassigned' or lower(rep_name) like '%unassigned%'"
        ).fetchall()
        assert len(unassigned) == 1, "no (or more than one) unassigned rep in core.dim_reps"
        rep_id = unassigned[0][0]
        # no OwnerId column: all 10 opportunities belong to it
        assert con.execute(
            "select count(*), count(*) filter (where rep_id = ?) from core.fct_opportunities", [rep_id]
        ).fetchone() == (10, 10)
        assert (
            scalar(
                con,
                "select coalesce(sum(won_deal_count), 0) from marts.kpi_bookings where rep_id = ?",
                [rep_id],
            )
            == 4
        )
        # "Contract Signed" is in no seed: won by the record's own Is Closed / Is Won
        assert opportunity(con, "0068d00000Rp005AAA", "is_closed, is_won") == (True, True)
        # US dates: 12/19/2025 is December 19th, not a parse error or a swapped day and month
        assert opportunity(con, "0068d00000Rp004AAA", "close_date") == (date(2025, 12, 19),)
        # leads without a CreatedDate column are kept (out of the created-date cohorts only)
        assert scalar(con, "select count(*) from core.fct_leads") == 6
    with run.warehouse_con() as wh:
        # the history file mixes a MM/DD/YY date column and a MM/DD/YY hh:mm AM timestamp column
        close_date, created = wh.execute(
            "select close_date, created_date from raw.opportunity_history where id = '0088d00000Oh009AAA'"
        ).fetchone()
        assert close_date == date(2026, 3, 31)
        assert str(created) == "2026-02-23 20:55:00"
        # report label columns that map to no contract field are kept as extra columns
        columns = raw_opportunity_columns(wh)
        assert any("lifecycle" in c for c in columns), sorted(columns)
        assert any("fiscal_period" in c for c in columns), sorted(columns)


# ---------------------------------------------------------------------------------- connector_tables


def test_connector_deleted_flag_and_sync_versions(export_run) -> None:
    run = export_run("connector_tables")
    with run.published_con() as con:
        ids = {r[0] for r in con.execute("select opportunity_id from core.fct_opportunities").fetchall()}
        # 10 Ids landed, Fv007 deleted by the connector (_fivetran_deleted = true on its later version)
        assert "0061t00000Fv007AAA" not in ids
        assert len(ids) == 9
        # Fv006 re-delivered on 2026-02-21 with a later _fivetran_synced: its later values win
        assert opportunity(con, "0061t00000Fv006AAA", "stage_name, amount, close_date, is_won") == (
            "Closed Won",
            Decimal("7200.00"),
            date(2026, 2, 20),
            True,
        )
        # Fv009's 2026-02-21 delivery is an older sync than its 2026-02-20 one: the older sync loses
        assert opportunity(con, "0061t00000Fv009AAA", "stage_name, close_date, is_closed, is_won") == (
            "Closed Lost",
            date(2026, 2, 12),
            True,
            False,
        )
        # midnight timestamps in date fields are those dates
        assert opportunity(con, "0061t00000Fv001AAA", "close_date") == (date(2025, 12, 19),)
        # 5 leads (JSON Lines), all with created_date; converted: Ln002, Ln005
        assert leads_created_and_converted(con) == (5, 2)
        # 6 tasks (JSON Lines, activity_date written 'YYYY-MM-DD 00:00:00')
        assert activities(con) == 6
