"""Each file's header, matched to the contract before any row is read.

A missing key column or two headers naming one column refuse the batch; columns outside the contract
are kept as text under a SQL-safe name. A CSV header must be on line 1 (a real export starts with it):
a file whose first line is blank, or whose header cells are all empty, is refused with ``no header on
line 1``; a zero-byte file or one of blank lines only is an empty file with no rows. Files of one
format and header are grouped so each group is read with one reader call.
"""

from __future__ import annotations

import csv
import re
from typing import TextIO

import duckdb

from orchestration.contract import LandingObject, header_key, snake_case
from orchestration.ingestion.batch import BatchError, Group, SourceFile


def _only_blank(fh: TextIO) -> bool:
    """True when the rest of ``fh`` is whitespace; reads in chunks and stops at the first character."""
    return not any(chunk.strip() for chunk in iter(lambda: fh.read(1 << 16), ""))


def sniff_csv_header(f: SourceFile) -> None:
    """Header of a CSV file with Python's csv module (first record only; handles BOM and quoting).

    A zero-byte file or one of blank lines only is empty; any other file needs its header on line 1.
    """
    if f.path.stat().st_size == 0:
        f.empty = True
        return
    try:
        with f.path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=",", quotechar='"', doublequote=True, strict=True)
            header = next(reader, None)
            if header and any(h.strip() for h in header):
                f.headers = tuple(header)
                return
            if _only_blank(fh) and not any(h.strip() for h in header or ()):
                f.empty = True
                return
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchError(
            f"{f.path}: unreadable CSV header (UTF-8 CSV expected): {exc}",
            file=f.rel,
            extract_date=f.extract_date,
        ) from exc
    raise BatchError(
        f"{f.path}: no header on line 1 (the first line is blank or its cells are all empty); "
        "a CSV file must start with its header"
    )


def sniff_parquet_schema(con: duckdb.DuckDBPyConnection, f: SourceFile) -> None:
    try:
        rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(f.path)]).fetchall()
    except duckdb.Error as exc:
        raise BatchError(
            f"{f.path}: unreadable Parquet file: {exc}", file=f.rel, extract_date=f.extract_date
        ) from exc
    f.headers = tuple(r[0] for r in rows)
    f.types = tuple(r[1] for r in rows)


def _extra_column(header: str) -> str:
    """Raw column for a column outside the contract: snake_case of the header, SQL-safe."""
    name = re.sub(r"[^0-9a-z_]+", "_", snake_case(header.strip().lstrip("\ufeff"))).strip("_")
    # Never a leading underscore (lineage and loader columns have one), never DuckDB's rowid.
    return {"": "unnamed", "rowid": "rowid_"}.get(name, name)


def map_headers(obj: LandingObject, f: SourceFile) -> tuple[str, ...]:
    """Raw column of each header of ``f``; raises BatchError on a missing required or doubled column."""
    by_key = {header_key(fl.name): fl for fl in obj.fields}
    # Report exports label the key "<Object> ID" ("Opportunity ID"); in another object's file the same
    # label is a lookup field of that object (OpportunityHistory.OpportunityId) and keeps that meaning.
    by_key.setdefault(header_key(obj.name + "Id"), obj.field(obj.key[0]))
    targets: list[str] = []
    seen: dict[str, str] = {}
    for h in f.headers:
        fl = by_key.get(header_key(h))
        target = fl.column if fl else _extra_column(h)
        if target in seen:
            raise BatchError(
                f"{f.path}: columns {seen[target]!r} and {h!r} both map to {target!r}; remove or rename one",
                file=f.rel,
                extract_date=f.extract_date,
                column=h,
            )
        seen[target] = h
        targets.append(target)
    fallbacks = {obj.field(k).column: obj.field(fb).column for k, fb in obj.key_fallbacks}
    missing = [
        fl.name
        for fl in obj.required_fields
        if fl.column not in seen and fallbacks.get(fl.column) not in seen
    ]
    if missing:
        raise BatchError(
            f"{f.path}: key column(s) {', '.join(missing)} missing from the header "
            f"(found: {', '.join(f.headers) or 'none'}); a record cannot be loaded without its key",
            file=f.rel,
            extract_date=f.extract_date,
            column=obj.field(missing[0]).column,
        )
    f.targets = tuple(targets)
    return f.targets


def group_files(obj: LandingObject, files: list[SourceFile]) -> list[Group]:
    groups: dict[tuple, Group] = {}
    for f in files:
        if f.fmt == "jsonl" or f.empty:
            continue
        targets = map_headers(obj, f)
        key = (f.fmt, f.headers, f.types)
        groups.setdefault(key, Group(f.fmt, f.headers, f.types, targets)).files.append(f)
    return list(groups.values())
