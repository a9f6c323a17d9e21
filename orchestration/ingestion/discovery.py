"""Where a batch's files are: ``<landing>/<Object>/<YYYY-MM-DD>/``, one folder per object and extract
date. Only names and links are looked at here; a file of an unsupported type, a dangling link or a
folder that looks like a date but is none refuses the batch before anything is read."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

from orchestration.contract import LandingObject
from orchestration.ingestion.batch import BatchError, SkippedFile

#: File suffix -> reader. Files starting with ``.`` or ``_`` (``.DS_Store``, Spark's ``_SUCCESS``) are
#: not data and are skipped; so are Excel's lock files (``~$part-0.csv``).
FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}

#: A folder name that is meant as a date (digits in three parts, or eight digits) but may be no
#: valid ``YYYY-MM-DD``: refused with a message rather than ignored (``not-a-date`` stays ignored).
_DATE_LIKE = re.compile(r"\d{1,4}[-_.]\d{1,2}[-_.]\d{1,4}|\d{8}")


def parse_date(name: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def list_extract_dates(landing_dir: Path, obj: LandingObject) -> list[date]:
    """Extract dates of the ``<landing>/<Object>/<YYYY-MM-DD>/`` folders present, sorted.

    A folder whose name looks like a date but is no valid ``YYYY-MM-DD`` (``2025-13-45``,
    ``2025-02-30``, ``2025-1-3``) raises :class:`BatchError`: its rows would otherwise be lost
    without a word. Names that do not look like a date are not extracts and are ignored."""
    root = Path(landing_dir) / obj.name
    if not root.is_dir():
        return []
    dates = []
    for p in sorted(root.iterdir()):
        if not p.is_dir():
            continue
        d = parse_date(p.name)
        if d is None and _DATE_LIKE.fullmatch(p.name):
            raise BatchError(
                f"{p}: folder name {p.name!r} looks like an extract date but is no valid date in "
                "YYYY-MM-DD form (zero-padded year-month-day); rename it to the extract date as "
                "YYYY-MM-DD (e.g. 2025-01-03), or move it out of the landing folder"
            )
        if d is not None:
            dates.append(d)
    return sorted(dates)


def _skip_reason(name: str) -> str | None:
    if name.startswith("~$"):
        return f"Excel lock file ({name[2:]} was open in Excel when it was landed)"
    if name.startswith("."):
        return "hidden file (operating system metadata, not data)"
    if name.startswith("_"):
        return "marker file (e.g. _SUCCESS), not data"
    return None


def batch_files(
    landing_dir: Path, obj: LandingObject, extract_date: date
) -> tuple[bool, list[Path], list[SkippedFile]]:
    """Whether the batch folder exists, its data files (sorted) and the entries skipped (with why)."""
    folder = landing_dir / obj.name / extract_date.isoformat()
    if not folder.is_dir():
        return False, [], []
    files: list[Path] = []
    skipped: list[SkippedFile] = []
    for p in sorted(folder.iterdir()):
        reason = _skip_reason(p.name)
        if reason is not None:
            if not p.is_dir():
                skipped.append(SkippedFile(p.relative_to(landing_dir).as_posix(), reason))
            continue
        if p.is_symlink() and not p.exists():
            raise BatchError(
                f"{p}: dangling symbolic link to {os.readlink(p)!r}, which does not exist: the file's "
                "rows are missing from this extract; restore the link's target or remove the link"
            )
        if p.is_file():
            files.append(p)
    for p in files:
        if p.suffix.lower() not in FORMATS:
            raise BatchError(
                f"{p}: unsupported file type {p.suffix or '(none)'!r}; "
                f"landing files must be {', '.join(FORMATS)}"
            )
    return True, files, skipped
