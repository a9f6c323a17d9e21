"""Benchmarks: ``make bench SCALE=M`` measures the DuckDB floor, the full Dagster run, plain dbt (the
same ``dbt build`` by dbt-duckdb alone over a copy of the full run's raw tables), the one-day (daily) run
and a no-op run (the same last date again, no new files), then the load cost of each export dialect
(``sales-wh generate --dialect``) against the floor, and writes the numbers to docs/BENCHMARKS.md. Speed
is measured here, never asserted in tests.

Every measured step runs in its own process, sampled for the resident memory of its whole process tree
(dbt runs as a child of the Dagster process), so the peak RSS covers everything the step started.

The parts: :mod:`.bench_measure` (a step in a child process, timed and sampled), :mod:`.bench_steps` (the
steps themselves), :mod:`.bench_doc` (Markdown and docs/BENCHMARKS.md); this module holds the two
scenarios (the pipeline, the export dialects) and the command line that runs both scenarios and steps.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestration.contract import OBJECTS
from orchestration.settings import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_PARTITION_START,
    DEFAULT_THREADS,
    PROJECT_ROOT,
    Settings,
    dbt_build_threads,
    postgres_conninfo,
)
from orchestration.tooling.bench_doc import BENCH_DOC, render, render_dialects, render_engines, write_doc
from orchestration.tooling.bench_measure import Measurement, TreeRssSampler, machine, measure
from orchestration.tooling.bench_steps import (
    DIALECT_DATE_FORMATS,
    copy_raw_schema,
    floor_script,
    parse_for_plain_dbt,
    plain_dbt_command,
    run_floor,
    run_load,
    run_pipeline_step,
    run_plain_dbt,
)
from orchestration.tooling.cli import DEMO_DAYS, DEMO_SCALE, DEMO_SEED
from orchestration.tooling.demo_data.dialects import DIALECTS
from orchestration.tooling.spark_server import local_spark_server

__all__ = [
    "BENCH_DOC",
    "DIALECT_DATE_FORMATS",
    "Measurement",
    "TreeRssSampler",
    "bench",
    "bench_dialects",
    "floor_script",
    "main",
    "measure",
    "render",
    "render_dialects",
    "run_floor",
    "run_load",
    "run_pipeline_step",
    "run_plain_dbt",
    "write_doc",
]

#: The benchmarks' first extract date: the first partition.
START = DEFAULT_PARTITION_START


def bench(scale: str, days: int, seed: int, workdir: Path, memory_limit: str) -> dict[str, Any]:
    root = workdir / scale
    landing, counts, generate_seconds = _landing(scale, days, seed, root)
    threads = os.cpu_count() or 2

    env = {
        **os.environ,
        "SALES_WH_LANDING_DIR": str(landing),
        "SALES_WH_WAREHOUSE": str(root / "warehouse.duckdb"),
        "SALES_WH_PUBLISHED": str(root / "published.duckdb"),
        "SALES_WH_MEMORY_LIMIT": memory_limit,
        "SALES_WH_THREADS": str(threads),
        "SALES_WH_PARTITION_START": START.isoformat(),
    }
    # In-memory Dagster instance (as `make run`): Dagster's SQLite event log would add minutes of event
    # writes per year of partitions, a cost of the local SQLite storage, not of the pipeline.
    env.pop("DAGSTER_HOME", None)
    for stale in ("warehouse.duckdb", "published.duckdb"):
        (root / stale).unlink(missing_ok=True)

    load_before = os.getloadavg()
    print(f"[bench {scale}] floor", file=sys.stderr)
    floor = _measure_floor(landing, root / "floor.duckdb", memory_limit, threads, env)
    last = START + timedelta(days=days - 1)
    # The project parsed first, as plain dbt's (and as a deployment prepares it at build time): the full
    # run is measured as every later run finds the project, whether or not it changed since the last
    # bench. A fresh clone's first run does parse; `make run` is measured that way (docs/BENCHMARKS.md).
    print(f"[bench {scale}] dbt parse before the full run (not counted)", file=sys.stderr)
    t0 = time.perf_counter()
    parsed = subprocess.run(
        [sys.executable, "-m", "orchestration.dbt_parse"],
        env=env,
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    full_parse_s = None if "current" in parsed.stdout else round(time.perf_counter() - t0, 1)
    print(f"[bench {scale}] full run {START}..{last - timedelta(days=1)}", file=sys.stderr)
    full = measure(
        ["pipeline", "--start", START.isoformat(), "--end", (last - timedelta(days=1)).isoformat()],
        {**env, "SALES_WH_BENCH_STATS": str(root / "full_stats.json")},
    )
    plain_dbt, plain = _measure_plain_dbt(scale, root, memory_limit, threads)
    print(f"[bench {scale}] one-day (daily) run {last}", file=sys.stderr)
    daily = measure(
        ["pipeline", "--start", last.isoformat(), "--end", last.isoformat()],
        {**env, "SALES_WH_BENCH_STATS": str(root / "daily_stats.json")},
    )
    print(f"[bench {scale}] no-op run {last} again (no new files)", file=sys.stderr)
    noop = measure(
        ["pipeline", "--start", last.isoformat(), "--end", last.isoformat()],
        {**env, "SALES_WH_BENCH_STATS": str(root / "noop_stats.json")},
    )
    return _result(
        scale,
        days,
        memory_limit,
        rows=counts,
        generate_s=round(generate_seconds, 1),
        floor=floor,
        full=full,
        plain_dbt=plain_dbt,
        daily=daily,
        noop=noop,
        load_average=(load_before, os.getloadavg()),
        full_parse_s=full_parse_s,
        **plain,
    )


#: Engines ``--part engines`` compares by default (PostgreSQL must be reachable from ``SALES_WH_PG_*``);
#: ``--engines duckdb,postgres,spark`` adds Spark (a Thrift server this benchmark starts and stops).
BENCH_ENGINES = ("duckdb", "postgres")
#: Port of the Spark Thrift server the engines benchmark starts (``SALES_WH_SPARK_BENCH_PORT``).
DEFAULT_SPARK_BENCH_PORT = 10029


def _fresh_postgres_database(name: str) -> str:
    """Drop and create database ``name`` on the ``SALES_WH_PG_*`` server (each engine run starts empty)."""
    import psycopg2

    settings = Settings.from_env()
    admin = psycopg2.connect(
        postgres_conninfo(settings.pg_host, settings.pg_port, settings.pg_user, "postgres")
    )
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"drop database if exists {name} with (force)")
            cur.execute(f"create database {name}")
    finally:
        admin.close()
    return name


def bench_engines(
    scale: str, days: int, seed: int, workdir: Path, memory_limit: str, engines: tuple[str, ...]
) -> dict[str, Any]:
    """The same full, one-day and no-op runs through Dagster on each engine, one after the other on the
    same landing (``SALES_WH_DBT_TARGET``), each from an empty warehouse (and database)."""
    root = workdir / scale
    landing, _, _ = _landing(scale, days, seed, root)
    threads = os.cpu_count() or 2
    last = START + timedelta(days=days - 1)
    load_before = os.getloadavg()
    runs: dict[str, dict[str, Measurement]] = {}
    for engine in engines:
        base = root / f"engine-{engine}"
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        env = {
            **os.environ,
            "SALES_WH_DBT_TARGET": engine,
            "SALES_WH_LANDING_DIR": str(landing),
            "SALES_WH_WAREHOUSE": str(base / "warehouse.duckdb"),
            "SALES_WH_PUBLISHED": str(base / "published.duckdb"),
            "SALES_WH_LAKE_DIR": str(base / "lake"),
            "DBT_TARGET_PATH": str(base / "target"),
            "SALES_WH_MEMORY_LIMIT": memory_limit,
            "SALES_WH_THREADS": str(threads),
            "SALES_WH_PARTITION_START": START.isoformat(),
        }
        env.pop("DAGSTER_HOME", None)
        if engine == "postgres":
            env["SALES_WH_PG_DATABASE"] = _fresh_postgres_database(f"sales_wh_bench_{scale.lower()}")
        server: AbstractContextManager[dict[str, str]] = nullcontext({})
        if engine == "spark":
            server = local_spark_server(
                base, int(os.environ.get("SALES_WH_SPARK_BENCH_PORT", DEFAULT_SPARK_BENCH_PORT))
            )
        with server as spark_env:
            env.update(spark_env)
            runs[engine] = {}
            for name, first, end in (
                ("full", START, last - timedelta(days=1)),
                ("daily", last, last),
                ("noop", last, last),
            ):
                print(f"[bench {scale} {engine}] {name} run {first}..{end}", file=sys.stderr)
                runs[engine][name] = measure(
                    ["pipeline", "--start", first.isoformat(), "--end", end.isoformat()],
                    {**env, "SALES_WH_BENCH_STATS": str(base / f"{name}_stats.json")},
                )
    return _result(
        scale,
        days,
        memory_limit,
        engines=runs,
        engine_list=",".join(engines),
        load_average=(load_before, os.getloadavg()),
    )


def _landing(scale: str, days: int, seed: int, root: Path) -> tuple[Path, dict[str, int], float]:
    """The scale's demo landing (generated once per days and seed); its rows per object and the
    seconds its generation took."""
    from orchestration.tooling.demo_data import generate

    landing = root / "landing"
    marker = root / f"generated-{days}-{seed}.json"
    t0 = time.perf_counter()
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        written = generate(landing, scale=scale, days=days, seed=seed, start=START)
        counts = {o.name: int(written[o.name]) for o in OBJECTS if o.name in written}
        marker.write_text(json.dumps({"counts": counts, "seconds": round(time.perf_counter() - t0, 1)}))
    generated = json.loads(marker.read_text())
    return landing, generated["counts"], generated["seconds"]


def _measure_plain_dbt(
    scale: str, root: Path, memory_limit: str, threads: int
) -> tuple[Measurement, dict[str, Any]]:
    """Plain dbt after the full run: its ``raw`` schema copied into a fresh file, ``dbt parse`` into a
    scratch target directory (neither measured), then the pipeline's ``dbt build --full-refresh`` (no
    unit tests) by dbt-duckdb alone, measured. The copy is removed afterwards."""
    db, target = root / "plain_dbt.duckdb", root / "plain_dbt_target"
    print(f"[bench {scale}] plain dbt: copying the full run's raw tables", file=sys.stderr)
    t0 = time.perf_counter()
    tables = copy_raw_schema(root / "warehouse.duckdb", db, memory_limit, threads)
    copy_s = round(time.perf_counter() - t0, 1)
    parse_s = parse_for_plain_dbt(db, target)
    from orchestration.defs.dbt_assets import dbt_build_args

    threads = _pipeline_dbt_threads(db, memory_limit)
    stats = root / "plain_dbt_stats.json"
    stats.unlink(missing_ok=True)
    print(f"[bench {scale}] plain dbt: dbt build", file=sys.stderr)
    env = {
        **os.environ,
        "SALES_WH_MEMORY_LIMIT": memory_limit,
        "SALES_WH_THREADS": str(threads),
        "SALES_WH_BENCH_STATS": str(stats),
    }
    env.pop("SALES_WH_WAREHOUSE", None)  # the step sets it to the copy
    try:
        m = measure(
            [
                "plain-dbt",
                "--db",
                str(db),
                "--target-path",
                str(target),
                "--",
                *plain_dbt_command(target, [*dbt_build_args(full_refresh=True), "--threads", str(threads)]),
            ],
            env,
        )
    finally:
        db.unlink(missing_ok=True)
        db.with_name(db.name + ".wal").unlink(missing_ok=True)
    return m, {
        "plain_dbt_copy_s": copy_s,
        "plain_dbt_parse_s": parse_s,
        "plain_dbt_raw_tables": len(tables),
        "plain_dbt_threads": threads,
    }


def _pipeline_dbt_threads(db: Path, memory_limit: str) -> int:
    """The dbt threads the pipeline's dbt step would use on the raw tables of ``db``
    (:func:`~orchestration.settings.dbt_build_threads`), so plain dbt builds with the same."""
    import duckdb

    from orchestration.defs.dbt_assets import raw_row_count

    settings = Settings.from_env()
    with duckdb.connect(str(db), read_only=True) as con:
        rows = raw_row_count(con)
    return dbt_build_threads(rows, memory_limit, settings.dbt_threads, settings.dbt_threads_large)


def bench_dialects(scale: str, days: int, seed: int, workdir: Path, memory_limit: str) -> dict[str, Any]:
    """Floor (DuckDB's typed read of the default demo files) against the loader's cost on the default
    files and on the same rows written in each export dialect."""
    from orchestration.tooling.demo_data import generate

    threads = os.cpu_count() or 2
    root = workdir / scale / "dialects"
    env = {**os.environ}
    landings: dict[str, Path] = {}
    for dialect in ("default", *DIALECTS):
        landing = root / dialect / "landing"
        marker = root / dialect / f"generated-{days}-{seed}.json"
        if not marker.exists():
            shutil.rmtree(root / dialect, ignore_errors=True)
            print(f"[bench {scale}] generating the {dialect} dialect", file=sys.stderr)
            written = generate(
                landing,
                scale=scale,
                days=days,
                seed=seed,
                start=START,
                dialect=None if dialect == "default" else dialect,
                progress=False,
            )
            marker.write_text(
                json.dumps({o.name: int(written[o.name]) for o in OBJECTS if o.name in written})
            )
        landings[dialect] = landing
    size = {d: sum(p.stat().st_size for p in landing.rglob("*.csv")) for d, landing in landings.items()}
    common = ["--memory-limit", memory_limit, "--threads", str(threads)]
    print(f"[bench {scale}] dialects: floor", file=sys.stderr)
    floor = _measure_floor(landings["default"], root / "floor.duckdb", memory_limit, threads, env)
    loads: dict[str, Measurement] = {}
    for dialect, landing in landings.items():
        print(f"[bench {scale}] dialects: load {dialect}", file=sys.stderr)
        stats = root / f"load-{dialect}.json"
        stats.unlink(missing_ok=True)
        fmt = DIALECT_DATE_FORMATS.get(dialect)
        loads[dialect] = measure(
            [
                "load",
                "--landing",
                str(landing),
                "--db",
                str(root / f"load-{dialect}.duckdb"),
                *common,
                *(["--date-format", fmt] if fmt else []),
            ],
            {**env, "SALES_WH_BENCH_STATS": str(stats)},
        )
        (root / f"load-{dialect}.duckdb").unlink(missing_ok=True)
    return _result(scale, days, memory_limit, csv_bytes=size, floor=floor, loads=loads)


def _measure_floor(
    landing: Path, db: Path, memory_limit: str, threads: int, env: dict[str, str]
) -> Measurement:
    """The floor step of a scenario: DuckDB's typed read of ``landing`` into ``db``."""
    return measure(
        [
            "floor",
            "--landing",
            str(landing),
            "--db",
            str(db),
            "--memory-limit",
            memory_limit,
            "--threads",
            str(threads),
        ],
        env,
    )


def _result(scale: str, days: int, memory_limit: str, **measured: Any) -> dict[str, Any]:
    """A scenario's result for :mod:`.bench_doc`: when, on what machine and at what size it ran, then
    its measurements."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "scale": scale,
        "days": days,
        "memory_limit": memory_limit,
        **measured,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestration.tooling.bench", description=__doc__)
    sub = parser.add_subparsers(dest="cmd")
    p_floor = sub.add_parser("floor")
    p_floor.add_argument("--landing", type=Path, required=True)
    p_floor.add_argument("--db", type=Path, required=True)
    p_floor.add_argument("--memory-limit", default=DEFAULT_MEMORY_LIMIT)
    p_floor.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    p_load = sub.add_parser("load")
    p_load.add_argument("--landing", type=Path, required=True)
    p_load.add_argument("--db", type=Path, required=True)
    p_load.add_argument("--memory-limit", default=DEFAULT_MEMORY_LIMIT)
    p_load.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    p_load.add_argument("--date-format", default=None)
    p_dbt = sub.add_parser("plain-dbt")
    p_dbt.add_argument("--db", type=Path, required=True)
    p_dbt.add_argument("--target-path", type=Path, required=True)
    p_dbt.add_argument("command", nargs=argparse.REMAINDER, help="-- then the dbt command line")
    p_pipe = sub.add_parser("pipeline")
    p_pipe.add_argument("--start", type=date.fromisoformat, required=True)
    p_pipe.add_argument("--end", type=date.fromisoformat, required=True)
    parser.add_argument("--scale", default=DEMO_SCALE, choices=["S", "M", "L"])
    parser.add_argument("--days", type=int, default=DEMO_DAYS)
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench"))
    parser.add_argument(
        "--memory-limit", default=os.environ.get("SALES_WH_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
    )
    parser.add_argument(
        "--part",
        choices=["all", "pipeline", "dialects", "engines"],
        default="all",
        help="pipeline: floor, full run, plain dbt, one-day (daily) and no-op runs; "
        "dialects: the loader on each export dialect vs the floor; "
        "engines: full, one-day and no-op runs on each engine (needs PostgreSQL: SALES_WH_PG_*; "
        "spark: Java 17 and the spark extra, a Thrift server is started)",
    )
    parser.add_argument(
        "--engines",
        default=",".join(BENCH_ENGINES),
        help=f"engines of --part engines, comma-separated (default {','.join(BENCH_ENGINES)})",
    )
    args = parser.parse_args(argv)
    if args.cmd == "floor":
        run_floor(args.landing, args.db, args.memory_limit, args.threads)
    elif args.cmd == "load":
        stats = os.environ.get("SALES_WH_BENCH_STATS")
        run_load(
            args.landing,
            args.db,
            args.memory_limit,
            args.threads,
            Path(stats) if stats else None,
            args.date_format,
        )
    elif args.cmd == "plain-dbt":
        stats = os.environ.get("SALES_WH_BENCH_STATS")
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        run_plain_dbt(command, args.db, args.target_path, Path(stats) if stats else None)
    elif args.cmd == "pipeline":
        stats = os.environ.get("SALES_WH_BENCH_STATS")
        run_pipeline_step(args.start, args.end, Path(stats) if stats else None)
    else:
        workdir = args.workdir.absolute()
        if args.part in ("all", "pipeline"):
            section = render(bench(args.scale, args.days, args.seed, workdir, args.memory_limit))
            write_doc(section, args.scale)
            print(section)
        if args.part == "engines":
            engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
            section = render_engines(
                bench_engines(args.scale, args.days, args.seed, workdir, args.memory_limit, engines)
            )
            # One section per scale for the runs with PostgreSQL; a run without it (e.g. duckdb,spark)
            # gets its own section instead of replacing that one.
            others = [e for e in engines if e not in ("duckdb", "postgres")]
            key = (
                f"engines-{args.scale}"
                if "postgres" in engines
                else "-".join(["engines", args.scale, *others])
            )
            write_doc(section, key)
            print(section)
        if args.part in ("all", "dialects"):
            section = render_dialects(
                bench_dialects(args.scale, args.days, args.seed, workdir, args.memory_limit)
            )
            write_doc(section, f"dialects-{args.scale}")
            print(section)


if __name__ == "__main__":
    main()
