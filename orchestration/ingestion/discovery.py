"""Where a batch's files are: ``<landing>/<Object>/<YYYY-MM-DD>/``, one folder per object and extract
date. Only file names are looked at here; a file of an unsupported type refuses the batch before
anything is read."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from orchestration.contract import LandingObject
from orchestration.ingestion.batch import BatchError

#: File suffix -> reader. Files starting with ``.`` or ``_`` (``.DS_Store``, Spark's ``_SUCCESS``) are
#: not data and are skipped.
FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}


def parse_date(name: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def list_extract_dates(landing_dir: Path, obj: LandingObject) -> list[date]:
    """Extract dates of the ``<landing>/<Object>/<YYYY-MM-DD>/`` folders present, sorted."""
    root = Path(landing_dir) / obj.name
    if not root.is_dir():
        return []
    dates = [parse_date(p.name) for p in root.iterdir() if p.is_dir()]
    return sorted(d for d in dates if d is not None)


def batch_files(landing_dir: Path, obj: LandingObject, extract_date: date) -> tuple[bool, list[Path]]:
    folder = landing_dir / obj.name / extract_date.isoformat()
    if not folder.is_dir():
        return False, []
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
    for p in files:
        if p.suffix.lower() not in FORMATS:
            raise BatchError(
                f"{p}: unsupported file type {p.suffix or '(none)'!r}; "
                f"landing files must be {', '.join(FORMATS)}"
            )
    return True, files
