"""What a batch was loaded from, in one string: the landing signature.

A batch folder ``<landing>/<Object>/<YYYY-MM-DD>/`` is signed by the name, size and modification time
(nanoseconds) of every entry in it (data files, the files the load skips, sub-folders), together with
the settings that decide how the same bytes load (the object's date formats, the reject-rate limit) and
the version of the loading code. The signature is stored with the batch's row in ``raw._load_audit``.

A run that meets a batch whose signature equals the one of its latest committed load does not load it
again: raw already holds exactly what a load would write, checked when it was loaded. So re-running a
day, or running a day on which nothing new landed, costs no load (docs/DECISIONLOG.md, "A no-op run").
Re-landing a file (a corrected extract, a copy, ``touch``) gives it a new modification time and the
batch loads again; size and modification time is what ``make`` and ``rsync`` trust too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from datetime import date
from functools import cache
from pathlib import Path

import duckdb

from orchestration.contract import LOAD_AUDIT_TABLE, RAW_SCHEMA, LandingObject
from orchestration.sql import table_columns

#: Column of ``raw._load_audit`` holding the signature (NULL in rows written before it existed).
SIGNATURE_COLUMN = "landing_signature"

#: The code whose change may change what the same files load to (parsing, casting, checks, contract).
_LOADER_CODE = ("orchestration/ingestion", "orchestration/quality", "orchestration/contract.py")


@cache
def loader_version() -> str:
    """A hash of the loading code (:data:`_LOADER_CODE`): a new loader reloads every batch it meets."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for name in _LOADER_CODE:
        path = root / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def settings_token(date_formats: Mapping[str, str], max_reject_rate: float) -> str:
    """The settings that decide how a batch loads and whether it is accepted."""
    return json.dumps(
        {"date_formats": dict(sorted(date_formats.items())), "max_reject_rate": max_reject_rate},
        sort_keys=True,
    )


def _entries(folder: Path) -> list[str]:
    """``name size mtime_ns`` of every entry under ``folder`` (recursively), sorted; a link is described
    by its target (a dangling one by its own name only: the load refuses it)."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames) + dirnames:
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            try:
                st = path.stat()
            except FileNotFoundError:
                out.append(f"{rel} dangling")
                continue
            out.append(f"{rel} {st.st_size} {st.st_mtime_ns}")
    return out


def batch_signature(landing_dir: Path, obj: LandingObject, extract_date: date, token: str) -> str | None:
    """The signature of one batch folder (None: no folder for that date)."""
    folder = Path(landing_dir) / obj.name / extract_date.isoformat()
    if not folder.is_dir():
        return None
    digest = hashlib.sha256(f"{loader_version()}\0{token}\0".encode())
    for entry in _entries(folder):
        digest.update(entry.encode() + b"\n")
    return digest.hexdigest()


def batch_signatures(
    landing_dir: Path, obj: LandingObject, extract_dates: Sequence[date], token: str
) -> dict[date, str | None]:
    return {d: batch_signature(landing_dir, obj, d, token) for d in extract_dates}


def unchanged_dates(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, signatures: Mapping[date, str | None]
) -> set[date]:
    """The extract dates whose batch needs no load: the signature equals the one of the latest committed
    load of that object and date, or there is no folder and raw holds nothing of that date (never
    loaded, or its latest load was of an empty folder)."""
    if not signatures:
        return set()
    latest: dict[date, tuple[str | None, int]] = {}
    if SIGNATURE_COLUMN in table_columns(con, RAW_SCHEMA, LOAD_AUDIT_TABLE):
        rows = con.execute(
            f"""SELECT extract_date, arg_max({SIGNATURE_COLUMN}, loaded_at), arg_max(source_files, loaded_at)
                FROM {RAW_SCHEMA}.{LOAD_AUDIT_TABLE}
                WHERE object = ? AND extract_date IN (SELECT unnest(CAST(? AS DATE[])))
                GROUP BY extract_date""",
            [obj.name, list(signatures)],
        ).fetchall()
        latest = {d: (sig, files) for d, sig, files in rows}
    elif table_columns(con, RAW_SCHEMA, LOAD_AUDIT_TABLE):  # a warehouse from before the signatures
        rows = con.execute(
            f"""SELECT extract_date, arg_max(source_files, loaded_at) FROM {RAW_SCHEMA}.{LOAD_AUDIT_TABLE}
                WHERE object = ? AND extract_date IN (SELECT unnest(CAST(? AS DATE[])))
                GROUP BY extract_date""",
            [obj.name, list(signatures)],
        ).fetchall()
        latest = {d: (None, files) for d, files in rows}
    same = set()
    for d, signature in signatures.items():
        stored, files = latest.get(d, (None, 0))
        no_folder_nothing_loaded = signature is None and not files
        if no_folder_nothing_loaded or (signature is not None and signature == stored):
            same.add(d)
    return same
