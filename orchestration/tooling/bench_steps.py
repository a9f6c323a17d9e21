"""The measured steps of the benchmarks, each run in a child process by :func:`.bench_measure.measure`:
the floor (DuckDB alone reads every landing file into typed tables), the loader alone, plain dbt (the
pipeline's ``dbt build`` by dbt-duckdb alone over a copy of the raw tables) and the whole pipeline
through Dagster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from orchestration.contract import OBJECTS, LandingObject
from orchestration.settings import PROJECT_ROOT

#: The date setting a user of each export gives (SALES_WH_DATE_FORMATS): reports are US-dated, and a
#: quota file of quarter starts (01/01, 04/01, ...) reads both ways, so without it that batch fails.
DIALECT_DATE_FORMATS = {"report": "MDY"}


# --- the floor: DuckDB alone, one SQL script -------------------------------------------------------------


def _floor_select(obj: LandingObject, landing: Path) -> str:
    """Typed read of every landing file of one object (demo data: CSV with API-name headers).

    DuckDB's CSV reader with the contract's types given up front: the fastest way DuckDB has to get
    these files into typed tables (reading all columns as text and casting afterwards is ~8x slower).
    Timestamps carry their offset (``+0000``), so they are read as TIMESTAMPTZ, i.e. UTC instants.
    """
    pattern = str(landing / obj.name / "*" / "*.csv")
    from orchestration.tooling.demo_data.writer import (
        written_fields,  # the demo leaves unsimulated fields out
    )

    types = {f.name: ("TIMESTAMPTZ" if f.type == "timestamp" else f.duckdb_type) for f in written_fields(obj)}
    type_map = ", ".join(f"'{name}': '{typ}'" for name, typ in types.items())
    return (
        f"create or replace table raw.{obj.table} as select * from read_csv('{pattern}', header = true, "
        f"types = {{{type_map}}}, timestampformat = '%Y-%m-%dT%H:%M:%S.%g%z', dateformat = '%Y-%m-%d')"
    )


def floor_script(landing: Path) -> str:
    present = [o for o in OBJECTS if any((landing / o.name).glob("*/*.csv"))]
    return ";\n".join(["create schema if not exists raw", *(_floor_select(o, landing) for o in present)])


def run_floor(landing: Path, db_path: Path, memory_limit: str, threads: int) -> None:
    db_path.unlink(missing_ok=True)
    con = duckdb.connect(str(db_path), config={"memory_limit": memory_limit, "threads": threads})
    con.execute(floor_script(landing))
    con.close()


# --- the loader alone (export dialects) --------------------------------------------------------------------


def run_load(
    landing: Path,
    db_path: Path,
    memory_limit: str,
    threads: int,
    stats_path: Path | None,
    date_format: str | None = None,
) -> None:
    """Every object's extract dates loaded by the real loader in one call per object (as a one-run
    backfill does), into a fresh warehouse file; no landing checks, dbt or Dagster. ``date_format``
    (e.g. ``MDY``) is the setting a user of that export would give for every object (it only settles
    columns whose every value reads both as US and as day-first dates). A batch error (or a loader
    failure) of an object is recorded in the stats, and the other objects still load."""
    from orchestration.ingestion.loader import list_extract_dates, load_batches
    from orchestration.warehouse import connect_warehouse

    date_formats = {"*": date_format} if date_format else None

    db_path.unlink(missing_ok=True)
    stats: dict[str, dict[str, Any]] = {}
    con = connect_warehouse(db_path, memory_limit=memory_limit, threads=threads)
    try:
        for obj in OBJECTS:
            dates = list_extract_dates(landing, obj)
            if not dates:
                continue
            t0 = time.perf_counter()
            try:
                results = load_batches(con, obj, landing, dates, date_formats=date_formats)
            except Exception as exc:  # noqa: BLE001  recorded: the benchmark reports what failed
                stats[obj.name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                continue
            stats[obj.name] = {
                "seconds": round(time.perf_counter() - t0, 2),
                "source_rows": sum(r.source_rows for r in results),
                "loaded_rows": sum(r.loaded_rows for r in results),
                "rejected_rows": sum(r.rejected_rows for r in results),
            }
    finally:
        con.close()
    if stats_path is not None:
        stats_path.write_text(json.dumps(stats))


# --- plain dbt: dbt-duckdb alone over the raw tables, no Dagster, no landing checks ------------------------


def copy_raw_schema(warehouse: Path, db_path: Path, memory_limit: str, threads: int) -> list[str]:
    """Copy every table of the ``raw`` schema of ``warehouse`` (the loaded rows and ``raw._load_audit``,
    everything the dbt sources read) into a fresh DuckDB file ``db_path``; returns the tables copied."""
    db_path.unlink(missing_ok=True)
    con = duckdb.connect(str(db_path), config={"memory_limit": memory_limit, "threads": threads})
    try:
        con.execute(f"attach '{warehouse}' as bench_source (read_only)")
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from duckdb_tables() where database_name = 'bench_source' "
                "and schema_name = 'raw' order by table_name"
            ).fetchall()
        ]
        con.execute("create schema if not exists raw")
        for table in tables:
            con.execute(f'create table raw."{table}" as select * from bench_source.raw."{table}"')
        con.execute("detach bench_source")
    finally:
        con.close()
    return tables


def plain_dbt_command(target_path: Path, dbt_args: list[str] | None = None) -> list[str]:
    """The venv's dbt on this project (the pipeline's profiles, the duckdb target), its target and log
    directories under ``target_path`` (not the repository's ``target/`` and ``logs/``). ``dbt_args``:
    the pipeline's ``dbt build`` on a changed project (:func:`~orchestration.defs.dbt_assets.dbt_build_args`
    with ``--full-refresh``, no unit tests). Built in the parent: the measured child imports no Dagster."""
    from orchestration.dbt_parse import dbt_executable
    from orchestration.defs.dbt_assets import DBT_PROFILES_DIR, dbt_build_args

    return [
        dbt_executable(),
        *(dbt_build_args(full_refresh=True) if dbt_args is None else dbt_args),
        "--profiles-dir",
        str(DBT_PROFILES_DIR),
        "--project-dir",
        str(PROJECT_ROOT),
        "--target",
        "duckdb",
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path / "logs"),
    ]


def plain_dbt_env(db_path: Path) -> dict[str, str]:
    return {**os.environ, "SALES_WH_WAREHOUSE": str(db_path)}


def parse_for_plain_dbt(db_path: Path, target_path: Path) -> float:
    """``dbt parse`` into ``target_path`` before the measured build (not measured: the pipeline's dbt step
    also finds a parsed project). Returns its seconds."""
    shutil.rmtree(target_path, ignore_errors=True)
    target_path.mkdir(parents=True)
    t0 = time.perf_counter()
    subprocess.run(
        plain_dbt_command(target_path, ["parse", "--quiet"]),
        env=plain_dbt_env(db_path),
        cwd=PROJECT_ROOT,
        check=True,
    )
    return round(time.perf_counter() - t0, 2)


def run_plain_dbt(command: list[str], db_path: Path, target_path: Path, stats_path: Path | None) -> None:
    """Run ``command`` (:func:`plain_dbt_command`) on ``db_path``. dbt's output goes to
    ``target_path/plain_dbt.log``; the stats hold dbt's own seconds and its nodes by status."""
    log = target_path / "plain_dbt.log"
    t0 = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(
            command, env=plain_dbt_env(db_path), cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT
        ).returncode
    seconds = round(time.perf_counter() - t0, 2)
    statuses: dict[str, int] = {}
    results = target_path / "run_results.json"
    if results.exists():
        for r in json.loads(results.read_text()).get("results", []):
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    if stats_path is not None:
        stats_path.write_text(json.dumps({"dbt_seconds": seconds, "statuses": statuses}))
    if code != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise SystemExit(f"plain dbt build failed (exit code {code}); end of {log}:\n{tail}")


# --- the pipeline through Dagster ------------------------------------------------------------------------


def run_pipeline_step(start: date, end: date, stats_path: Path | None) -> None:
    """One pipeline run as ``sales-wh run`` makes it: dbt parses while Dagster is imported."""
    from orchestration.dbt_parse import parse_early

    with parse_early():
        from orchestration.tooling.pipeline import run_pipeline

        result = run_pipeline(start, end)
    if stats_path is not None:
        stats_path.write_text(json.dumps(result.step_seconds))
    if not result.success:
        raise SystemExit(f"pipeline run {result.run_id} failed: {', '.join(result.failed_steps)}")
