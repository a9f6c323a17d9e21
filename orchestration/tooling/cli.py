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
from typing import TYPE_CHECKING, TypeAlias

from orchestration.settings import DEFAULT_PARTITION_START, Settings

if TYPE_CHECKING:
    from orchestration.tooling.progress import StageTracker
    from orchestration.tooling.runlog import RunLog
from orchestration.tooling.metrics import add_metrics

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


def _demo(args: argparse.Namespace) -> int:
    from orchestration.dbt_parse import parse_early

    # dbt parses (its own process) while this one imports Dagster and writes the demo's extracts.
    with parse_early():
        from orchestration.tooling.run_output import run_with_progress

        return run_with_progress(
            args.start,
            args.start + timedelta(days=args.days - 1),
            record=args.record,
            wait=args.wait,
            verbose=args.verbose,
            before=lambda tracker, log: _demo_data(args, tracker, log),
        )


def _demo_data(args: argparse.Namespace, tracker: StageTracker, log: RunLog) -> int | None:
    """The demo's extracts in the landing folder, unless they are there already; 2 when the folder
    holds files the demo did not write."""
    from orchestration.tooling.demo_data import generate
    from orchestration.tooling.progress import GENERATE

    landing = Settings.from_env().landing_dir
    stamp = f"scale={args.scale} days={args.days} seed={args.seed} start={args.start}"
    if args.dirty:
        stamp += " dirty"
    marker = landing / DEMO_MARKER
    if marker.exists() and marker.read_text() == stamp:
        tracker.end(GENERATE, f"already in {landing} ({stamp})")
        return None
    if landing.exists() and any(landing.iterdir()) and not marker.exists():
        tracker.end(GENERATE, "", status="FAILED")
        print(
            f"{landing} holds landing files that sales-wh demo did not write; point SALES_WH_LANDING_DIR at "
            "an empty folder for the demo, or run the pipeline on them with `sales-wh run`.",
            file=sys.stderr,
        )
        from orchestration.tooling.run_output import EXIT_FOREIGN_LANDING

        return EXIT_FOREIGN_LANDING
    import shutil

    tracker.begin(GENERATE)
    shutil.rmtree(landing, ignore_errors=True)
    with log.capture(stderr=True):  # the generator's progress lines
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
    tracker.end(
        GENERATE,
        f"{counts.get('files', 0):,} files in {landing} "
        f"({counts.get('malformed', 0)} deliberately malformed rows)",
    )
    return None


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """``--record``, ``--wait`` and ``--verbose``: the options of every command that runs the pipeline."""
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
    p.add_argument(
        "--verbose",
        action="store_true",
        help="stream Dagster's events and dbt's output to the console (they always go to the run's log "
        "file under <SALES_WH_DATA_DIR>/logs), and show the traceback of an error",
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
    from orchestration.dbt_parse import parse_early

    # dbt parses (its own process) while this one imports Dagster.
    with parse_early():
        from orchestration.defs.raw_assets import RELOAD_ENV
        from orchestration.tooling.run_output import run_with_progress

        if args.reload:
            os.environ[RELOAD_ENV] = "1"

        return run_with_progress(
            args.start, args.end or args.start, record=args.record, wait=args.wait, verbose=args.verbose
        )


def _add_run(sub: SubParsers) -> None:
    p = sub.add_parser("run", help="run the pipeline through Dagster for extract dates START..END (one run)")
    p.add_argument("--start", type=date.fromisoformat, required=True, help="first extract date")
    p.add_argument("--end", type=date.fromisoformat, help="last extract date (default: START)")
    p.add_argument(
        "--reload",
        action="store_true",
        help="load every extract date of the range again, also batches whose files did not change since "
        "their last load (which a run otherwise skips; same as SALES_WH_RELOAD=1)",
    )
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
    from orchestration.tooling.run_output import quiet_library_warnings

    quiet_library_warnings()
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
    add_metrics,
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
