"""Fast text rendering of fixed-width values (Ids, timestamps) straight into Arrow string buffers.

``pc.strftime`` costs about 1.5-2.5 µs per value, which made timestamps the bulk of the writer's time
at scale M. Here the characters are assembled with numpy lookups into fixed-width records and the
buffer is wrapped as an Arrow string array without copying: about 35 times faster, same bytes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_MS_PER_DAY = 86_400_000


def fixed_width_strings(chars: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """``(n, width)`` uint8 matrix of ASCII characters -> Arrow string array (``null``: null rows)."""
    n, width = chars.shape
    data = pa.py_buffer(np.ascontiguousarray(chars).reshape(-1))
    offset_type, np_type = (pa.string(), np.int32) if n * width < 2**31 else (pa.large_string(), np.int64)
    offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np_type))
    validity, nulls = None, 0
    if null is not None and null.any():
        validity = pa.py_buffer(np.packbits(~null, bitorder="little"))
        nulls = int(null.sum())
    arr = pa.Array.from_buffers(offset_type, n, [validity, offsets, data], null_count=nulls)
    return arr  # large_string only past 2 GB of text; the writer's chunks stay far below


def _digit_table(width: int) -> np.ndarray:
    """``(10**width, width)`` characters of every number of ``width`` digits, zero-padded."""
    values = np.arange(10**width)
    return np.stack([_DIGITS[values // 10**p % 10] for p in range(width - 1, -1, -1)], axis=1)


_TABLES = {w: _digit_table(w) for w in (1, 2, 3)}


def _put_digits(chars: np.ndarray, values: np.ndarray, start: int, width: int) -> None:
    """Write ``values`` zero-padded into columns ``start`` .. ``start + width`` of ``chars``."""
    first = width - 3 * ((width - 1) // 3)  # 1 to 3 digits, then groups of three: one lookup each
    for size in [first] + [3] * ((width - 1) // 3):
        width -= size
        high, values = np.divmod(values, 10**width)
        chars[:, start : start + size] = _TABLES[size][high]
        start += size


def civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days since 1970-01-01 -> (year, month, day) of the proleptic Gregorian calendar.

    Howard Hinnant's ``civil_from_days``; integer arithmetic only, so it vectorises.
    """
    z = days.astype(np.int64) + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


def _date_chars(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` characters of days since 1970-01-01."""
    year, month, day = civil_from_days(days)
    chars = np.tile(np.frombuffer(b"0000-00-00", dtype=np.uint8), (len(days), 1))
    for start, width, values in ((0, 4, year), (5, 2, month), (8, 2, day)):
        _put_digits(chars, values, start, width)
    return chars


def _clock_chars() -> np.ndarray:
    """``HH:MM:SS`` characters of every second of a day."""
    secs = np.arange(86_400)
    chars = np.tile(np.frombuffer(b"00:00:00", dtype=np.uint8), (len(secs), 1))
    for start, values in ((0, secs // 3600), (3, secs // 60 % 60), (6, secs % 60)):
        _put_digits(chars, values, start, 2)
    return chars


def void_items(chars: np.ndarray) -> np.ndarray:
    """``(n, w)`` characters as ``n`` opaque w-byte items: ``np.take`` copies those ten times faster."""
    return np.ascontiguousarray(chars).view(f"V{chars.shape[1]}").ravel()


_CLOCK = void_items(_clock_chars())
_MILLIS = void_items(_TABLES[3])
#: One rendered timestamp as a record of its parts.
_TS_LAYOUT = np.dtype(
    [("date", "V10"), ("t", "S1"), ("clock", "V8"), ("dot", "S1"), ("ms", "V3"), ("tz", "S5")]
)


def format_timestamps(epoch_ms: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """int64 epoch milliseconds -> ``2025-01-22T16:14:25.000+0000`` strings (years 0..9999).

    A batch spans few distinct days, so dates are rendered once per day and the time of day comes
    from a table of all 86,400 seconds: three lookups per value.
    """
    ms = np.asarray(epoch_ms, dtype=np.int64)
    days, in_day = np.divmod(ms, _MS_PER_DAY)
    secs, millis = np.divmod(in_day, 1000)
    out = np.empty(len(ms), dtype=_TS_LAYOUT)
    if len(ms):
        first = int(days.min())
        span = int(days.max()) - first + 1
        if span <= len(ms):
            out["date"] = np.take(void_items(_date_chars(np.arange(first, first + span))), days - first)
        else:
            out["date"] = void_items(_date_chars(days))
    out["t"], out["dot"], out["tz"] = b"T", b".", b"+0000"
    out["clock"] = np.take(_CLOCK, secs)
    out["ms"] = np.take(_MILLIS, millis)
    return fixed_width_strings(out.view(np.uint8).reshape(len(ms), _TS_LAYOUT.itemsize), null)
