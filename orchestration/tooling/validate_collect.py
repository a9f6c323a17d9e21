"""What ``sales-wh validate`` reads from the landing files and from the in-memory load: each file's
header and how it maps to the contract, the reject reasons with examples, the rows per file."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import duckdb

from orchestration.contract import (
    CONNECTOR_DELETED_COLUMNS,
    CONNECTOR_SYNC_COLUMNS,
    FIELD_KPIS,
    RAW_SCHEMA,
    REJECTS_TABLE,
    LandingObject,
    header_key,
)
from orchestration.tooling.validate_report import HeaderMapping, RejectReason

#: Reject reasons listed per object, and examples per reason.
TOP_REASONS = 10
EXAMPLES = 5


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
