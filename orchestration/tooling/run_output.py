"""What ``sales-wh run`` and ``sales-wh demo`` print: one line per stage (:mod:`.progress`), then on
success the KPI summary and the paths of the published file, the dashboard and the log; on failure the
failed step, its check or error, the rejected rows behind it, and the log. Everything else (Dagster's
events, dbt's output, tracebacks) goes to the run's log file (:mod:`.runlog`), and with ``--verbose``
to the console as well.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from orchestration.settings import Settings
from orchestration.tooling.pipeline import PipelineResult, RunObserver, new_run_id
from orchestration.tooling.progress import PARSE, StageTracker
from orchestration.tooling.run_lock import EXIT_BUSY
from orchestration.tooling.runlog import RunLog

#: ``sales-wh demo`` refuses a landing folder it did not write (its files are not demo data).
EXIT_FOREIGN_LANDING = 2

#: At most this many lines of warnings and of rejected rows on a successful run; the rest is in the log.
MAX_WARNING_LINES = 4
MAX_REJECT_LINES = 2
MAX_FAILURE_LINES = 12

#: ``before(tracker, log)`` runs first (the demo's data); an int it returns ends the command with it.
Before = Callable[[StageTracker, RunLog], int | None]


def quiet_library_warnings() -> None:
    """Dagster's beta/preview notices and libraries' deprecation notices are for us, not for the user."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*currently in (beta|preview).*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Environment variables for the run only (dbt inherits them), unless the user set them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if saved[k] is None})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


class _Observer(RunObserver):
    def __init__(self, tracker: StageTracker, log: RunLog) -> None:
        self.tracker, self.log = tracker, log
        self.manifest: dict[str, Any] = {}

    def parsed(self, project: Any) -> None:
        from orchestration.defs.dbt_assets import read_manifest

        self.manifest = read_manifest(project)
        kinds = [n.get("resource_type") for n in self.manifest.get("nodes", {}).values()]
        self.tracker.end(
            PARSE,
            f"{kinds.count('model')} models, {kinds.count('seed')} seeds, {kinds.count('test')} data tests, "
            f"{kinds.count('unit_test') or len(self.manifest.get('unit_tests', {}))} unit tests",
        )

    def planned(self, job: Any, run_id: str) -> None:
        from orchestration.defs.publish_asset import PUBLISH_GROUP
        from orchestration.defs.raw_assets import RAW_GROUP

        self.log.file_only(f"Dagster run {run_id} of {job.name}")
        self.tracker.plan(job, self.manifest, RAW_GROUP, PUBLISH_GROUP)

    def on_event(self, entry: Any) -> None:
        # Dagster re-raises a listener's error into the step that logged the event (the dbt step among
        # them): nothing here may raise. The tracker guards itself; the log's streams never raise.
        try:
            self.log.on_event(entry)
        except Exception:  # noqa: BLE001
            logging.getLogger(__name__).debug("run log: event not written", exc_info=True)
        self.tracker.on_event(entry)


def run_with_progress(
    start: date, end: date, *, record: bool, wait: float | None, verbose: bool, before: Before | None = None
) -> int:
    """Run the pipeline for ``start..end`` with stage lines, a log file and a short report; the exit
    code. An unexpected error prints one line and the log's path (its traceback goes to the log, and
    with ``verbose`` to the console too)."""
    quiet_library_warnings()
    run_id = new_run_id()
    out = sys.stdout
    with RunLog(run_id, verbose=verbose) as log:
        tracker = StageTracker(out, demo=before is not None)
        try:
            with _env(DBT_USE_COLORS="false"):
                code = before(tracker, log) if before is not None else None
                if code is None:
                    code = _run(
                        start, end, record=record, wait=wait, verbose=verbose, tracker=tracker, log=log
                    )
                if code in (EXIT_FOREIGN_LANDING, EXIT_BUSY):
                    log.discard()  # nothing ran: the console message is all there is
                return code
        except Exception as exc:
            tracker.finish(False)
            log.exception(exc)
            if verbose:
                raise
            first = (str(exc).strip().splitlines() or [""])[0]
            print(f"error: {type(exc).__name__}: {first}"[:400], file=sys.stderr)
            print(f"Log: {log.path}", file=sys.stderr)
            return 1
        finally:
            tracker.stop()


def _run(
    start: date,
    end: date,
    *,
    record: bool,
    wait: float | None,
    verbose: bool,
    tracker: StageTracker,
    log: RunLog,
) -> int:
    from orchestration.tooling.run_lock import LockHolder, WarehouseBusy, warehouse_run_lock

    settings = Settings.from_env()

    def waiting(holder: LockHolder) -> None:
        _say(
            f"Another pipeline is running on {settings.warehouse_path} ({holder.describe()}); "
            f"waiting up to {wait:.0f} s for it to finish."
        )

    log.file_only(
        f"sales-wh {' '.join(sys.argv[1:])}: extract dates {start}..{end}, {settings.warehouse_path}"
    )
    try:
        with warehouse_run_lock(settings.warehouse_path, wait=wait, on_wait=waiting, on_stale=_say):
            return _run_locked(start, end, settings, record=record, verbose=verbose, tracker=tracker, log=log)
    except WarehouseBusy as busy:
        tracker.stop()
        print(busy.message(), file=sys.stderr)
        return EXIT_BUSY


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _instance(record: bool) -> Any:
    import dagster as dg

    from orchestration.tooling.run_lock import instance_lock

    home = os.environ.get("DAGSTER_HOME")
    if record and home:
        with instance_lock(home):
            return dg.DagsterInstance.get()
    if record:
        return dg.DagsterInstance.get()  # Dagster's own message: DAGSTER_HOME is not set
    return dg.DagsterInstance.ephemeral()


def _run_locked(
    start: date,
    end: date,
    settings: Settings,
    *,
    record: bool,
    verbose: bool,
    tracker: StageTracker,
    log: RunLog,
) -> int:
    """The run itself, holding the warehouse's run lock (see ``pipeline.run_pipeline`` for ``record``)."""
    from orchestration.tooling.pipeline import run_pipeline

    t0 = time.perf_counter()
    instance = _instance(record)
    tracker.begin(PARSE)
    with log.capture():  # dbt's output (dagster-dbt writes it to sys.stdout) into the log
        result = run_pipeline(
            start,
            end,
            instance=instance,
            # Dagster's console logger prints the events only with --verbose; the log file has them.
            log_level="INFO" if verbose else "CRITICAL",
            observer=_Observer(tracker, log),
            run_id=log.run_id,
        )
    tracker.finish(result.success)
    seconds = time.perf_counter() - t0
    if not result.success:
        for line in failure_report(result, settings, seconds, tracker):
            print(line, file=sys.stderr)
        print(f"Log: {log.path}", file=sys.stderr)
        return 1
    for line in success_report(result, settings, seconds, tracker, log):
        print(line)
    return 0


def _run_line(result: PipelineResult, seconds: float) -> str:
    slowest = sorted(result.step_seconds.items(), key=lambda kv: -kv[1])[:3]
    state = "succeeded" if result.success else "FAILED"
    return f"Dagster run {result.run_id} {state} in {seconds:.0f} s" + (
        f" (slowest: {', '.join(f'{k} {v:.0f} s' for k, v in slowest)})" if slowest else ""
    )


def capped(lines: list[str], limit: int, where: str) -> list[str]:
    """``lines`` cut to ``limit``, the cut ones counted: ``  (N more in <where>)``."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"  ({len(lines) - limit} more in {where})"]


#: The publish step's warning for an object absent from landing: "<Object> not found in landing (<effect>)".
NOT_FOUND_MARK = " not found in landing ("


def dagster_warning_lines(tracker: StageTracker) -> list[str]:
    """The run's Dagster warnings (an object not in landing, a column missing...), once each; the
    publish step's first (they are about what was published, e.g. files a killed publish left)."""
    publish = set(_publish_steps(tracker))
    seen: dict[str, None] = {}
    for step, message in sorted(tracker.warnings, key=lambda w: w[0] not in publish):
        seen.setdefault(f"  {step + ': ' if step else ''}{message.splitlines()[0][:200]}", None)
    return list(seen)


def _publish_steps(tracker: StageTracker) -> list[str]:
    from orchestration.tooling.progress import PUBLISH

    return [step for step, stage in tracker.step_stage.items() if stage == PUBLISH]


def success_report(
    result: PipelineResult, settings: Settings, seconds: float, tracker: StageTracker, log: RunLog
) -> list[str]:
    from orchestration.engines import POSTGRES, SPARK, published_where
    from orchestration.tooling.dashboard import default_out
    from orchestration.tooling.report import format_summary, published_summary
    from orchestration.tooling.run_summary import loaded_reject_lines, warning_lines

    lines = ["", _run_line(result, seconds)]
    dagster = dagster_warning_lines(tracker)
    published = [w for w in dagster if w.startswith(tuple(f"  {s}: " for s in _publish_steps(tracker)))]
    others = dagster[len(published) :]
    # One line for the optional objects absent from landing: the summary names them ("objects not found")
    # and the log says what each absence means; listed one by one they hid the checks that warned.
    absent = [w for w in published if NOT_FOUND_MARK in w]
    if absent:
        step = absent[0].split(":")[0].strip()
        published = [w for w in published if NOT_FOUND_MARK not in w] + [
            f"  {step}: {len(absent)} object(s) not found in landing (named in the summary below; "
            "what each absence means is in the log)"
        ]
    warnings = published + warning_lines(result.result, limit=None) + others
    if tracker.up_to_date:
        lines.append(
            "Nothing new since the last publish (the same batches and dbt project): no dbt build, "
            "nothing published; the published file below is current."
        )
    if warnings:
        lines.append(
            f"Warnings ({len(warnings)}; the published file is unchanged, the log has every check):"
            if tracker.up_to_date
            else f"Warnings ({len(warnings)}, published anyway; every check is in main.check_results):"
        )
        lines += capped(warnings, MAX_WARNING_LINES, str(log.path))
    rejects = loaded_reject_lines(settings.warehouse_path, limit=MAX_REJECT_LINES)
    if rejects:
        lines.append(f"Rejected rows (raw._rejects in {settings.warehouse_path}), most frequent:")
        lines += rejects
    at = ""
    try:
        summary = published_summary(settings)
    except Exception as exc:
        # The run published: a summary that cannot be read (the engine's server gone since, a view that
        # no longer resolves) is said as such, with the paths, not turned into a failed run.
        log.exception(exc)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        lines += ["", f"KPI summary: not read ({type(exc).__name__}: {first}; the log has the traceback)", ""]
    else:
        lines += ["", format_summary(summary, with_path=False), ""]
        at = f" (at {summary.last_published_at} UTC)" if summary.last_published_at else ""
    if settings.dbt_target in (POSTGRES, SPARK):
        views = " (views over this run's snapshot database)" if settings.dbt_target == SPARK else ""
        return lines + [
            f"Published:      {published_where(settings)}{at}{views}",
            "Dashboard:      not written (it reads a published DuckDB file)",
            f"Log:            {log.path}",
        ]
    dashboard = default_out()
    lines += [
        f"Published file: {settings.published_path}{at}",
        f"Dashboard:      {dashboard if dashboard.exists() else 'not written (see the log)'}",
        f"Log:            {log.path}",
    ]
    return lines


def failure_report(
    result: PipelineResult, settings: Settings, seconds: float, tracker: StageTracker
) -> list[str]:
    from orchestration.engines import published_where
    from orchestration.tooling.run_summary import failure_lines

    failed = [s.name for s in tracker.stages.values() if s.status == "FAILED"]
    lines = [
        "",
        _run_line(result, seconds),
        f"failed in: {', '.join(failed) or 'the run'}"
        + (f" (steps {', '.join(result.failed_steps)})" if result.failed_steps else "")
        + f"; nothing was published (the previous {published_where(settings)} is unchanged).",
    ]
    return lines + capped(failure_lines(result.result, settings.warehouse_path), MAX_FAILURE_LINES, "the log")
