"""The ``sales-wh`` command. Each subcommand is registered by one ``_add_<name>`` function in COMMANDS,
so other parts of the project can add theirs without touching the existing ones."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TypeAlias

from orchestration.settings import DEFAULT_PARTITION_START, Settings

#: The demo's defaults (``sales-wh generate`` and ``demo``, ``make run``, the benchmarks): its first
#: extract date is the first partition, so every generated folder is a partition.
DEMO_SCALE = "S"
DEMO_DAYS = 365
DEMO_SEED = 7
DEMO_START = DEFAULT_PARTITION_START

#: ``add_subparsers()``'s return type, which argparse does not name publicly.
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _generate(args: argparse.Namespace) -> int:
    from orchestration.tooling.demo_data import generate

    t0 = time.perf_counter()
    result = generate(
        args.out,
        scale=args.scale,
        days=args.days,
        seed=args.seed,
        start=args.start,
        fmt=args.format,
        header_style=args.header_style,
        malformed=args.malformed,
        dialect=args.dialect,
        dirty=args.dirty,
    )
    seconds = time.perf_counter() - t0
    print(
        json.dumps({**result, "seconds": round(seconds, 1), "out": str(Path(args.out).absolute())}, indent=2)
    )
    return 0


def _add_generate(sub: SubParsers) -> None:
    p = sub.add_parser("generate", help="write demo CRM and activity extracts (daily folders per object)")
    p.add_argument(
        "--scale", choices=["S", "M", "L"], default=DEMO_SCALE, help=f"volume (default {DEMO_SCALE})"
    )
    p.add_argument(
        "--days", type=int, default=DEMO_DAYS, help=f"number of daily extracts (default {DEMO_DAYS})"
    )
    p.add_argument(
        "--seed", type=int, default=DEMO_SEED, help="random seed; same arguments give identical files"
    )
    p.add_argument("--start", type=date.fromisoformat, default=DEMO_START, help="first extract date")
    p.add_argument(
        "--out", type=Path, default=Path("data/landing"), help="landing folder (default data/landing)"
    )
    p.add_argument("--format", choices=["csv", "parquet", "jsonl", "mixed"], default="csv")
    p.add_argument(
        "--header-style",
        choices=["api", "snake", "mixed"],
        default="api",
        help="API names (AccountId) as Data Loader writes them, or snake_case as connectors do",
    )
    p.add_argument(
        "--malformed",
        action="store_true",
        help="add a few malformed rows to CSV files (counted in the output under 'malformed')",
    )
    p.add_argument(
        "--dialect",
        choices=["api", "report", "connector"],
        default=None,
        help="write CSV as a real export does: api (Data Loader: API names, BOM, ...+0000 timestamps), "
        "report (report labels, MM/DD/YYYY, hh:mm AM, TRUE/FALSE), connector (snake_case, "
        "_fivetran_synced/_fivetran_deleted, no system_modstamp); default: the demo's own shape",
    )
    _add_dirty_option(p)
    p.set_defaults(func=_generate)


def _add_dirty_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dirty",
        action="store_true",
        help="add odd but possible records the warehouse must handle (unknown stages and activity types, "
        "events without a duration, overlapping dated rates, deals closed before they were created, "
        "negative and empty amounts, conversions without history...; counted in the output as "
        "'dirty.<kind>')",
    )


DEMO_MARKER = ".sales-wh-demo"


def _quiet_library_warnings() -> None:
    """Dagster's beta/preview notices and libraries' deprecation notices are for us, not for the user."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*currently in (beta|preview).*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _run_and_report(start: date, end: date, *, record: bool = False, wait: float | None = None) -> int:
    """Run the pipeline for ``start..end`` as one Dagster run and print the KPI summary.

    Without ``record`` the run uses an in-memory Dagster instance: Dagster's SQLite event log writes one
    event per asset and partition (about 11,000 for a year of 15 objects), which takes minutes on its
    own. With ``record`` (or for runs started from `make ui`: schedule, sensor, backfills) the run is
    kept in $DAGSTER_HOME and shows in the UI's run history.

    One pipeline per warehouse: when another holds it, this exits with ``EXIT_BUSY`` and a message naming
    it, or with ``wait`` queues behind it for up to that many seconds. The lock is taken before the
    Dagster instance is opened, so two ``--record`` runs never create a new instance's tables at once.
    """
    _quiet_library_warnings()
    from orchestration.tooling.run_lock import EXIT_BUSY, LockHolder, WarehouseBusy, warehouse_run_lock

    settings = Settings.from_env()

    def waiting(holder: LockHolder) -> None:
        print(
            f"Another pipeline is running on {settings.warehouse_path} ({holder.describe()}); "
            f"waiting up to {wait:.0f} s for it to finish.",
            file=sys.stderr,
            flush=True,
        )

    try:
        with warehouse_run_lock(settings.warehouse_path, wait=wait, on_wait=waiting, on_stale=_say):
            return _run_locked_and_report(start, end, settings, record=record)
    except WarehouseBusy as busy:
        print(busy.message(), file=sys.stderr)
        return EXIT_BUSY


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run_locked_and_report(start: date, end: date, settings: Settings, *, record: bool) -> int:
    import dagster as dg

    from orchestration.tooling.pipeline import run_pipeline
    from orchestration.tooling.report import print_report
    from orchestration.tooling.run_lock import instance_lock

    print(f"Running the pipeline through Dagster for extract dates {start}..{end} (one run)", flush=True)
    t0 = time.perf_counter()
    home = os.environ.get("DAGSTER_HOME")
    if record and home:
        with instance_lock(home):
            instance = dg.DagsterInstance.get()
    elif record:
        instance = dg.DagsterInstance.get()  # Dagster's own message: DAGSTER_HOME is not set
    else:
        instance = dg.DagsterInstance.ephemeral()
    result = run_pipeline(start, end, instance=instance)
    seconds = time.perf_counter() - t0
    slowest = sorted(result.step_seconds.items(), key=lambda kv: -kv[1])[:5]
    print(f"\nDagster run {result.run_id}: {'succeeded' if result.success else 'FAILED'} in {seconds:.0f} s")
    print("slowest steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
    if not result.success:
        from orchestration.tooling.run_summary import failure_lines

        print(
            f"failed steps: {', '.join(result.failed_steps)}; nothing was published "
            f"(the previous {settings.published_path} is unchanged).",
            file=sys.stderr,
        )
        for line in failure_lines(result.result, settings.warehouse_path):
            print(line, file=sys.stderr)
        return 1
    print()
    from orchestration.tooling.run_summary import warning_lines

    warnings_ = warning_lines(result.result)
    if warnings_:
        print("Warnings (published anyway; every check is in main.check_results):")
        print("\n".join(warnings_))
    print_report(settings.published_path)
    from orchestration.tooling.dashboard import default_out

    if default_out().exists():  # written by the publish asset
        print(f"Dashboard: {default_out()}")
    print(f"\nWarehouse (read-write, the pipeline's): {settings.warehouse_path}")
    from orchestration.tooling.run_summary import loaded_reject_lines

    top = loaded_reject_lines(settings.warehouse_path)
    print("Rejected rows: SELECT * FROM raw._rejects in the warehouse" + ("; most frequent:" if top else ""))
    for line in top:
        print(line)
    print("Dagster UI: make ui")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from orchestration.tooling.demo_data import generate

    landing = Settings.from_env().landing_dir
    stamp = f"scale={args.scale} days={args.days} seed={args.seed} start={args.start}"
    if args.dirty:
        stamp += " dirty"
    marker = landing / DEMO_MARKER
    if marker.exists() and marker.read_text() == stamp:
        print(f"Demo extracts already in {landing} ({stamp})")
    elif landing.exists() and any(landing.iterdir()) and not marker.exists():
        print(
            f"{landing} holds landing files that sales-wh demo did not write; point SALES_WH_LANDING_DIR at "
            "an empty folder for the demo, or run the pipeline on them with `sales-wh run`.",
            file=sys.stderr,
        )
        return 2
    else:
        import shutil

        shutil.rmtree(landing, ignore_errors=True)
        t0 = time.perf_counter()
        counts = generate(
            landing,
            scale=args.scale,
            days=args.days,
            seed=args.seed,
            start=args.start,
            malformed=True,
            dirty=args.dirty,
        )
        marker.write_text(stamp)
        print(
            f"Generated {counts.get('files', 0):,} demo extract files in {landing} "
            f"({time.perf_counter() - t0:.1f} s, {counts.get('malformed', 0)} deliberately malformed rows)"
        )
    return _run_and_report(
        args.start, args.start + timedelta(days=args.days - 1), record=args.record, wait=args.wait
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """``--record`` and ``--wait``: the options of every command that runs the pipeline."""
    from orchestration.tooling.run_lock import DEFAULT_WAIT_SECONDS, EXIT_BUSY

    p.add_argument(
        "--record",
        action="store_true",
        help="record the run in $DAGSTER_HOME (shows in `make ui`; slow for long ranges on SQLite)",
    )
    p.add_argument(
        "--wait",
        type=float,
        nargs="?",
        const=DEFAULT_WAIT_SECONDS,
        default=None,
        metavar="SECONDS",
        help="when another pipeline is running on the warehouse, wait for it to finish (at most SECONDS, "
        f"default {DEFAULT_WAIT_SECONDS:.0f}) instead of exiting at once with code {EXIT_BUSY}",
    )


def _add_demo(sub: SubParsers) -> None:
    p = sub.add_parser("demo", help="generate demo extracts, run the whole pipeline, print a KPI summary")
    p.add_argument("--scale", choices=["S", "M", "L"], default=DEMO_SCALE)
    p.add_argument("--days", type=int, default=DEMO_DAYS)
    p.add_argument("--seed", type=int, default=DEMO_SEED)
    p.add_argument("--start", type=date.fromisoformat, default=DEMO_START)
    _add_dirty_option(p)
    _add_run_options(p)
    p.set_defaults(func=_demo)


def _run(args: argparse.Namespace) -> int:
    return _run_and_report(args.start, args.end or args.start, record=args.record, wait=args.wait)


def _add_run(sub: SubParsers) -> None:
    p = sub.add_parser("run", help="run the pipeline through Dagster for extract dates START..END (one run)")
    p.add_argument("--start", type=date.fromisoformat, required=True, help="first extract date")
    p.add_argument("--end", type=date.fromisoformat, help="last extract date (default: START)")
    _add_run_options(p)
    p.set_defaults(func=_run)


def _report(args: argparse.Namespace) -> int:
    from orchestration.tooling.report import print_report

    print_report(args.published)
    return 0


def _add_report(sub: SubParsers) -> None:
    p = sub.add_parser("report", help="print the KPI summary of the published warehouse")
    p.add_argument("--published", type=Path, default=None, help="published file (default SALES_WH_PUBLISHED)")
    p.set_defaults(func=_report)


def _validate(args: argparse.Namespace) -> int:
    _quiet_library_warnings()
    from orchestration.tooling.validate import exit_code, render_text, validate_landing_dir

    landing = args.landing or Settings.from_env().landing_dir
    report = validate_landing_dir(landing, args.start, args.end or args.start)
    print(json.dumps(report.to_dict(), indent=2) if args.json else render_text(report))
    return exit_code(report)


def _add_validate(sub: SubParsers) -> None:
    p = sub.add_parser(
        "validate",
        help="report what a run would make of the landing files of START..END; writes nothing, "
        "exits 1 when a run would be blocked",
    )
    p.add_argument("--start", type=date.fromisoformat, required=True, help="first extract date")
    p.add_argument("--end", type=date.fromisoformat, help="last extract date (default: START)")
    p.add_argument("--landing", type=Path, default=None, help="landing folder (default SALES_WH_LANDING_DIR)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_validate)


def _dashboard(args: argparse.Namespace) -> int:
    from orchestration.tooling.dashboard import write_dashboard

    try:
        print(f"Dashboard: {write_dashboard(args.published, args.out)}")
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def _add_dashboard(sub: SubParsers) -> None:
    p = sub.add_parser("dashboard", help="write the KPI dashboard (one HTML file) of the published warehouse")
    p.add_argument("--published", type=Path, default=None, help="published file (default SALES_WH_PUBLISHED)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="HTML file to write (default <SALES_WH_DATA_DIR>/dashboard.html)",
    )
    p.set_defaults(func=_dashboard)


#: Subcommand registrars; add yours here.
COMMANDS: list[Callable[[SubParsers], None]] = [
    _add_generate,
    _add_demo,
    _add_run,
    _add_report,
    _add_validate,
    _add_dashboard,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sales-wh", description="Sales-tracking warehouse")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
