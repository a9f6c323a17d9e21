"""The text output of ``sales-wh validate`` (``--json`` is ``ValidationReport.to_dict()``) and its exit
code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from orchestration.tooling.validate_report import FileReport, HeaderMapping, ValidationReport


def _short(details: dict[str, Any]) -> str:
    text = json.dumps(details, default=str)
    return text if len(text) <= 300 else text[:297] + "..."


#: Files listed one by one in the text output when an object has at most this many (else: only the
#: files with rejects; every file is in --json).
LIST_FILES = 5


def _mapping_text(m: HeaderMapping) -> list[str]:
    renamed = [f"{h}->{n}" for h, n in m.matched.items() if h != n]
    out = [
        f"matched {len(m.matched)}/{len(m.matched) + len(m.missing)} contract columns"
        + (f" ({', '.join(renamed)})" if renamed else "")
    ]
    if m.connector:
        out.append("connector columns: " + "; ".join(f"{h}: {r}" for h, r in m.connector.items()))
    if m.extra:
        out.append(f"extra columns kept: {', '.join(m.extra)}")
    if m.missing_key:
        out.append(f"KEY COLUMN MISSING: {', '.join(m.missing_key)} (the batch fails)")
    if m.missing:
        out.append(f"missing (loaded as NULL): {', '.join(m.missing)}")
    return out


def _files_text(files: Sequence[FileReport]) -> list[str]:
    """Header mappings once per distinct mapping (with how many files share it), then the rows of each
    file (all of them when few, else those with rejects)."""
    lines: list[str] = []
    groups: dict[str, list[FileReport]] = {}
    for f in files:
        groups.setdefault(json.dumps(asdict(f.mapping), sort_keys=True), []).append(f)
    for group in groups.values():
        first = group[0]
        more = f" and {len(group) - 1} more file(s)" if len(group) > 1 else ""
        lines.append(f"  header of {first.file}{more}:")
        lines += [f"    {line}" for line in _mapping_text(first.mapping)]
    shown = files if len(files) <= LIST_FILES else [f for f in files if f.rejected_rows]
    if shown and len(files) > LIST_FILES:
        lines.append("  files with rejects:")
    lines += [f"    {f.file}: {f.loaded_rows:,} load, {f.rejected_rows:,} rejected" for f in shown]
    return lines


def render_text(report: ValidationReport) -> str:
    lines = [
        f"Validating {report.landing} for extract dates {report.start}..{report.end} (nothing is written)"
    ]
    for o in report.objects:
        if not o.found:
            continue
        status = "BLOCKED" if o.blocked else "ok"
        lines.append("")
        lines.append(
            f"{o.object}: {status}; {len(o.files)} file(s) in {len(o.extract_dates)} extract date(s); "
            f"{o.source_rows:,} rows: {o.loaded_rows:,} would load, {o.rejected_rows:,} rejected"
        )
        if o.batch_error:
            lines.append(f"  batch error (nothing of {o.object} would load): {o.batch_error}")
        lines += _files_text(o.files)
        for column, kpis in o.missing_kpis.items():
            lines.append(f"  missing from every file: {column} -> partial KPIs: {kpis}")
        if o.column_formats:
            lines.append(
                "  date formats: " + "; ".join(f"{c}: {' / '.join(v)}" for c, v in o.column_formats.items())
            )
        for r in o.rejects:
            lines.append(f"  rejected: {r.rows:,} row(s): {(r.column + ': ') if r.column else ''}{r.reason}")
            lines += [f"    {e}" for e in r.examples]
        for c in o.failed_checks:
            lines.append(f"  BLOCKING CHECK FAILED: {c.name}: {c.description} {_short(c.details)}")
        for c in o.warnings:
            lines.append(f"  warning: {c.name}: {c.description}")
    if report.not_found:
        lines.append("")
        lines.append("Objects not found: " + ", ".join(report.not_found))
        if report.core_not_found:
            lines.append(
                "  core objects missing (User, Account, Opportunity are required for the core KPIs): "
                + ", ".join(report.core_not_found)
            )
        lines.append("  (optional objects: the KPIs that need them stay empty)")
    if report.unmapped:
        lines.append("")
        lines.append("Picklist values no seed or landed metadata object maps (add the line to the seed):")
        for u in report.unmapped:
            lines.append(
                f"  {u.object}.{u.field} = {u.value!r} ({u.rows:,} rows): {u.seed_file}: {u.seed_line}"
            )
    lines.append("")
    blocked = [o.object for o in report.objects if o.blocked]
    if blocked:
        lines.append(f"A run would be BLOCKED by: {', '.join(blocked)}")
    elif not any(o.found for o in report.objects):
        lines.append("No landing files for these extract dates: a run would load nothing")
    elif report.core_not_found:
        lines.append(
            "A run would load these extracts, but without "
            + ", ".join(report.core_not_found)
            + " the core KPIs stay empty"
        )
    else:
        lines.append("A run would load these extracts (no blocking problem found)")
    return "\n".join(lines)


def exit_code(report: ValidationReport) -> int:
    return 1 if report.blocked else 0
