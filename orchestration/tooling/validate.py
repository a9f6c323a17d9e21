"""``sales-wh validate``: what a run would make of a landing folder, without writing to the warehouse.

Every contract object is loaded by the real loader (:func:`orchestration.ingestion.loader.load_batches`)
into an in-memory DuckDB database, so the parsing, the rejects and the counts are exactly a run's; the
blocking landing checks a run applies before committing (``validate_landing`` and
``reject_rate_outcome`` of :mod:`orchestration.quality.landing`) run on the same rows. Then the report
says, per object and file: how the headers map to the contract (matched, extra kept, missing and the
KPIs a missing column leaves partial), the detected format of each date and timestamp column, the rows
that would load and be rejected with the top reasons and examples (``file:line column=value reason``),
the objects not found, and the picklist values no seed or landed metadata object maps (with the seed
line that would map each). A run would be blocked (exit code 1) by a batch wrong as a whole
(``BatchError``), a failing blocking landing check or a reject rate above the limit.

The parts live beside this module, each testable without the command line: the report as data
(:mod:`.validate_report`), what is read from the files and the load (:mod:`.validate_collect`: headers,
reject reasons), the picklist values no seed maps (:mod:`.validate_seeds`) and the text output
(:mod:`.validate_render`). This module runs the validation and re-exports their public names, so
``from orchestration.tooling.validate import ...`` keeps working.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from orchestration.contract import FIELD_KPIS, OBJECTS, LandingObject
from orchestration.ingestion.loader import BatchResult
from orchestration.settings import Settings, object_date_formats
from orchestration.tooling.validate_collect import (
    EXAMPLES,
    TOP_REASONS,
    header_mapping,
    read_headers,
    reject_reasons,
    rows_per_file,
)
from orchestration.tooling.validate_render import LIST_FILES, exit_code, render_text
from orchestration.tooling.validate_report import (
    CheckFailure,
    FileReport,
    HeaderMapping,
    ObjectReport,
    RejectReason,
    Unmapped,
    ValidationReport,
)
from orchestration.tooling.validate_seeds import (
    ACTIVITY_TYPE_SEED,
    LEAD_STATUS_SEED,
    SEEDS_DIR,
    STAGE_SEED,
    read_seed,
    read_seeds,
    seed_line,
    unmapped_values,
)

__all__ = [
    "ACTIVITY_TYPE_SEED",
    "EXAMPLES",
    "LEAD_STATUS_SEED",
    "LIST_FILES",
    "SEEDS_DIR",
    "STAGE_SEED",
    "TOP_REASONS",
    "CheckFailure",
    "FileReport",
    "HeaderMapping",
    "ObjectReport",
    "RejectReason",
    "Unmapped",
    "ValidationReport",
    "exit_code",
    "header_mapping",
    "read_headers",
    "read_seed",
    "read_seeds",
    "reject_reasons",
    "render_text",
    "rows_per_file",
    "seed_line",
    "unmapped_values",
    "validate_landing_dir",
    "validate_object",
]

#: Objects loaded first: the currency checks of the others read raw.currency_type (as in a run).
_LOAD_FIRST = ("CurrencyType",)


def _dates(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _failures(outcomes: Sequence[Any]) -> tuple[list[CheckFailure], list[CheckFailure]]:
    errors: list[CheckFailure] = []
    warnings: list[CheckFailure] = []
    for o in outcomes:
        if o.success:
            continue
        failure = CheckFailure(o.name, o.severity, o.description, _json_safe(o.details))
        (errors if o.severity == "error" else warnings).append(failure)
    return errors, warnings


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def validate_object(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    landing: Path,
    dates: Sequence[date],
    settings: Settings,
) -> ObjectReport:
    """Load ``obj`` for ``dates`` into ``con`` (an in-memory database) with the real loader, run the
    landing checks a run would, and describe the outcome."""
    from orchestration.ingestion.loader import BatchError, load_batches
    from orchestration.quality.landing import (
        known_currencies,
        reject_rate_outcome,
        validate_landing,
    )

    report = ObjectReport(obj.name, obj.core)
    outcomes: list[Any] = []

    def run_checks(c: duckdb.DuckDBPyConnection) -> bool:
        outcomes.extend(
            validate_landing(
                c,
                obj,
                list(dates),
                known_currencies=known_currencies(c),
                gx_max_rows=settings.gx_max_rows,
            )
        )
        return True  # keep the rows in the in-memory database: the report reads them

    date_formats = object_date_formats(dict(settings.date_formats), obj.name)
    # Files and headers, whatever the loader makes of them (a batch error still gets its mapping).
    for d in dates:
        folder = landing / obj.name / d.isoformat()
        if folder.is_dir():
            report.found = True
            report.extract_dates.append(d.isoformat())
            report.files += _file_reports(obj, landing, folder, d)
    if not report.found:
        return report
    try:
        results = load_batches(
            con, obj, landing, list(dates), date_formats=date_formats, before_commit=run_checks
        )
    except BatchError as exc:
        report.batch_error = str(exc)
        _object_columns(report, obj, [])
        return report
    except Exception as exc:  # noqa: BLE001  a loader bug or an engine error: a run would fail on it too
        report.batch_error = f"{type(exc).__name__}: {exc}"
        _object_columns(report, obj, [])
        return report
    found = [r for r in results if r.found]
    report.source_rows = sum(r.source_rows for r in found)
    report.loaded_rows = sum(r.loaded_rows for r in found)
    report.rejected_rows = sum(r.rejected_rows for r in found)
    outcomes.append(reject_rate_outcome(results, settings.max_reject_rate))
    report.failed_checks, report.warnings = _failures(outcomes)
    per_file = rows_per_file(con, obj)
    for f in report.files:
        f.loaded_rows, f.rejected_rows = per_file.get(f.file, (0, 0))
    report.rejects = reject_reasons(con, obj.name)
    _object_columns(report, obj, found)
    return report


def _file_reports(obj: LandingObject, landing: Path, folder: Path, day: date) -> list[FileReport]:
    """Each landing file of one extract-date folder with its header and how it maps to the contract."""
    reports = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith((".", "_")):
            headers = read_headers(p)
            reports.append(
                FileReport(
                    p.relative_to(landing).as_posix(), day.isoformat(), headers, header_mapping(obj, headers)
                )
            )
    return reports


def _object_columns(report: ObjectReport, obj: LandingObject, results: Sequence[BatchResult]) -> None:
    """Missing and extra columns and the date formats of the object. Missing: contract fields absent from
    every file's header (API names, as ``FIELD_KPIS`` keys them; per-file gaps are in each file's
    mapping). Extra columns and formats: from the loader's results (``extra_columns``,
    ``column_formats``), or, when nothing loaded (a batch error), extra columns from the headers."""
    mappings = [f.mapping for f in report.files if f.headers]
    missing = [f.name for f in obj.fields if mappings and all(f.name in m.missing for m in mappings)]
    report.missing_columns = list(missing)
    report.missing_kpis = {m: FIELD_KPIS[(obj.name, m)] for m in missing if (obj.name, m) in FIELD_KPIS}
    if results:
        extra = list(dict.fromkeys(c for r in results for c in r.extra_columns))
    else:
        extra = list(dict.fromkeys(h for f in report.files for h in (*f.mapping.extra, *f.mapping.connector)))
    report.extra_columns = extra
    formats: dict[str, list[str]] = {}
    for r in results:
        for column, label in r.column_formats.items():
            if label not in formats.setdefault(column, []):
                formats[column].append(label)
    report.column_formats = formats


def validate_landing_dir(
    landing: Path,
    start: date,
    end: date,
    settings: Settings | None = None,
    seeds_dir: Path = SEEDS_DIR,
) -> ValidationReport:
    """Validate every contract object of ``landing`` for extract dates ``start..end`` (in memory)."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    settings = settings or Settings.from_env()
    landing = Path(landing).absolute()
    dates = _dates(start, end)
    con = duckdb.connect()
    try:
        from orchestration.ingestion.loader import ensure_raw_schema

        ensure_raw_schema(con)
        order = sorted(OBJECTS, key=lambda o: o.name not in _LOAD_FIRST)
        reports = {o.name: validate_object(con, o, landing, dates, settings) for o in order}
        unmapped = unmapped_values(con, seeds_dir)
    finally:
        con.close()
    return ValidationReport(
        str(landing), start.isoformat(), end.isoformat(), [reports[o.name] for o in OBJECTS], unmapped
    )
