"""Writes an object's rows as daily extract folders: ``<out>/<Object>/<YYYY-MM-DD>/part-0.<ext>``.

The rows are ordered once by (extract day, version) as a permutation, then converted to Arrow a chunk
of consecutive days at a time (vectorised, about a million rows per chunk, so memory stays bounded at
scale L) and each day's slice of the converted chunk is written as one file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import cast

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from orchestration.contract import OBJECTS, Field, LandingObject

from .calendar import Calendar, to_epoch_ms
from .dialects import (
    DELETED_COLUMN,
    SYNCED_COLUMN,
    Dialect,
    boolean_text,
    deleted_text,
    format_days,
    format_epoch_ms,
    synced_ms,
)
from .dirt import Parts, day_of, take_rows, version_of
from .frame import Cat, Frame
from .ids import RESERVED_COUNTER, format_ids, id_codes
from .text import format_timestamps

FORMATS = ("csv", "parquet", "jsonl")
HEADER_STYLES = ("api", "snake")
#: Rows converted to Arrow at a time (whole extract days, so a chunk may hold a little more).
CHUNK_ROWS = 1_000_000

#: Contract fields the demo does not simulate. They are left out of its files (every field but the key is
#: optional), so the demo's files and KPIs stay what they were before these fields joined the contract.
UNWRITTEN_FIELDS: dict[str, tuple[str, ...]] = {
    "Event": ("EventSubtype",),
    "ForecastingQuota": ("ForecastingTypeId",),
}


def written_fields(obj: LandingObject) -> tuple[Field, ...]:
    """The contract fields the demo writes for ``obj``, in contract order."""
    skip = UNWRITTEN_FIELDS.get(obj.name, ())
    return tuple(f for f in obj.fields if f.name not in skip)


#: Malformed rows behind --malformed: per object, the field and the bad value (None: left empty). Each
#: malformed row is a copy of a real row with a fresh Id and exactly one bad cell.
MALFORMED = {
    "Account": (("AnnualRevenue", "abc"), ("Name", None), ("CreatedDate", "2025-13-45T10:00:00.000+0000")),
    "Opportunity": (("CloseDate", "2025-13-45"), ("Amount", "abc"), ("StageName", None)),
    "Lead": (("CreatedDate", "2025-13-45T25:61:00.000+0000"), ("Status", None), ("IsConverted", "maybe")),
    "Task": (("ActivityDate", "2025-13-45"), ("CallDurationInSeconds", "abc"), ("OwnerId", None)),
    "Event": (
        ("StartDateTime", "2025-13-45T09:00:00.000+0000"),
        ("DurationInMinutes", "abc"),
        ("OwnerId", None),
    ),
}


@dataclass
class WriteResult:
    rows: int = 0
    files: int = 0
    malformed: int = 0
    days: list[int] = field(default_factory=list)


def _column(frame: Frame, name: str, ftype: str, cal: Calendar, as_text: bool) -> pa.Array:
    v = frame.cols[name]
    if isinstance(v, Cat):
        return v.to_arrow()
    if ftype == "id":
        return format_ids(v)
    if ftype == "boolean":
        arr = pa.array(v == 1, mask=v < 0)
        return arr.cast(pa.string()) if as_text else arr
    null = np.isnan(v)
    if ftype == "timestamp":  # text: 2025-01-22T16:14:25.000+0000
        ms = to_epoch_ms(cal, v)
        return (
            format_timestamps(ms, null) if as_text else pa.array(ms, pa.timestamp("ms", tz="UTC"), mask=null)
        )
    if ftype == "date":
        days = (np.floor(np.nan_to_num(v)) + cal.start_epoch_day).astype(np.int32)
        arr = pa.array(days, type=pa.date32(), mask=null)
        return arr.cast(pa.string()) if as_text else arr
    if ftype == "integer":
        arr = pa.array(np.nan_to_num(v).astype(np.int64), mask=null)
    elif ftype == "amount":
        arr = pa.array(np.round(np.nan_to_num(v), 2), mask=null).cast(pa.decimal128(18, 2))
    else:
        arr = pa.array(v, mask=null)
    return arr.cast(pa.string()) if as_text else arr


def to_table(frame: Frame, cal: Calendar, fmt: str, header: str) -> pa.Table:
    """Contract columns in contract order; CSV is all text, JSONL has text dates and timestamps."""
    arrays, names = [], []
    for f in written_fields(frame.obj):
        as_text = fmt == "csv" or (fmt == "jsonl" and f.type in ("timestamp", "date"))
        arrays.append(_column(frame, f.name, f.type, cal, as_text))
        names.append(f.name if header == "api" else f.column)
    return pa.table(arrays, names=names)


def _dialect_column(frame: Frame, f: Field, cal: Calendar, dialect: Dialect) -> pa.Array:
    # Only string fields hold a Cat, and those fall through to _column.
    v = cast(np.ndarray, frame.cols[f.name])
    if f.type == "boolean":
        return boolean_text(v, dialect, dialect.empty_false_deleted and f.name == "IsDeleted")
    if f.type == "timestamp":
        return format_epoch_ms(to_epoch_ms(cal, v), dialect.timestamp, np.isnan(v))
    if f.type == "date":
        days = np.floor(np.nan_to_num(v)).astype(np.int64) + cal.start_epoch_day
        return format_days(days, dialect.date, np.isnan(v))
    return _column(frame, f.name, f.type, cal, as_text=True)


def dialect_table(frame: Frame, cal: Calendar, dialect: Dialect) -> pa.Table:
    """The rows as an export of ``dialect`` writes them (CSV text, the dialect's headers)."""
    fields = [f for f in written_fields(frame.obj) if not (dialect.connector and f.name == "SystemModstamp")]
    arrays = [_dialect_column(frame, f, cal, dialect) for f in fields]
    names = [dialect.header(f) for f in fields]
    if dialect.connector:
        n = len(frame)
        day_ms = (frame.day + cal.start_epoch_day).astype(np.int64) * 86_400_000
        vf = frame.obj.version_field
        version = cast(np.ndarray, frame.cols[vf]) if vf else None  # a timestamp field: float64 days
        synced = synced_ms(
            None if version is None else to_epoch_ms(cal, version),
            None if version is None else np.isnan(version),
            day_ms,
        )
        deleted = cast(np.ndarray | None, frame.cols.get("IsDeleted"))  # a boolean field: int8
        arrays += [format_epoch_ms(synced, dialect.timestamp), deleted_text(deleted, n, dialect)]
        names += [SYNCED_COLUMN, DELETED_COLUMN]
    return pa.table(arrays, names=names)


def _malformed_rows(
    table: pa.Table,
    obj: LandingObject,
    header: str,
    count: int,
    first_counter: int,
    dialect: Dialect | None = None,
) -> pa.Table:
    specs = MALFORMED[obj.name]
    base = table.slice(0, 1).to_pylist()[0]
    rows = []
    key = {
        f.name: (dialect.header(f) if dialect else f.name if header == "api" else f.column)
        for f in obj.fields
    }
    ids = format_ids(id_codes(obj.name, RESERVED_COUNTER + first_counter + np.arange(count))).to_pylist()
    for i in range(count):  # a handful of made-up rows, not data rows
        field_name, bad = specs[(first_counter + i) % len(specs)]
        rows.append({**base, key["Id"]: ids[i], key[field_name]: bad})
    return pa.Table.from_pylist(rows, schema=table.schema)


def _write(
    table: pa.Table, path: Path, fmt: str, crlf: bool, bom: bool, con: duckdb.DuckDBPyConnection
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
    elif fmt == "jsonl":
        con.register("batch", table)
        con.execute(f"COPY batch TO '{path.as_posix()}' (FORMAT json)")
        con.unregister("batch")
    else:
        with open(path, "wb") as fh:
            if bom:
                fh.write(b"\xef\xbb\xbf")
            pcsv.write_csv(table, fh, pcsv.WriteOptions(eol="\r\n" if crlf else "\n"))


@dataclass
class BatchStyle:
    """Format and header style per (object, extract day); 'mixed' varies them across batches."""

    fmt: str
    header_style: str
    seed: int

    def choose(
        self, obj: LandingObject, days: np.ndarray, stream: int = 1000
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Format, header style and CSV quirks of each batch; ``stream`` names the random stream (the
        header-only files of days without rows draw from their own, so the other batches keep theirs)."""
        rng = np.random.default_rng([self.seed, stream + [o.name for o in OBJECTS].index(obj.name)])
        n = len(days)
        fmt = rng.integers(0, 3, n) if self.fmt == "mixed" else np.full(n, FORMATS.index(self.fmt))
        hdr = (
            rng.integers(0, 2, n)
            if self.header_style == "mixed"
            else np.full(n, HEADER_STYLES.index(self.header_style))
        )
        quirks = rng.integers(0, 4, n) if self.fmt == "mixed" else np.zeros(n, np.int64)  # 1: CRLF, 2: BOM
        return fmt, hdr, quirks


def _day_chunks(starts: np.ndarray) -> list[tuple[int, int]]:
    """Ranges [lo, hi) of consecutive day indices holding about CHUNK_ROWS rows each."""
    if not len(starts):
        return []
    cuts = np.flatnonzero(np.diff(starts // CHUNK_ROWS)) + 1
    edges = np.concatenate([[0], cuts, [len(starts)]]).tolist()
    return list(zip(edges[:-1], edges[1:], strict=True))


def _by_day(parts: Parts, n_days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row order by (extract day, version) of the rows inside the calendar, and per extract day with
    rows: the day, its first and its end position in that order. Only index arrays: rows stay put."""
    day = day_of(parts)
    keep = np.flatnonzero(day < n_days)
    version = np.nan_to_num(version_of(parts)[keep], nan=0.0)
    order = keep[np.lexsort((version, day[keep]))]
    sorted_day = day[order]
    starts = np.flatnonzero(np.diff(sorted_day, prepend=sorted_day[:1] - 1))
    return order, sorted_day[starts], starts, np.append(starts[1:], len(order))


def write_parts(
    parts: Parts,
    out: Path,
    cal: Calendar,
    style: BatchStyle,
    malformed_rows: int,
    rng: np.random.Generator,
    con: duckdb.DuckDBPyConnection,
    dialect: Dialect | None = None,
    every_day: bool = False,
) -> WriteResult:
    """Write the rows of one object (extract days inside the calendar) a file per extract day; with a
    ``dialect``, as CSV in that export's shape (``style`` then only seeds the malformed rows).

    ``every_day``: a daily incremental extract exists on every extract date, also when nothing changed;
    days without rows get a file without rows (CSV: the header line only; Parquet: the schema; JSON
    Lines: empty). They come after the files with rows and draw from their own random stream, so those
    are the same with or without them."""
    obj = parts[0].obj
    order, days, starts, ends = _by_day(parts, cal.days)
    fmt, hdr, quirks = style.choose(obj, days)

    # Malformed rows go to CSV batches only, spread over a few of them.
    plan = np.zeros(len(days), np.int64)
    csv_batches = np.flatnonzero(fmt == 0)
    if malformed_rows and obj.name in MALFORMED and len(csv_batches):
        targets = rng.choice(csv_batches, size=malformed_rows, replace=True)
        plan = np.bincount(targets, minlength=len(days))

    snake = [f.column for f in written_fields(obj)]
    result = WriteResult()
    made = 0
    for lo, hi in _day_chunks(starts):
        chunk = take_rows(parts, order[starts[lo] : ends[hi - 1]])
        tables: dict[str, pa.Table] = {}  # the chunk converted once per format used in it
        for i in range(lo, hi):  # one slice of the converted chunk per extract day
            f, h = FORMATS[fmt[i]], HEADER_STYLES[hdr[i]]
            if f not in tables:
                tables[f] = dialect_table(chunk, cal, dialect) if dialect else to_table(chunk, cal, f, "api")
            n = int(ends[i] - starts[i])
            table = tables[f].slice(int(starts[i] - starts[lo]), n)
            if h == "snake" and not dialect:
                table = table.rename_columns(snake)
            if plan[i]:
                bad = _malformed_rows(table, obj, h, int(plan[i]), made, dialect)
                table = pa.concat_tables([table, bad])
                # Malformed rows sit at random places among the good ones.
                place = np.concatenate([np.arange(n), rng.uniform(0, n, int(plan[i]))])
                table = table.take(pa.array(np.argsort(place, kind="stable")))
                made += int(plan[i])
            folder = out / obj.name / (cal.start + timedelta(days=int(days[i]))).isoformat()
            crlf, bom = (dialect.crlf, dialect.bom) if dialect else (quirks[i] == 1, quirks[i] == 2)
            _write(table, folder / f"part-0.{f}", f, crlf, bom, con)
            result.rows += table.num_rows
            result.files += 1
        del chunk, tables
    if every_day:
        empty_days = np.setdiff1d(np.arange(cal.days), days)
        _write_empty_days(parts, out, cal, style, con, dialect, empty_days, result)
    result.malformed = made
    result.days = days.tolist()
    return result


def _write_empty_days(
    parts: Parts,
    out: Path,
    cal: Calendar,
    style: BatchStyle,
    con: duckdb.DuckDBPyConnection,
    dialect: Dialect | None,
    empty_days: np.ndarray,
    result: WriteResult,
) -> None:
    """A file without rows for each of ``empty_days``, in the batch style of the object's other files."""
    if not len(empty_days):
        return
    obj = parts[0].obj
    fmt, hdr, quirks = style.choose(obj, empty_days, stream=3000)
    none = take_rows(parts, np.zeros(0, np.int64))
    snake = [f.column for f in written_fields(obj)]
    tables: dict[str, pa.Table] = {}
    for i, day in enumerate(empty_days.tolist()):
        f, h = FORMATS[fmt[i]], HEADER_STYLES[hdr[i]]
        if f not in tables:
            tables[f] = dialect_table(none, cal, dialect) if dialect else to_table(none, cal, f, "api")
        table = tables[f].rename_columns(snake) if h == "snake" and not dialect else tables[f]
        folder = out / obj.name / (cal.start + timedelta(days=day)).isoformat()
        crlf, bom = (dialect.crlf, dialect.bom) if dialect else (quirks[i] == 1, quirks[i] == 2)
        _write(table, folder / f"part-0.{f}", f, crlf, bom, con)
        result.files += 1


def write_frame(
    frame: Frame,
    out: Path,
    cal: Calendar,
    style: BatchStyle,
    malformed_rows: int,
    rng: np.random.Generator,
    con: duckdb.DuckDBPyConnection,
    dialect: Dialect | None = None,
) -> WriteResult:
    """:func:`write_parts` of a single frame."""
    return write_parts([frame], out, cal, style, malformed_rows, rng, con, dialect)
