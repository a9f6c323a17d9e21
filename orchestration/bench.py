"""Benchmarks: ``make bench SCALE=M`` measures the DuckDB floor, the full Dagster run and a daily run, and
writes the numbers to docs/BENCHMARKS.md. Speed is measured here, never asserted in tests.

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
    """Run ``python -m orchestration.bench <args>`` in a child process; time it and sample its tree's RSS."""
    stats_file = Path(env["SALES_WH_BENCH_STATS"]) if env and "SALES_WH_BENCH_STATS" in env else None
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "orchestration.bench", *args], env=env, cwd=PROJECT_ROOT)
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
    types = {f.name: ("TIMESTAMPTZ" if f.type == "timestamp" else f.duckdb_type) for f in obj.fields}
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


# --- the pipeline steps (child processes) ----------------------------------------------------------------


def run_pipeline_step(start: date, end: date, stats_path: Path | None) -> None:
    from orchestration.pipeline import run_pipeline

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
    from orchestration.demo_data import generate

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
    parser = argparse.ArgumentParser(prog="python -m orchestration.bench", description=__doc__)
    sub = parser.add_subparsers(dest="cmd")
    p_floor = sub.add_parser("floor")
    p_floor.add_argument("--landing", type=Path, required=True)
    p_floor.add_argument("--db", type=Path, required=True)
    p_floor.add_argument("--memory-limit", default="4GB")
    p_floor.add_argument("--threads", type=int, default=2)
    p_pipe = sub.add_parser("pipeline")
    p_pipe.add_argument("--start", type=date.fromisoformat, required=True)
    p_pipe.add_argument("--end", type=date.fromisoformat, required=True)
    parser.add_argument("--scale", default="S", choices=["S", "M", "L"])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench"))
    parser.add_argument("--memory-limit", default=os.environ.get("SALES_WH_MEMORY_LIMIT", "4GB"))
    args = parser.parse_args(argv)
    if args.cmd == "floor":
        run_floor(args.landing, args.db, args.memory_limit, args.threads)
    elif args.cmd == "pipeline":
        stats = os.environ.get("SALES_WH_BENCH_STATS")
        run_pipeline_step(args.start, args.end, Path(stats) if stats else None)
    else:
        result = bench(args.scale, args.days, args.seed, args.workdir.absolute(), args.memory_limit)
        section = render(result)
        write_doc(section, args.scale)
        print(section)


if __name__ == "__main__":
    main()
