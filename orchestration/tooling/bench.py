"""Benchmarks: ``make bench SCALE=M`` measures the DuckDB floor, the full Dagster run and a daily run, then
the load cost of each export dialect (``sales-wh generate --dialect``) against the floor, and writes the
numbers to docs/BENCHMARKS.md. Speed is measured here, never asserted in tests.

Every measured step runs in its own process, sampled for the resident memory of its whole process tree
(dbt runs as a child of the Dagster process), so the peak RSS covers everything the step started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import psutil

from orchestration.contract import OBJECTS, LandingObject
from orchestration.settings import PROJECT_ROOT

BENCH_DOC = PROJECT_ROOT / "docs" / "BENCHMARKS.md"
START = date(2025, 1, 1)


class TreeRssSampler:
    """Peak resident memory of a process and all its descendants, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                for proc in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        total += proc.memory_info().rss
            except psutil.Error:
                break
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Measurement:
    seconds: float
    peak_rss_bytes: int
    stats: dict = field(default_factory=dict)


def measure(args: list[str], env: dict[str, str] | None = None) -> Measurement:
    """Run ``python -m orchestration.tooling.bench <args>`` in a child process; time it, sample its RSS."""
    stats_file = Path(env["SALES_WH_BENCH_STATS"]) if env and "SALES_WH_BENCH_STATS" in env else None
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.tooling.bench", *args], env=env, cwd=PROJECT_ROOT
    )
    with TreeRssSampler(proc.pid) as sampler:
        code = proc.wait()
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"benchmark step {' '.join(args)} failed with exit code {code}")
    stats = json.loads(stats_file.read_text()) if stats_file and stats_file.exists() else {}
    return Measurement(seconds, sampler.peak, stats)


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
    import inspect

    from orchestration.ingestion.loader import list_extract_dates, load_batches

    kwargs = {}
    if date_format and "date_formats" in inspect.signature(load_batches).parameters:
        kwargs["date_formats"] = {"*": date_format}
    from orchestration.warehouse import connect_warehouse

    db_path.unlink(missing_ok=True)
    stats: dict[str, dict] = {}
    con = connect_warehouse(db_path, memory_limit=memory_limit, threads=threads)
    try:
        for obj in OBJECTS:
            dates = list_extract_dates(landing, obj)
            if not dates:
                continue
            t0 = time.perf_counter()
            try:
                results = load_batches(con, obj, landing, dates, **kwargs)
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


DIALECTS = ("api", "report", "connector")
#: The date setting a user of each export gives (SALES_WH_DATE_FORMATS): reports are US-dated, and a
#: quota file of quarter starts (01/01, 04/01, ...) reads both ways, so without it that batch fails.
DIALECT_DATE_FORMATS = {"report": "MDY"}


def bench_dialects(scale: str, days: int, seed: int, workdir: Path, memory_limit: str) -> dict:
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
            import shutil

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
    floor = measure(
        ["floor", "--landing", str(landings["default"]), "--db", str(root / "floor.duckdb"), *common], env
    )
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
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "scale": scale,
        "days": days,
        "memory_limit": memory_limit,
        "csv_bytes": size,
        "floor": floor,
        "loads": loads,
    }


def render_dialects(result: dict) -> str:
    floor, loads = result["floor"], result["loads"]
    lines = [
        f"### Export dialects, scale {result['scale']} ({result['days']} days of extracts), {result['date']}",
        "",
        f"Machine: {result['machine']}; DuckDB memory limit {result['memory_limit']}. Load: every object's "
        "extract dates through `load_batches` in one call per object (as a one-run backfill), no landing "
        "checks, dbt or Dagster; the report dialect with the setting its users give "
        f"(`{DIALECT_DATE_FORMATS}`). Floor: DuckDB's typed read of the default files.",
        "",
        "| files | CSV size | wall time | × floor | peak RSS | rows loaded | rejected | objects failed |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| floor (default files, DuckDB typed read) | {result['csv_bytes']['default'] / 2**20:,.0f} MiB | "
        f"{floor.seconds:,.1f} s | 1.0 | {_fmt_mb(floor.peak_rss_bytes)} | | | |",
    ]
    for dialect, m in loads.items():
        ok = {k: v for k, v in m.stats.items() if "error" not in v}
        loaded = sum(v["loaded_rows"] for v in ok.values())
        rejected = sum(v["rejected_rows"] for v in ok.values())
        failed = sorted(k for k, v in m.stats.items() if "error" in v)
        lines.append(
            f"| load: {dialect} | {result['csv_bytes'][dialect] / 2**20:,.0f} MiB | {m.seconds:,.1f} s | "
            f"{m.seconds / floor.seconds:.1f} | {_fmt_mb(m.peak_rss_bytes)} | "
            f"{loaded:,} | {rejected:,} | "
            f"{', '.join(failed) or 'none'} |"
        )
    if any("error" in v for m in loads.values() for v in m.stats.values()):
        lines += ["", "Failures (a failed object loads nothing; its time is not comparable):", ""]
        for dialect, m in loads.items():
            for k, v in sorted(m.stats.items()):
                if "error" in v:
                    lines.append(f"- {dialect}, {k}: `{v['error'][:200]}`")
    lines.append("")
    return "\n".join(lines)


# --- the pipeline steps (child processes) ----------------------------------------------------------------


def run_pipeline_step(start: date, end: date, stats_path: Path | None) -> None:
    from orchestration.tooling.pipeline import run_pipeline

    result = run_pipeline(start, end)
    if stats_path is not None:
        stats_path.write_text(json.dumps(result.step_seconds))
    if not result.success:
        raise SystemExit(f"pipeline run {result.run_id} failed: {', '.join(result.failed_steps)}")


# --- orchestration of a benchmark ------------------------------------------------------------------------


def _machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.machine()}"


def bench(scale: str, days: int, seed: int, workdir: Path, memory_limit: str) -> dict:
    from orchestration.tooling.demo_data import generate

    root = workdir / scale
    landing = root / "landing"
    marker = root / f"generated-{days}-{seed}.json"
    t0 = time.perf_counter()
    if not marker.exists():
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        written = generate(landing, scale=scale, days=days, seed=seed, start=START)
        counts = {o.name: int(written[o.name]) for o in OBJECTS if o.name in written}
        marker.write_text(json.dumps({"counts": counts, "seconds": round(time.perf_counter() - t0, 1)}))
    generated = json.loads(marker.read_text())
    counts, generate_seconds = generated["counts"], generated["seconds"]
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

    print(f"[bench {scale}] floor", file=sys.stderr)
    floor = measure(
        [
            "floor",
            "--landing",
            str(landing),
            "--db",
            str(root / "floor.duckdb"),
            "--memory-limit",
            memory_limit,
            "--threads",
            str(threads),
        ],
        env,
    )
    last = START + timedelta(days=days - 1)
    print(f"[bench {scale}] full run {START}..{last - timedelta(days=1)}", file=sys.stderr)
    full = measure(
        ["pipeline", "--start", START.isoformat(), "--end", (last - timedelta(days=1)).isoformat()],
        {**env, "SALES_WH_BENCH_STATS": str(root / "full_stats.json")},
    )
    print(f"[bench {scale}] daily run {last}", file=sys.stderr)
    daily = measure(
        ["pipeline", "--start", last.isoformat(), "--end", last.isoformat()],
        {**env, "SALES_WH_BENCH_STATS": str(root / "daily_stats.json")},
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "scale": scale,
        "days": days,
        "memory_limit": memory_limit,
        "rows": counts,
        "generate_s": round(generate_seconds, 1),
        "floor": floor,
        "full": full,
        "daily": daily,
    }


def _fmt_mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def render(result: dict) -> str:
    floor, full, daily = result["floor"], result["full"], result["daily"]
    rows = result["rows"]
    lines = [
        f"### Scale {result['scale']} ({result['days']} days of extracts), {result['date']}",
        "",
        f"Machine: {result['machine']}; DuckDB memory limit {result['memory_limit']}.",
        "",
        "| object | landed rows |",
        "|---|---:|",
        *(f"| {k} | {v:,} |" for k, v in rows.items()),
        f"| **total** | **{sum(rows.values()):,}** |",
        "",
        "| measurement | wall time | peak RSS (process tree) |",
        "|---|---:|---:|",
        f"| floor: DuckDB reads every landing file into typed tables | {floor.seconds:,.1f} s | "
        f"{_fmt_mb(floor.peak_rss_bytes)} |",
        f"| full run through Dagster (load, dbt build, checks, publish) | {full.seconds:,.1f} s | "
        f"{_fmt_mb(full.peak_rss_bytes)} |",
        f"| daily run (one more day on top of the history) | {daily.seconds:,.1f} s | "
        f"{_fmt_mb(daily.peak_rss_bytes)} |",
        "",
        f"Ratios: full ÷ floor = {full.seconds / floor.seconds:.1f}; daily ÷ full = "
        f"{daily.seconds / full.seconds:.2f}. "
        f"Generating the demo data took {result['generate_s']:,.1f} s (not counted).",
        "",
    ]
    for title, m in (("Full run", full), ("Daily run", daily)):
        if m.stats:
            lines += [f"{title}, seconds per Dagster step:", "", "| step | seconds |", "|---|---:|"]
            lines += [f"| {k} | {v:,.1f} |" for k, v in sorted(m.stats.items(), key=lambda kv: -kv[1])]
            lines.append("")
    return "\n".join(lines)


def write_doc(section: str, scale: str) -> None:
    """Replace this scale's section in docs/BENCHMARKS.md (other scales' sections stay)."""
    text = BENCH_DOC.read_text() if BENCH_DOC.exists() else "# Benchmarks\n\n"
    marker_start, marker_end = f"<!-- bench:{scale}:start -->", f"<!-- bench:{scale}:end -->"
    block = f"{marker_start}\n{section}\n{marker_end}"
    if marker_start in text:
        head, _, rest = text.partition(marker_start)
        _, _, tail = rest.partition(marker_end)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    BENCH_DOC.write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestration.tooling.bench", description=__doc__)
    sub = parser.add_subparsers(dest="cmd")
    p_floor = sub.add_parser("floor")
    p_floor.add_argument("--landing", type=Path, required=True)
    p_floor.add_argument("--db", type=Path, required=True)
    p_floor.add_argument("--memory-limit", default="4GB")
    p_floor.add_argument("--threads", type=int, default=2)
    p_load = sub.add_parser("load")
    p_load.add_argument("--landing", type=Path, required=True)
    p_load.add_argument("--db", type=Path, required=True)
    p_load.add_argument("--memory-limit", default="4GB")
    p_load.add_argument("--threads", type=int, default=2)
    p_load.add_argument("--date-format", default=None)
    p_pipe = sub.add_parser("pipeline")
    p_pipe.add_argument("--start", type=date.fromisoformat, required=True)
    p_pipe.add_argument("--end", type=date.fromisoformat, required=True)
    parser.add_argument("--scale", default="S", choices=["S", "M", "L"])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench"))
    parser.add_argument("--memory-limit", default=os.environ.get("SALES_WH_MEMORY_LIMIT", "4GB"))
    parser.add_argument(
        "--part",
        choices=["all", "pipeline", "dialects"],
        default="all",
        help="pipeline: floor, full and daily runs; dialects: the loader on each export dialect vs the floor",
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
    elif args.cmd == "pipeline":
        stats = os.environ.get("SALES_WH_BENCH_STATS")
        run_pipeline_step(args.start, args.end, Path(stats) if stats else None)
    else:
        workdir = args.workdir.absolute()
        if args.part in ("all", "pipeline"):
            section = render(bench(args.scale, args.days, args.seed, workdir, args.memory_limit))
            write_doc(section, args.scale)
            print(section)
        if args.part in ("all", "dialects"):
            section = render_dialects(
                bench_dialects(args.scale, args.days, args.seed, workdir, args.memory_limit)
            )
            write_doc(section, f"dialects-{args.scale}")
            print(section)


if __name__ == "__main__":
    main()
