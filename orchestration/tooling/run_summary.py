"""Why a run failed, in a few lines: the failed blocking checks and the top reject reasons of refused
loads (``raw._rejects`` rows with ``committed = false``), so the command line names the file, line,
column and value instead of only a step name."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from orchestration.ingestion import rejects


def failed_checks(result: dg.ExecuteInProcessResult | None) -> list[str]:
    """``asset / check: description`` of each failed check of error severity."""
    if result is None:
        return []
    lines = []
    for e in result.get_asset_check_evaluations():
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR:
            what = e.description or ""
            if not what:
                meta = e.metadata.get("batch_error") or e.metadata.get("failed_expectations")
                what = str(getattr(meta, "value", meta) or "")
            lines.append(f"{'/'.join(e.asset_key.path)} {e.check_name}: {what}".rstrip(": "))
    return lines


def warning_lines(result: dg.ExecuteInProcessResult | None, limit: int = 15) -> list[str]:
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
    return lines[:limit] + (
        [f"  ... and {len(lines) - limit} more (main.check_results)"] if len(lines) > limit else []
    )


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


def failure_lines(result: dg.ExecuteInProcessResult | None, warehouse: Path) -> list[str]:
    lines = [f"  failed check: {c}" for c in failed_checks(result)]
    reasons = refused_reject_reasons(warehouse)
    if reasons:
        lines.append("  rows of refused loads (raw._rejects where not committed):")
        for r in reasons:
            lines.append(f"    {r.line()}")
            lines.extend(f"      {ex}" for ex in r.examples)
    return lines
