"""KPI summary printed after ``make run``, read from what was PUBLISHED (what BI sees), read-only: the
published DuckDB file, or the published schema on PostgreSQL or views on Spark.

Every figure re-aggregates the additive columns of a mart as its model documents (e.g. win rate =
sum(won) / sum(closed)), never averages of per-row rates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.settings import Settings


@dataclass(frozen=True)
class KpiSummary:
    published_path: Path | str
    last_published_at: str | None
    bookings_total: float | None
    bookings_latest_quarter: tuple[str, float] | None
    win_rate: float | None
    reps_at_quota_share: float | None
    reps_at_quota_period: str | None
    selling_share: float | None
    leakiest_stage: tuple[str, float] | None  # stage, share of entrants lost from it
    slowest_stage: tuple[str, float] | None  # stage, mean days spent in it
    objects_not_found: str | None


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple | None:
    try:
        return con.execute(sql).fetchone()
    except duckdb.CatalogException:  # mart not published (e.g. the model was not built)
        return None


def _value(row: tuple | None) -> float | None:
    return None if row is None or row[0] is None else float(row[0])


def read_summary(published_path: Path) -> KpiSummary:
    con = duckdb.connect(str(published_path), read_only=True)
    try:
        return summarize(lambda sql: _one(con, sql), published_path, marts="marts", main="main")
    finally:
        con.close()


def read_postgres_summary(conninfo: str, schema: str, label: str) -> KpiSummary:
    """The same summary from the published schema on PostgreSQL (every table in ``schema``)."""
    import psycopg2

    from orchestration.engines import postgres_connection

    with postgres_connection(conninfo, read_only=True) as pg:

        def one(sql: str) -> tuple | None:
            try:
                with pg.cursor() as cur:
                    cur.execute(sql)
                    return cur.fetchone()
            except psycopg2.errors.UndefinedTable:
                return None

        return summarize(one, label, marts=schema, main=schema)


def read_spark_summary(host: str, port: int, database: str, label: str) -> KpiSummary:
    """The same summary from the published views on a Spark Thrift server (every view in ``database``)."""
    from pyhive.exc import OperationalError

    from orchestration.engines import spark_connection

    with spark_connection(host, port) as con:

        def one(sql: str) -> tuple | None:
            cur = con.cursor()
            try:
                cur.execute(sql)
                row = cur.fetchone()
                return None if row is None else tuple(row)
            except OperationalError as e:
                if "TABLE_OR_VIEW_NOT_FOUND" in str(e):
                    return None
                raise
            finally:
                cur.close()

        return summarize(one, label, marts=database, main=database, text="string")


def published_summary(settings: Settings) -> KpiSummary:
    """The summary of what the engine in use published: the DuckDB file, the PostgreSQL schema or the
    Spark database's views."""
    from orchestration.engines import POSTGRES, SPARK, published_where, settings_conninfo

    where = published_where(settings)
    if settings.dbt_target == POSTGRES:
        return read_postgres_summary(settings_conninfo(settings), settings.pg_published_schema, where)
    if settings.dbt_target == SPARK:
        from orchestration.publishing.spark import SPARK_PUBLISHED_DATABASE

        return read_spark_summary(settings.spark_host, settings.spark_port, SPARK_PUBLISHED_DATABASE, where)
    return read_summary(settings.published_path)


def summarize(
    one: Callable[[str], tuple | None],
    where: Path | str,
    *,
    marts: str,
    main: str,
    text: str = "varchar",
) -> KpiSummary:
    """The KPI summary from the published marts (in schema ``marts``) and run history (``main``); the
    SQL is the same on DuckDB, PostgreSQL and Spark (ratios of sums, divided as decimals on all three)
    but for the name of the text type (``text``: ``varchar``, Spark's ``string``)."""
    latest_q = one(
        f"select cast(close_quarter as {text}), sum(bookings_amount_corporate) from {marts}.kpi_bookings "
        "group by 1 order by 1 desc limit 1",
    )
    # The latest quota period that has started by the last close month in the data (to date).
    at_quota = one(
        f"select cast(period_start as {text}), sum(is_at_quota_count) * 1.0 / sum(has_quota_count) "
        f"from {marts}.kpi_quota_attainment "
        f"where period_start <= (select max(close_month) from {marts}.kpi_bookings) "
        "group by 1 having sum(has_quota_count) > 0 order by 1 desc limit 1",
    )
    leak = one(
        f"select stage_name, sum(lost_count) * 1.0 / nullif(sum(reached_count), 0) as loss from "
        f"{marts}.kpi_pipeline_funnel where not is_won_stage group by stage_name "
        "having sum(reached_count) > 0 order by loss desc, stage_name limit 1",
    )
    slow = one(
        "select stage_name, sum(total_days_in_stage) * 1.0 / nullif(sum(completed_stay_count), 0) as days "
        f"from {marts}.kpi_stage_bottlenecks group by stage_name having sum(completed_stay_count) > 0 "
        "order by days desc, stage_name limit 1",
    )
    history = one(
        f"select cast(published_at as {text}), objects_not_found from {main}.run_history "
        "order by published_at desc limit 1",
    )
    return KpiSummary(
        published_path=where,
        last_published_at=history[0] if history else None,
        bookings_total=_value(one(f"select sum(bookings_amount_corporate) from {marts}.kpi_bookings")),
        bookings_latest_quarter=(latest_q[0], float(latest_q[1])) if latest_q else None,
        win_rate=_value(
            one(f"select sum(won_count) * 1.0 / nullif(sum(closed_count), 0) from {marts}.kpi_win_rate")
        ),
        reps_at_quota_share=float(at_quota[1]) if at_quota else None,
        reps_at_quota_period=at_quota[0] if at_quota else None,
        selling_share=_value(
            one(
                f"select sum(selling_minutes) * 1.0 / nullif(sum(duration_minutes), 0) "
                f"from {marts}.kpi_rep_activity",
            )
        ),
        leakiest_stage=(leak[0], float(leak[1])) if leak else None,
        slowest_stage=(slow[0], float(slow[1])) if slow else None,
        objects_not_found=history[1] if history else None,
    )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _money(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def format_summary(s: KpiSummary, *, with_path: bool = True) -> str:
    """The summary's lines; ``with_path=False`` leaves the published file's line out (a run prints it
    with the other paths)."""
    lines = [
        "KPI summary (published warehouse)",
        f"  bookings, all periods         {_money(s.bookings_total)} USD",
    ]
    if s.bookings_latest_quarter:
        q, amount = s.bookings_latest_quarter
        lines.append(f"  bookings, latest quarter      {_money(amount)} USD (quarter starting {q})")
    lines += [
        f"  win rate (by count)           {_pct(s.win_rate)}",
        f"  reps at quota                 {_pct(s.reps_at_quota_share)}"
        + (f" (period starting {s.reps_at_quota_period}, to date)" if s.reps_at_quota_period else ""),
        f"  selling share of logged time  {_pct(s.selling_share)}",
        "  leakiest funnel stage         "
        + (
            f"{s.leakiest_stage[0]} ({_pct(s.leakiest_stage[1])} of entrants lost)"
            if s.leakiest_stage
            else "n/a"
        ),
        "  slowest stage                 "
        + (f"{s.slowest_stage[0]} ({s.slowest_stage[1]:.1f} days on average)" if s.slowest_stage else "n/a"),
    ]
    if s.objects_not_found and s.objects_not_found != "[]":
        lines.append(f"  objects not found             {s.objects_not_found}")
    if with_path:
        label = "published file" if isinstance(s.published_path, Path) else "published"
        lines.append(f"  {label:<30}{s.published_path} (at {s.last_published_at} UTC)")
    return "\n".join(lines)


def print_report(published_path: Path | None = None) -> str:
    """The KPI summary of ``published_path``; by default of what the engine in use published (the
    published file, the PostgreSQL schema or the Spark database)."""
    summary = read_summary(published_path) if published_path else published_summary(Settings.from_env())
    text = format_summary(summary)
    print(text)
    return text
