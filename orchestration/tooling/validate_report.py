"""The report of ``sales-wh validate`` as data: per object and file, what a run would make of the landing
files (plain dataclasses; ``ValidationReport.to_dict()`` is the ``--json`` output)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
