"""``make reliability``: run the reliability suites (full sets) and write docs/RELIABILITY.md from what
they measured.

Each suite runs as its own pytest command with the recorder plugin (``tests/reliability/record.py``),
which keeps every test's outcome and the figures the tests put (kill points, reader loops, disk
outcomes) in one JSON file per suite; :func:`render` turns those files into the document, naming for
every figure the command that produced it. ``--reduced`` runs the sets CI runs (quicker, for trying the
tool); ``--from DIR`` only re-renders the document from the JSON files of an earlier run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestration.faults import FAULT_POINT_ENV
from orchestration.settings import PROJECT_ROOT
from orchestration.tooling.bench_measure import machine

RELIABILITY_DOC = PROJECT_ROOT / "docs" / "RELIABILITY.md"
RECORD_ENV = "SALES_WH_RELIABILITY_RECORD"  # tests/reliability/record.py reads the same names
LEVEL_ENV = "SALES_WH_RELIABILITY"


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    args: tuple[str, ...]


SUITES = (
    Suite(
        "faults", "kill points, full disk, unwritable published folder", ("tests/reliability/test_faults.py",)
    ),
    Suite(
        "concurrency",
        "readers during publishes, one writer (command line and Dagster runs)",
        ("tests/reliability/test_concurrency.py", "tests/reliability/test_dagster_lock.py"),
    ),
    Suite("bad_inputs", "bad-input corpus", ("tests/test_bad_inputs.py",)),
    Suite(
        "freshness",
        "freshness checks",
        ("tests/test_checks_bite.py", "-k", "freshness or expected_date or schedule_date"),
    ),
)

#: Where each kill point is (orchestration/faults.py documents them for the code).
POINT_WHERE = {
    "dbt_parse": "dbt project parsed, manifest written, its stamp not yet",
    "raw_load": "inside the load transaction of {obj}: partitions replaced and audited, not committed",
    "dbt_build": "inside `dbt build`, at the first event dbt streams (the next models running)",
    "dbt_build@150": "inside `dbt build`, at its 150th event (half-way)",
    "mart_checks": "inside the mart checks step, after the first check",
    "publish_copy": "inside publish: temporary file half written (one table copied)",
    "publish_rename": "between publish's write and its rename (temporary file complete)",
    "publish_done": "just after the rename, before the run records it",
}


#: The fault-suite test behind each disk figure (its outcome stands in when the figure is missing).
DISK_TESTS = {
    "warehouse_folder_full": "::test_full_disk_under_the_warehouse_",
    "published_folder_full": "::test_full_published_folder_",
    "published_folder_unwritable": "::test_unwritable_published_folder_",
}
_TMP = re.compile(r"/tmp/pytest-of-[^/]+/pytest-\d+/")


def command_line(suite: Suite, level: str) -> str:
    """The command of ``suite`` as a person would type it (what the document names)."""
    env = f"{LEVEL_ENV}=full " if level == "full" else ""
    args = " ".join(f'"{a}"' if " " in a else a for a in suite.args)
    return f"{env}.venv/bin/pytest {args}"


def run_suite(suite: Suite, out_dir: Path, level: str) -> dict[str, Any]:
    """Run one suite with the recorder; returns its JSON (with the exit code and wall time)."""
    record = out_dir / f"{suite.name}.json"
    record.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != FAULT_POINT_ENV}
    env[RECORD_ENV] = str(record)
    env[LEVEL_ENV] = level
    command = [sys.executable, "-m", "pytest", "-p", "tests.reliability.record", "-q", *suite.args]
    print(f"== {suite.name}: {command_line(suite, level)}", flush=True)
    t0 = time.monotonic()
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=False)
    data: dict[str, Any] = json.loads(record.read_text()) if record.exists() else {"figures": {}, "tests": {}}
    data.update(exit_code=done.returncode, seconds=round(time.monotonic() - t0, 1))
    data["command"] = command_line(suite, level)
    record.write_text(json.dumps(data, indent=2, sort_keys=True))
    return data


# --- the document ---------------------------------------------------------------------------------------


def _tests(data: dict[str, Any], contains: str) -> tuple[int, int, list[str]]:
    """(passed, total, not passed: ``name: outcome``) of the tests whose id contains ``contains``."""
    chosen = {k: v for k, v in data.get("tests", {}).items() if contains in k}
    passed = sum(v["outcome"] == "passed" for v in chosen.values())
    bad = [f"{k.split('::')[-1]}: {v['outcome']}" for k, v in chosen.items() if v["outcome"] != "passed"]
    return passed, len(chosen), bad


def _where(point: str) -> str:
    if point.startswith("raw_load:"):
        obj = point.split(":", 1)[1]
        return POINT_WHERE["raw_load"].format(obj=obj)
    return POINT_WHERE.get(point, point)


def _ratio(n: int, total: int) -> str:
    return f"**{n}/{total}**"


def render(suites: dict[str, dict[str, Any]], *, generated: str, host: str) -> str:
    faults = suites.get("faults", {})
    conc = suites.get("concurrency", {})
    bad = suites.get("bad_inputs", {})
    fresh = suites.get("freshness", {})
    ff = faults.get("figures", {})
    cf = conc.get("figures", {})
    level = faults.get("level", "reduced")
    plan: list[str] = ff.get("kill_plan", {}).get("points", [])
    kills: dict[str, dict[str, Any]] = ff.get("kill_points", {})
    survived = [p for p in plan if kills.get(p, {}).get("survived")]
    rerun_each = all(kills.get(p, {}).get("rerun_each") for p in survived) and bool(survived)
    during = ff.get("readers", {}).get("during_kills", {})
    loop = cf.get("readers", {}).get("publish_loop", {})
    writer = {**cf.get("one_writer", {})}
    disk = ff.get("disk", {})
    corpus_ok, corpus_n, corpus_bad = _tests(bad, "test_bad_input[")
    fresh_ok, fresh_n, fresh_bad = _tests(fresh, "test_")
    batches = sum(int(k.get("raw_batches_checked", 0)) for k in kills.values())
    tables = max((int(k.get("tables_equal", 0)) for k in kills.values()), default=0)
    cmd = {name: s.get("command", "(not run)") for name, s in suites.items()}
    minutes = sum(float(s.get("seconds", 0)) for s in suites.values()) / 60

    def disk_line(key: str, what: str) -> str:
        d = disk.get(key)
        if d is None:
            tests: dict[str, dict[str, Any]] = faults.get("tests", {})
            test = next((v for k, v in tests.items() if DISK_TESTS[key] in k), {})
            if test.get("outcome") in ("failed", "error"):
                return f"| {what} | **FAILED**: see the output of `{cmd.get('faults')}` |"
            reason = str(test.get("reason") or disk.get("skipped") or "not run")
            return f"| {what} | not measured: {reason.removeprefix('Skipped: ')} |"
        rerun = (
            "; the rerun after freeing space succeeded and equals a clean run" if d.get("rerun_ok") else ""
        )
        message = _TMP.sub("<tmp>/", d["message"])
        return (
            f"| {what} | exit code {d['failed_rc']}, previous published file byte-identical{rerun}. "
            f"Message: `{message}` |"
        )

    writers = []
    two = writer.get("two_cli_runs")
    if two:
        writers.append(
            f"two `sales-wh run` on one warehouse: the second exited with code {two['second_exit_code']} at "
            f"once naming the first (pid, start, command), a third with `--wait` queued and ran; "
            f"{two['publishes']} publishes, nothing lost, {two['lock_tracebacks']} DuckDB lock tracebacks"
        )
    if "dagster_run_holds_lock" in writer:
        writers.append(
            "a run Dagster launches holds the lock for the whole run (another process is refused, naming "
            "the Dagster run) and releases it at the end"
        )
    if "dagster_run_waits_for_cli" in writer:
        writers.append("a run Dagster launches waits for a running `sales-wh run`, saying so in its log")
    if "code_location_run_waits" in writer:
        writers.append("`dagster asset materialize` on the code location waited for the lock, then ran")

    lines = [
        "# Reliability",
        "",
        "What the warehouse promises, and the figures that back each promise. Generated by",
        "`make reliability` (`python -m orchestration.tooling.reliability`): do not edit, rerun it.",
        "",
        f"Measured {generated} on {host}; set: **{level}**"
        + (" (every kill point, each followed by its own rerun)" if level == "full" else " (the CI set)")
        + f"; the four commands below took {minutes:.0f} minutes in all.",
        "",
        "## Promises",
        "",
        "| promise | figure | command |",
        "|---|---|---|",
        f"| **Atomic publish**: readers see the previous complete file or the new complete file, never an "
        f"error, a torn file or a mix; a failed or killed run leaves the previous file byte-identical | "
        f"kills survived with the published file intact {_ratio(len(survived), len(plan))}; "
        f"{loop.get('reads', 0):,} reads by {loop.get('readers', 0)} readers over "
        f"{loop.get('publishes', 0)} publishes: {loop.get('errors', '?')} errors, {loop.get('mixes', '?')} "
        f"mixes; a connection held open for {loop.get('held_connection_seconds', '?')} s kept its snapshot "
        f"and blocked nothing; {during.get('reads', 0):,} reads during the kill sequence: "
        f"{during.get('errors', '?')} errors, file missing {during.get('missing_after_seen', '?')} times "
        f"| `{cmd.get('faults')}`, `{cmd.get('concurrency')}` |",
        f"| **Rows in = loaded + rejected**, and raw never holds a half batch | bad-input corpus handled as "
        f"specified {_ratio(corpus_ok, corpus_n)} (each: exact loaded and rejected counts, or the exact "
        f"batch error); after every kill, {batches:,} raw batches checked against their audit rows: 0 half "
        f"batches | `{cmd.get('bad_inputs')}`, `{cmd.get('faults')}` |",
        f"| **Idempotent reruns**: a rerun after any interruption needs no manual step and publishes what "
        f"an uninterrupted run publishes | reruns recovered {_ratio(len(survived), len(plan))}"
        + (
            f", each equal to a clean run in all {tables} published marts and core tables, row by row"
            if tables
            else ""
        )
        + f" | `{cmd.get('faults')}` |",
        f"| **One writer**: one pipeline per warehouse, whoever starts it | {'; '.join(writers) or 'not run'}"
        f" | `{cmd.get('concurrency')}` |",
        f"| **Freshness**: a late extract is named the same morning (warn a day late, error after "
        f"`SALES_WH_FRESHNESS_ERROR_DAYS`), never blocking | freshness rules {_ratio(fresh_ok, fresh_n)} "
        f"| `{cmd.get('freshness')}` |",
        f"| **Disk full / unwritable folder**: a clear error, the previous published file intact | see "
        f"below | `{cmd.get('faults')}` |",
        "",
        "## Kill points",
        "",
        "Each run is a real `sales-wh run` (S-scale demo extracts, two extract dates) in a process group of "
        f"its own; `{FAULT_POINT_ENV}=<point>` (orchestration/faults.py) makes it SIGKILL the whole group, "
        "dbt's subprocess included, at that point. After each kill: the published file is byte-identical "
        "(or still absent) and opens read-only, raw holds no half batch. "
        + (
            "Then a rerun: it names the killed run whose lock it takes over, removes a killed publish's "
            "temporary file saying so, succeeds, and publishes marts equal to a clean run's."
            if rerun_each
            else "The CI set kills three times in a row (each run starting from what the previous kill left) "
            "and reruns once at the end."
        ),
        "",
        "| kill point | where | survived | raw batches checked | killed run | rerun |",
        "|---|---|---|---:|---:|---:|",
    ]
    for point in plan:
        k = kills.get(point, {})
        ok = "yes" if k.get("survived") else "**NO**"
        rerun = f"{k['rerun_seconds']} s" if "rerun_seconds" in k else "-"
        seconds = f"{k['seconds']} s" if "seconds" in k else "-"
        checked = k.get("raw_batches_checked", "-")
        lines.append(f"| `{point}` | {_where(point)} | {ok} | {checked} | {seconds} | {rerun} |")
    lines += [
        "",
        f"Survived: {_ratio(len(survived), len(plan))}. Command: `{cmd.get('faults')}` "
        f"({faults.get('seconds', '?')} s, exit code {faults.get('exit_code', '?')}).",
        "",
        "## Full disk and unwritable published folder",
        "",
        "| case | outcome |",
        "|---|---|",
        disk_line(
            "warehouse_folder_full", "warehouse folder (warehouse and published file) on a filled tmpfs"
        ),
        disk_line("published_folder_full", "published folder on its own filled tmpfs"),
        disk_line(
            "published_folder_unwritable",
            "published folder read-only (read-only bind mount as root, who ignores mode bits; chmod 555 "
            "otherwise)",
        ),
        "",
        "## Readers and writers",
        "",
        f"- Publish loop: {loop.get('readers', 0)} reader processes open the published file read-only in a "
        f"loop (a new connection each time) while {loop.get('publishes', 0)} publishes replace it: "
        f"{loop.get('reads', 0):,} reads, {loop.get('errors', '?')} errors, {loop.get('mixes', '?')} mixes "
        "(run_history and marts of two publishes).",
        f"- During the kill sequence: one reader, {during.get('reads', 0):,} reads, "
        f"{during.get('errors', '?')} errors, {during.get('mixes', '?')} mixes, file missing "
        f"{during.get('missing_after_seen', '?')} times once it existed, {during.get('publishes_seen', '?')} "
        "publishes seen.",
        *(f"- {w}." for w in writers),
        f"- Command: `{cmd.get('concurrency')}` ({conc.get('seconds', '?')} s, exit code "
        f"{conc.get('exit_code', '?')}).",
        "",
        "## Bad-input corpus",
        "",
        f"{_ratio(corpus_ok, corpus_n)} cases of `tests/fixtures/bad/` handled as their `expected.json` "
        "specifies (the case, its outcome and why are in each folder). Command: "
        f"`{cmd.get('bad_inputs')}` ({bad.get('seconds', '?')} s).",
        *([""] + [f"- not as specified: {b}" for b in corpus_bad] if corpus_bad else []),
        "",
        "## Freshness",
        "",
        f"{_ratio(fresh_ok, fresh_n)} tests of the freshness rule (on time, a day late, error after the "
        f"setting, optional and on-change objects, the schedule's date). Command: `{cmd.get('freshness')}`.",
        *([""] + [f"- failed: {b}" for b in fresh_bad] if fresh_bad else []),
        "",
        "## In CI",
        "",
        "`make test` runs the reduced sets: three kill points in a row (a raw load, inside `dbt build`, "
        "between publish's write and rename) then one rerun; publish and the run lock on a full and on a "
        "read-only folder, without a pipeline run (`tests/reliability/test_publish_faults.py`); 20 "
        "publishes under two readers; the one-writer tests but the code-location run; the whole corpus. "
        f"The full sets run with `{LEVEL_ENV}=full` (`make reliability`).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.tooling.reliability", description=__doc__)
    parser.add_argument("--reduced", action="store_true", help="the sets CI runs, not the full ones")
    parser.add_argument(
        "--from", dest="source", type=Path, default=None, help="render from the JSON files of an earlier run"
    )
    parser.add_argument("--out", type=Path, default=RELIABILITY_DOC, help="document to write")
    parser.add_argument(
        "--work", type=Path, default=PROJECT_ROOT / "data" / "reliability", help="where the JSON files go"
    )
    args = parser.parse_args(argv)
    level = "reduced" if args.reduced else "full"
    suites: dict[str, dict[str, Any]] = {}
    if args.source:
        for suite in SUITES:
            path = args.source / f"{suite.name}.json"
            if path.exists():
                suites[suite.name] = json.loads(path.read_text())
    else:
        args.work.mkdir(parents=True, exist_ok=True)
        for suite in SUITES:
            suites[suite.name] = run_suite(suite, args.work, level)
    generated = datetime.now(UTC).strftime("%Y-%m-%d")
    args.out.write_text(render(suites, generated=generated, host=machine()))
    failed = [name for name, s in suites.items() if s.get("exit_code", 0) != 0]
    print(f"wrote {args.out}" + (f"; suites with failures: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
