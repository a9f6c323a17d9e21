"""How a benchmark step is measured: in its own process (``python -m orchestration.tooling.bench <step>``),
timed, with the resident memory of its whole process tree sampled (dbt runs as a child of the Dagster
process), so the peak RSS covers everything the step started."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from orchestration.settings import PROJECT_ROOT


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
    stats: dict[str, Any] = field(default_factory=dict)


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


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.machine()}"


def fmt_mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"
