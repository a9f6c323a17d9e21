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

The parts are plain functions over a DuckDB connection and paths (:func:`header_mapping`,
:func:`reject_reasons`, :func:`unmapped_values`, :func:`validate_landing_dir`, :func:`render_text`), so
they are testable without the command line.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from orchestration.contract import (
    CONNECTOR_DELETED_COLUMNS,
    CONNECTOR_SYNC_COLUMNS,
    FIELD_KPIS,
    OBJECTS,
    RAW_SCHEMA,
    REJECTS_TABLE,
    LandingObject,
    get_object,
    header_key,
)
from orchestration.settings import PROJECT_ROOT, Settings

SEEDS_DIR = PROJECT_ROOT / "seeds"
STAGE_SEED = "opportunity_stages.csv"
LEAD_STATUS_SEED = "lead_statuses.csv"
ACTIVITY_TYPE_SEED = "activity_types.csv"
#: Reject reasons listed per object, and examples per reason.
TOP_REASONS = 10
EXAMPLES = 5
#: Objects loaded first: the currency checks of the others read raw.currency_type (as in a run).
_LOAD_FIRST = ("CurrencyType",)


# ------------------------------------------------------------------------------------------ reports


@dataclass
class HeaderMapping:
    """How one file's header maps to the contract."""

    matched: dict[str, str] = field(default_factory=dict)  # header -> contract field (API name)
    extra: list[str] = field(default_factory=list)  # headers kept as extra columns
    connector: dict[str, str] = field(default_factory=dict)  # connector metadata header -> its role
    missing: list[str] = field(default_factory=list)  # contract fields absent from the file
    missing_kpis: dict[str, str] = field(default_factory=dict)  # missing field -> KPIs left partial
    missing_key: list[str] = field(default_factory=list)  # key fields absent (the batch fails)


@dataclass
class FileReport:
    file: str  # relative to the landing folder
    extract_date: str
    headers: list[str]
    mapping: HeaderMapping
    loaded_rows: int = 0
    rejected_rows: int = 0


@dataclass
class RejectReason:
    column: str | None
    reason: str
    rows: int
    examples: list[str]  # file:line column=value reason


@dataclass
class CheckFailure:
    name: str
    severity: str
    description: str
    details: dict[str, Any]


@dataclass
class ObjectReport:
    object: str
    core: bool
    found: bool = False
    extract_dates: list[str] = field(default_factory=list)  # dates with a folder
    files: list[FileReport] = field(default_factory=list)
    source_rows: int = 0
    loaded_rows: int = 0
    rejected_rows: int = 0
    missing_columns: list[str] = field(default_factory=list)  # contract fields absent from every file
    missing_kpis: dict[str, str] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)
    column_formats: dict[str, list[str]] = field(default_factory=dict)  # column -> detected format(s)
    rejects: list[RejectReason] = field(default_factory=list)
    batch_error: str | None = None
    failed_checks: list[CheckFailure] = field(default_factory=list)  # blocking (error) checks
    warnings: list[CheckFailure] = field(default_factory=list)  # warn-severity checks that failed

    @property
    def blocked(self) -> bool:
        return self.batch_error is not None or bool(self.failed_checks)


@dataclass
class Unmapped:
    object: str
    field: str
    value: str
    rows: int
    seed_file: str  # relative to the project, e.g. seeds/opportunity_stages.csv
    seed_line: str  # the CSV line that would map the value (guessed columns: check them)


@dataclass
class ValidationReport:
    landing: str
    start: str
    end: str
    objects: list[ObjectReport]
    unmapped: list[Unmapped]

    @property
    def blocked(self) -> bool:
        return any(o.blocked for o in self.objects)

    @property
    def not_found(self) -> list[str]:
        return [o.object for o in self.objects if not o.found]

    @property
    def core_not_found(self) -> list[str]:
        return [o.object for o in self.objects if not o.found and o.core]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["blocked"] = self.blocked
        out["objects_not_found"] = self.not_found
        out["core_objects_not_found"] = self.core_not_found
        for o, d in zip(self.objects, out["objects"], strict=True):
            d["blocked"] = o.blocked
        return out


# ------------------------------------------------------------------------------------ header mapping


def read_headers(path: Path) -> list[str]:
    """The column names of a landing file as the loader sees them (CSV header, Parquet schema, JSON Lines
    keys). An unreadable file gives an empty list (the loader reports it as a batch error)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as fh:
                return next(csv.reader(fh), [])
        con = duckdb.connect()
        try:
            if suffix == ".parquet":
                return [
                    r[0]
                    for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
                ]
            if suffix == ".jsonl":
                rows = con.execute(
                    "SELECT DISTINCT unnest(json_keys(json)) AS k FROM read_ndjson_objects(?)", [str(path)]
                ).fetchall()
                return sorted(r[0] for r in rows)
        finally:
            con.close()
    except (OSError, UnicodeDecodeError, csv.Error, duckdb.Error):
        return []
    return []


def header_mapping(obj: LandingObject, headers: Sequence[str]) -> HeaderMapping:
    """Match ``headers`` to the contract of ``obj`` the way the loader does (``contract.header_key``)."""
    by_key = {header_key(f.name): f for f in obj.fields}
    m = HeaderMapping()
    present: set[str] = set()
    for h in headers:
        k = header_key(h)
        f = by_key.get(k)
        if f is not None:
            m.matched[h] = f.name
            present.add(f.name)
        elif k in CONNECTOR_DELETED_COLUMNS:
            has_flag = any(f.name == "IsDeleted" for f in obj.fields)
            m.connector[h] = "deleted flag (counts as IsDeleted)" if has_flag else "deleted flag (kept)"
        elif k in CONNECTOR_SYNC_COLUMNS:
            m.connector[h] = "sync timestamp (orders versions when SystemModstamp is absent)"
        else:
            m.extra.append(h)
    fallbacks = dict(obj.key_fallbacks)
    if (
        m.connector
        and any("deleted" in role for role in m.connector.values())
        and any(f.name == "IsDeleted" for f in obj.fields)
    ):
        present.add("IsDeleted")  # the connector's deleted flag stands in for it
    for f in obj.fields:
        if f.name in present:
            continue
        m.missing.append(f.name)
        if f.name in obj.key and fallbacks.get(f.name) not in present:
            m.missing_key.append(f.name)
        kpis = FIELD_KPIS.get((obj.name, f.name))
        if kpis:
            m.missing_kpis[f.name] = kpis
    return m


# ----------------------------------------------------------------------------------------- rejects


def reject_reasons(
    con: duckdb.DuckDBPyConnection, object_name: str, top: int = TOP_REASONS, examples: int = EXAMPLES
) -> list[RejectReason]:
    """The most frequent reject reasons of ``object_name`` in ``raw._rejects`` (by rows), each with up
    to ``examples`` examples ``file:line column=value reason`` in file and line order."""
    rows = con.execute(
        f"""WITH r AS (SELECT * FROM {RAW_SCHEMA}.{REJECTS_TABLE} WHERE object = ?),
            g AS (SELECT column_name, reason, count(DISTINCT (source_file, source_line)) AS n
                  FROM r GROUP BY ALL ORDER BY n DESC, column_name NULLS LAST, reason LIMIT ?)
            SELECT g.column_name, g.reason, g.n,
                   list(r.source_file || ':' || r.source_line || ' '
                        || coalesce(r.column_name || '=' || coalesce(r.value, ''), coalesce(r.value, ''))
                        || ' ' || r.reason ORDER BY r.source_file, r.source_line)[1:?]
            FROM g JOIN r ON r.reason = g.reason AND r.column_name IS NOT DISTINCT FROM g.column_name
            GROUP BY ALL ORDER BY g.n DESC, g.column_name NULLS LAST, g.reason""",
        [object_name, top, examples],
    ).fetchall()
    return [RejectReason(c, reason, int(n), list(ex)) for c, reason, n, ex in rows]


def rows_per_file(con: duckdb.DuckDBPyConnection, obj: LandingObject) -> dict[str, tuple[int, int]]:
    """Loaded and rejected rows per source file of ``obj``."""
    loaded = dict(
        con.execute(f'SELECT _source_file, count(*) FROM {RAW_SCHEMA}."{obj.table}" GROUP BY 1').fetchall()
    )
    rejected = dict(
        con.execute(
            f"""SELECT source_file, count(DISTINCT source_line) FROM {RAW_SCHEMA}.{REJECTS_TABLE}
                WHERE object = ? GROUP BY 1""",
            [obj.name],
        ).fetchall()
    )
    return {f: (int(loaded.get(f, 0)), int(rejected.get(f, 0))) for f in {*loaded, *rejected}}


# ------------------------------------------------------------------------------------------- seeds


def read_seed(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a seed CSV, by header name (the seeds may gain rows and columns)."""
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def read_seeds(seeds_dir: Path, main: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header of the main seed file ``main`` and the rows of it and of its siblings
    (``opportunity_stages*.csv``: the stage sets of newer orgs live beside the classic one)."""
    header, rows = read_seed(seeds_dir / main)
    stem = Path(main).stem
    for sibling in sorted(seeds_dir.glob(f"{stem}*.csv")):
        if sibling.name != main:
            rows += read_seed(sibling)[1]
    return header, rows


def seed_line(header: Sequence[str], values: dict[str, Any]) -> str:
    """One CSV line in the seed's column order; columns without a value stay empty."""
    buf = io.StringIO()
    cells = ["" if values.get(c) is None else str(values[c]) for c in header]
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


def _bool(v: Any) -> str:
    return "true" if v else "false"


def _table_has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(f'SELECT count(*) FROM {RAW_SCHEMA}."{table}"').fetchone()[0])


def _metadata_names(con: duckdb.DuckDBPyConnection, object_name: str) -> set[str]:
    """ApiName and MasterLabel values of a landed metadata object (OpportunityStage, LeadStatus)."""
    try:
        obj = get_object(object_name)
    except KeyError:
        return set()
    cols = [c for c in ("api_name", "master_label") if c in obj.columns]
    if not cols or not _table_has_rows(con, obj.table):
        return set()
    names: set[str] = set()
    for c in cols:
        names |= {
            r[0]
            for r in con.execute(f'SELECT DISTINCT {c} FROM {RAW_SCHEMA}."{obj.table}"').fetchall()
            if r[0]
        }
    return names


_ACTIVITY_GUESSES = (
    (
        ("call", "phone", "email", "mail", "message", "linkedin", "video", "zoom", "teams"),
        "customer_digital",
        True,
    ),
    (("meeting", "demo", "visit", "lunch", "presentation", "onsite"), "customer_in_person", True),
    (("travel", "flight", "drive"), "travel", False),
    (("training", "course", "enablement", "onboarding"), "training", False),
    (("prep", "research", "proposal"), "prep", False),
)


def _guess_activity(value: str) -> tuple[str, bool]:
    low = value.lower()
    if "internal" in low or "team" in low:
        return "internal_meeting", False
    for words, category, selling in _ACTIVITY_GUESSES:
        if any(w in low for w in words):
            return category, selling
    return "admin", False


def unmapped_values(con: duckdb.DuckDBPyConnection, seeds_dir: Path = SEEDS_DIR) -> list[Unmapped]:
    """Stage names, lead statuses and task/event types in the loaded rows that no seed (and no landed
    OpportunityStage / LeadStatus) maps, with rows and the seed line that would map each. The guessed
    columns of a line come from the rows themselves where they can (IsClosed/IsWon, probability,
    forecast category, IsConverted), else from the value's words."""
    out: list[Unmapped] = []
    rel = lambda name: f"{seeds_dir.name}/{name}"  # noqa: E731

    # Opportunity stages: seed + landed OpportunityStage.
    header, rows = read_seeds(seeds_dir, STAGE_SEED)
    known = {r.get("stage_name") for r in rows} | _metadata_names(con, "OpportunityStage")
    next_order = max(
        (int(float(r["stage_order"])) for r in rows if (r.get("stage_order") or "").strip()), default=0
    )
    stats = con.execute(
        f"""SELECT stage_name, count(*), bool_or(is_closed), bool_or(is_won), avg(probability),
                   mode(forecast_category_name)
            FROM {RAW_SCHEMA}.opportunity WHERE stage_name IS NOT NULL GROUP BY 1
            UNION ALL
            SELECT stage_name, count(*), NULL, NULL, avg(probability), mode(forecast_category)
            FROM {RAW_SCHEMA}.opportunity_history WHERE stage_name IS NOT NULL GROUP BY 1"""
    ).fetchall()
    merged: dict[str, list[Any]] = {}
    for name, n, closed, won, prob, fc in stats:
        cur = merged.setdefault(name, [0, None, None, None, None])
        cur[0] += n
        cur[1] = cur[1] or closed
        cur[2] = cur[2] or won
        cur[3] = cur[3] if cur[3] is not None else prob
        cur[4] = cur[4] or fc
    for name in sorted(v for v in merged if v not in known):
        n, closed, won, prob, fc = merged[name]
        next_order += 1
        values = {
            "stage_name": name,
            "stage_order": next_order,
            "default_probability": f"{(prob or 0) / 100:.2f}",
            "is_closed": _bool(closed),
            "is_won": _bool(won),
            "forecast_category": fc or ("Closed" if won else "Omitted" if closed else "Pipeline"),
        }
        out.append(Unmapped("Opportunity", "StageName", name, n, rel(STAGE_SEED), seed_line(header, values)))

    # Lead statuses: seed + landed LeadStatus; Lead.Status and the Status changes of LeadHistory.
    header, rows = read_seeds(seeds_dir, LEAD_STATUS_SEED)
    known = {r.get("status") for r in rows} | _metadata_names(con, "LeadStatus")
    order = {r.get("lifecycle_stage"): r.get("lifecycle_order") for r in rows}
    stats = con.execute(
        f"""SELECT v, sum(n), bool_or(conv) FROM (
                SELECT status AS v, count(*) AS n, bool_or(is_converted) AS conv
                FROM {RAW_SCHEMA}.lead WHERE status IS NOT NULL GROUP BY 1
                UNION ALL
                SELECT new_value, count(*), NULL FROM {RAW_SCHEMA}.lead_history
                WHERE field = 'Status' AND new_value IS NOT NULL GROUP BY 1)
            GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    for value, n, conv in stats:
        if value in known:
            continue
        low = value.lower()
        stage = (
            "converted"
            if conv or "convert" in low
            else "disqualified"
            if any(w in low for w in ("unqualified", "disqualified", "not converted", "junk", "lost"))
            else "sql"
            if "sales qualified" in low or low == "qualified"
            else "mql"
            if "marketing" in low or "mql" in low
            else "lead"
        )
        values = {"status": value, "lifecycle_stage": stage, "lifecycle_order": order.get(stage)}
        out.append(
            Unmapped("Lead", "Status", value, int(n), rel(LEAD_STATUS_SEED), seed_line(header, values))
        )

    # Task and event types.
    header, rows = read_seeds(seeds_dir, ACTIVITY_TYPE_SEED)
    known_types = {(r.get("activity_source"), r.get("activity_type")) for r in rows}
    durations = {r.get("category"): r.get("default_duration_minutes") for r in rows}
    for obj_name, source, table in (("Task", "task", "task"), ("Event", "event", "event")):
        for value, n in con.execute(
            f"SELECT type, count(*) FROM {RAW_SCHEMA}.{table} WHERE type IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).fetchall():
            if (source, value) in known_types:
                continue
            category, selling = _guess_activity(value)
            values = {
                "activity_source": source,
                "activity_type": value,
                "category": category,
                "is_selling": _bool(selling),
                "default_duration_minutes": durations.get(category) or 30,
            }
            out.append(
                Unmapped(obj_name, "Type", value, int(n), rel(ACTIVITY_TYPE_SEED), seed_line(header, values))
            )
    return out


# --------------------------------------------------------------------------------------- validation


def _dates(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _failures(outcomes: Sequence[Any]) -> tuple[list[CheckFailure], list[CheckFailure]]:
    errors, warnings = [], []
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
        known_stages_from_seed,
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
                known_stages=known_stages_from_seed(),
                known_currencies=known_currencies(c),
                gx_max_rows=settings.gx_max_rows,
            )
        )
        return True  # keep the rows in the in-memory database: the report reads them

    kwargs: dict[str, Any] = {"before_commit": run_checks, **_format_kwargs(load_batches, obj, settings)}
    # Files and headers, whatever the loader makes of them (a batch error still gets its mapping).
    for d in dates:
        folder = landing / obj.name / d.isoformat()
        if not folder.is_dir():
            continue
        report.found = True
        report.extract_dates.append(d.isoformat())
        for p in sorted(folder.iterdir()):
            if p.is_file() and not p.name.startswith((".", "_")):
                headers = read_headers(p)
                report.files.append(
                    FileReport(
                        p.relative_to(landing).as_posix(),
                        d.isoformat(),
                        headers,
                        header_mapping(obj, headers),
                    )
                )
    if not report.found:
        return report
    try:
        results = load_batches(con, obj, landing, list(dates), **kwargs)
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


def _format_kwargs(load_batches: Any, obj: LandingObject, settings: Settings) -> dict[str, Any]:
    """The date-format settings of ``obj`` as a run passes them to the loader (``SALES_WH_DATE_FORMATS``)."""
    params = inspect.signature(load_batches).parameters
    if "date_formats" in params:
        from orchestration import settings as settings_module

        per_object = getattr(settings_module, "object_date_formats", None)
        if per_object is not None:
            return {"date_formats": per_object(dict(settings.date_formats), obj.name)}
        return (
            {"date_formats": {"*": settings.date_formats[obj.name]}}
            if obj.name in settings.date_formats
            else {}
        )
    if "date_format" in params and settings.date_formats.get(obj.name):
        return {"date_format": settings.date_formats[obj.name]}
    return {}


def _object_columns(report: ObjectReport, obj: LandingObject, results: Sequence[Any]) -> None:
    """Missing and extra columns and the date formats of the object. Missing: contract fields absent from
    every file's header (API names, as ``FIELD_KPIS`` keys them; per-file gaps are in each file's
    mapping). Extra columns and formats: from the loader's results (``extra_columns``,
    ``column_formats``) where it reports them, else extra columns from the headers."""
    mappings = [f.mapping for f in report.files if f.headers]
    missing = [f.name for f in obj.fields if mappings and all(f.name in m.missing for m in mappings)]
    report.missing_columns = list(missing)
    report.missing_kpis = {m: FIELD_KPIS[(obj.name, m)] for m in missing if (obj.name, m) in FIELD_KPIS}
    extra = _from_results(results, "extra_columns")
    if extra is None:
        extra = list(dict.fromkeys(h for f in report.files for h in (*f.mapping.extra, *f.mapping.connector)))
    report.extra_columns = list(extra)
    formats: dict[str, list[str]] = {}
    for r in results:
        for column, label in (getattr(r, "column_formats", None) or {}).items():
            if label not in formats.setdefault(column, []):
                formats[column].append(label)
    report.column_formats = formats


def _from_results(results: Sequence[Any], name: str) -> list[str] | None:
    """A BatchResult field the loader may not have yet: the union over batches, or None if absent."""
    values = [getattr(r, name) for r in results if getattr(r, name, None) is not None]
    if not values:
        return None
    return list(dict.fromkeys(v for vs in values for v in vs))


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


# -------------------------------------------------------------------------------------------- output


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
