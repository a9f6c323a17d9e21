"""Export dialects: the same demo rows written the way real Salesforce exports write them.

``--dialect`` picks one (CSV only; without it the generator writes its own default shape, unchanged):

- ``api``: a Data Loader / Bulk API export of a recent org. API-name headers, a UTF-8 BOM, timestamps
  ``2024-01-23T17:50:51.000+0000``, dates ``2024-01-23``, booleans ``true``/``false``, and an unset
  ``IsDeleted`` left empty (empty is null, and a null deleted flag means not deleted).
- ``report``: a report exported to CSV. Report-label headers (``Stage Name``, ``Close Date``,
  ``Account ID``: the words of the API name, so ``contract.header_key`` still maps them), US dates
  ``MM/DD/YYYY``, timestamps ``MM/DD/YYYY hh:mm AM`` (minutes only, as reports show them), booleans
  ``TRUE``/``FALSE``, CRLF line ends.
- ``connector``: tables a managed connector (Fivetran) lands. snake_case headers, no
  ``system_modstamp`` column, ``_fivetran_synced`` (when the row was synced: 5 minutes after its
  version, or 05:00 of the extract day for objects without a version field, so ordering by it gives
  the versions' order) and ``_fivetran_deleted`` (the record's deleted flag, ``false`` for objects
  without one), timestamps ``2024-01-23T17:50:51.000Z``, date fields ``2018-12-19 00:00:00``.

Everything is rendered with numpy into fixed-width character matrices (no per-row Python).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.contract import Field, snake_case

from .text import _put_digits, civil_from_days, fixed_width_strings

_MS_PER_DAY = 86_400_000
#: Width of each pattern directive (``%f`` is milliseconds, ``%p`` AM/PM).
_WIDTHS = {"Y": 4, "m": 2, "d": 2, "H": 2, "I": 2, "M": 2, "S": 2, "f": 3, "p": 2}
_TOKEN = re.compile(r"%[YmdHIMSfp]|[^%]+")
#: Words of report labels written in capitals.
_ACRONYMS = {"id": "ID", "iso": "ISO"}


def format_epoch_ms(epoch_ms: np.ndarray, pattern: str, null: np.ndarray | None = None) -> pa.Array:
    """int64 epoch milliseconds -> strings of ``pattern`` (fixed-width strftime subset: ``%Y %m %d %H
    %I %M %S %p`` and ``%f`` for three-digit milliseconds; anything else is literal)."""
    ms = np.asarray(epoch_ms, dtype=np.int64)
    days, in_day = np.divmod(ms, _MS_PER_DAY)
    tokens = _TOKEN.findall(pattern)
    width = sum(_WIDTHS[t[1]] if t.startswith("%") else len(t.encode()) for t in tokens)
    chars = np.zeros((len(ms), width), dtype=np.uint8)
    needs_date = any(t in ("%Y", "%m", "%d") for t in tokens)
    year, month, day = civil_from_days(days) if needs_date else (None, None, None)
    secs, millis = np.divmod(in_day, 1000)
    hour = secs // 3600
    values = {
        "%Y": year,
        "%m": month,
        "%d": day,
        "%H": hour,
        "%I": (hour + 11) % 12 + 1,
        "%M": secs // 60 % 60,
        "%S": secs % 60,
        "%f": millis,
    }
    pos = 0
    for t in tokens:
        if t == "%p":
            ampm = np.frombuffer(b"AMPM", dtype=np.uint8).reshape(2, 2)
            chars[:, pos : pos + 2] = ampm[(hour >= 12).astype(np.int64)]
            pos += 2
        elif t.startswith("%"):
            w = _WIDTHS[t[1]]
            digits = values[t]
            assert digits is not None, f"{t} is a date directive, so needs_date computed it"
            _put_digits(chars, digits, pos, w)
            pos += w
        else:
            lit = np.frombuffer(t.encode(), dtype=np.uint8)
            chars[:, pos : pos + len(lit)] = lit
            pos += len(lit)
    return fixed_width_strings(chars, null)


def format_days(epoch_days: np.ndarray, pattern: str, null: np.ndarray | None = None) -> pa.Array:
    """Days since 1970-01-01 -> strings of ``pattern`` (see :func:`format_epoch_ms`)."""
    return format_epoch_ms(np.asarray(epoch_days, dtype=np.int64) * _MS_PER_DAY, pattern, null)


def report_label(api_name: str) -> str:
    """Report-style label that still maps by ``header_key``: ``StageName`` -> ``Stage Name``,
    ``AccountId`` -> ``Account ID``, ``Territory2Id`` -> ``Territory2 ID``; custom fields keep their
    API name (``Segment__c``)."""
    if api_name.endswith("__c"):
        return api_name
    return " ".join(_ACRONYMS.get(w, w.capitalize()) for w in snake_case(api_name).split("_"))


@dataclass(frozen=True)
class Dialect:
    name: str
    header: Callable[[Field], str]
    date: str  # pattern of date fields
    timestamp: str  # pattern of timestamp fields
    true: str = "true"
    false: str = "false"
    bom: bool = False
    crlf: bool = False
    #: Write false IsDeleted as empty (null means not deleted).
    empty_false_deleted: bool = False
    #: Connector tables: no SystemModstamp, plus ``_fivetran_synced`` and ``_fivetran_deleted``.
    connector: bool = False


ISO_TS = "%Y-%m-%dT%H:%M:%S.%f+0000"
DIALECTS: dict[str, Dialect] = {
    "api": Dialect("api", lambda f: f.name, "%Y-%m-%d", ISO_TS, bom=True, empty_false_deleted=True),
    "report": Dialect(
        "report",
        lambda f: report_label(f.name),
        "%m/%d/%Y",
        "%m/%d/%Y %I:%M %p",
        true="TRUE",
        false="FALSE",
        crlf=True,
    ),
    "connector": Dialect(
        "connector", lambda f: f.column, "%Y-%m-%d 00:00:00", "%Y-%m-%dT%H:%M:%S.%fZ", connector=True
    ),
}
SYNCED_COLUMN = "_fivetran_synced"
DELETED_COLUMN = "_fivetran_deleted"
#: A connector syncs a change this long after it was made.
SYNC_LAG_MS = 5 * 60 * 1000
#: Sync time of rows of objects without a version field: this long after the extract day starts.
SYNC_HOUR_MS = 5 * 3600 * 1000


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}; got {name!r}") from None


def boolean_text(values: np.ndarray, dialect: Dialect, empty_false: bool = False) -> pa.Array:
    """int8 booleans (-1 null) -> the dialect's words; ``empty_false`` writes false as empty."""
    null = (values < 0) | (empty_false & (values == 0))
    words = pa.array([dialect.false, dialect.true], type=pa.string())
    return words.take(pa.array(np.where(values > 0, 1, 0), mask=null))


def synced_ms(
    version_ms: np.ndarray | None, version_null: np.ndarray | None, day_ms: np.ndarray
) -> np.ndarray:
    """``_fivetran_synced`` in epoch ms: version + lag where there is a version, else the extract day's
    sync hour."""
    fallback = day_ms + SYNC_HOUR_MS
    if version_ms is None or version_null is None:
        return fallback
    return np.where(version_null, fallback, version_ms + SYNC_LAG_MS)


def deleted_text(values: np.ndarray | None, n: int, dialect: Dialect) -> pa.Array:
    """``_fivetran_deleted``: the deleted flag as the dialect's words (false where there is none)."""
    flags = np.zeros(n, dtype=np.int8) if values is None else np.where(values > 0, 1, 0).astype(np.int8)
    return pc.cast(boolean_text(flags, dialect), pa.string())
