"""Why a run failed, in a few lines: the failed blocking checks and the top reject reasons of refused
loads (``raw._rejects`` rows with ``committed = false``), so the command line names the file, line,
column and value instead of only a step name."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from orchestration.ingestion import rejects

#: A failed check's description on the command line is cut here (the whole one is in the run's log).
MAX_DESCRIPTION = 300


def _cut(text: str, limit: int = MAX_DESCRIPTION) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failed_checks(result: dg.ExecuteInProcessResult | None) -> list[str]:
    """``asset / check: description`` of each failed check of error severity (cut to two lines)."""
    if result is None:
        return []
    lines = []
    for e in result.get_asset_check_evaluations():
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR:
            what = e.description or ""
            if not what:
                meta = e.metadata.get("batch_error") or e.metadata.get("failed_expectations")
                what = str(getattr(meta, "value", meta) or "")
            lines.append(f"{'/'.join(e.asset_key.path)} {e.check_name}: {_cut(what)}".rstrip(": "))
    return lines


def warning_lines(result: dg.ExecuteInProcessResult | None, limit: int | None = 15) -> list[str]:
    """Failed checks that did not block the publish (landing warnings, freshness, dbt warn tests), so a
    successful run still says what to look at."""
    if result is None:
        return []
    failed = [
        e for e in result.get_asset_check_evaluations() if not e.passed and not getattr(e, "blocking", False)
    ]
    lines = [
        f"  {'/'.join(e.asset_key.path)} {e.check_name}: {(e.description or '').strip()[:160]}".rstrip(": ")
        for e in sorted(failed, key=lambda e: (e.check_name != "freshness", e.asset_key.path, e.check_name))
    ]
    if limit is None or len(lines) <= limit:
        return lines
    return [*lines[:limit], f"  ... and {len(lines) - limit} more (main.check_results)"]


def loaded_reject_lines(warehouse: Path, limit: int = 3) -> list[str]:
    """The top reasons among the rejects of committed loads (rows that were not loaded although the run
    published), one example each: a successful run still says which rows it left out and why."""
    if not Path(warehouse).exists():
        return []
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            reasons = rejects.top_reasons(con, committed=True, limit=limit, examples=1)
    except duckdb.Error:
        return []
    return [f"  {r.line()}, e.g. {r.examples[0].removesuffix(' ' + r.reason)}" for r in reasons]


def refused_reject_reasons(warehouse: Path, limit: int = 5) -> list[rejects.RejectReason]:
    """Top reasons among the rejects of refused loads, read from the warehouse (read-only)."""
    if not Path(warehouse).exists():
        return []
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return rejects.top_reasons(con, committed=False, limit=limit)
    except duckdb.Error:
        return []  # no rejects table yet, or the file is held by another writer


#: Errors a failed check reports better: a dg.Failure of ours, Dagster's "blocking check failed".
_REPORTED_BY_CHECKS = ("Failure", "DagsterAssetCheckFailedError")


def _dagster_wrapper(cls_name: str | None, message: str) -> bool:
    """Whether an error is Dagster's wrapper around the step's own (execution error, exhausted retries)."""
    if cls_name == "Failure":  # raised by our code, reported by its check
        return False
    return message.startswith("dagster.") or (cls_name or "").startswith(("Dagster", "RetryRequested"))


def step_errors(result: dg.ExecuteInProcessResult | None) -> list[str]:
    """``steps: error`` for the failed steps whose error is not a failed check (a full disk, an unwritable
    folder, a crash of dbt): the error the code raised, first line only, without Dagster's wrapper or a
    traceback; steps that failed the same way share one line."""
    if result is None:
        return []
    by_error: dict[str, list[str]] = {}
    for event in result.all_events:
        data = event.step_failure_data if event.is_step_failure else None
        error = data.error if data is not None else None
        # Down through Dagster's own wrappers (step execution, retries) to the error the code raised;
        # not further: a PublishError says more than the OSError it was raised from.
        while (
            error is not None and error.cause is not None and _dagster_wrapper(error.cls_name, error.message)
        ):
            error = error.cause
        if error is None or error.cls_name in _REPORTED_BY_CHECKS:
            continue
        first = (error.message.strip().splitlines() or [error.cls_name or "error"])[0]
        cls, sep, text = first.partition(": ")
        by_error.setdefault(f"{cls.rsplit('.', 1)[-1]}{sep}{text}"[:600], []).append(event.step_key or "?")
    lines = []
    for message, steps in by_error.items():
        named = ", ".join(steps[:3]) + (f" and {len(steps) - 3} more" if len(steps) > 3 else "")
        lines.append(f"{named}: {message}")
    return lines


def failure_lines(result: dg.ExecuteInProcessResult | None, warehouse: Path) -> list[str]:
    lines = [f"  failed step: {e}" for e in step_errors(result)]
    lines += [f"  failed check: {c}" for c in failed_checks(result)]
    reasons = refused_reject_reasons(warehouse)
    if reasons:
        lines.append("  rows of refused loads (raw._rejects where not committed):")
        for r in reasons:
            lines.append(f"    {r.line()}")
            lines.extend(f"      {ex}" for ex in r.examples)
    return lines
