"""Each file's header, matched to the contract before any row is read.

A missing key column or two headers naming one column refuse the batch; columns outside the contract
are kept as text under a SQL-safe name. A CSV header is the first line that is not blank (after an
Excel ``sep=`` line), read in the file's detected encoding and delimiter (:mod:`.dialect`); a header
whose cells are all empty is refused with ``no header on line N``; a zero-byte file or one of blank
lines only is an empty file with no rows. Parquet columns of a type that cannot hold a contract date
are refused. Files of one format, header and delimiter are grouped so each group is read with one
reader call.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from orchestration.contract import LandingObject, header_key, snake_case
from orchestration.ingestion import dialect
from orchestration.ingestion.batch import BatchError, Group, SourceFile


def sniff_csv_header(f: SourceFile, scratch: Path) -> None:
    """Header, encoding and delimiter of a CSV file (:mod:`.dialect`; first record only).

    A zero-byte file or one of blank lines only is empty; leading blank lines (and an Excel ``sep=``
    line) are skipped, and a first line of empty cells is no header.
    """
    dialect.sniff(f, scratch)


def sniff_parquet_schema(con: duckdb.DuckDBPyConnection, f: SourceFile) -> None:
    try:
        rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [f.src]).fetchall()
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


#: DuckDB types of a Parquet column that can hold a date or timestamp (text is parsed like CSV).
_DATE_TYPES = ("DATE", "TIMESTAMP", "VARCHAR")


def check_parquet_types(con: duckdb.DuckDBPyConnection, obj: LandingObject, f: SourceFile) -> None:
    """Refuse a Parquet file whose date or timestamp column has a type that holds no date (an
    integer ``20250201``, a float, a boolean): every row would be rejected with no clear reason."""
    for header, target, duck_type in zip(f.headers, f.targets, f.types, strict=True):
        fl = next((x for x in obj.fields if x.column == target), None)
        if fl is None or fl.type not in ("date", "timestamp") or duck_type.startswith(_DATE_TYPES):
            continue
        physical = con.execute(
            "SELECT type, logical_type FROM parquet_schema(?) WHERE name = ? LIMIT 1", [f.src, header]
        ).fetchone()
        kind = f"Parquet type {physical[0]}" if physical and physical[0] else "Parquet type"
        raise BatchError(
            f"{f.path}: column {header!r} ({obj.name}.{fl.name}) is of {kind} (DuckDB {duck_type}), which "
            f"cannot hold a {fl.type}; write {header} as a Parquet DATE/TIMESTAMP or as ISO 8601 text "
            "(YYYY-MM-DD)",
            file=f.rel,
            extract_date=f.extract_date,
            column=target,
        )


def group_files(con: duckdb.DuckDBPyConnection, obj: LandingObject, files: list[SourceFile]) -> list[Group]:
    groups: dict[tuple, Group] = {}
    for f in files:
        if f.fmt == "jsonl" or f.empty:
            continue
        targets = map_headers(obj, f)
        if f.fmt == "parquet":
            check_parquet_types(con, obj, f)
        key = (f.fmt, f.headers, f.types, f.delimiter)
        groups.setdefault(key, Group(f.fmt, f.headers, f.types, targets, delimiter=f.delimiter)).files.append(
            f
        )
    return list(groups.values())
