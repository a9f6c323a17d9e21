"""``python -m orchestration.tooling.lake_bench <warehouse.duckdb> <lake dir>``: the numbers behind the
lake decision in docs/DECISIONLOG.md. Exports every raw table of a built warehouse to the lake (timed),
then times staging-shaped queries on the native raw tables and on views over the lake (best of 3).
Opens the warehouse read-only: run it on a copy of a bench warehouse, never on one a run holds."""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb

from orchestration.contract import LOAD_AUDIT_TABLE, OBJECTS, RAW_SCHEMA, REJECTS_TABLE
from orchestration.lake.read import create_lake_view
from orchestration.lake.write import write_all

#: What the staging models do with the biggest raw tables: a full scan with an aggregate, the latest
#: version of each record (``latest_versions``: the whole width, a window per key), and the daily
#: incremental's filter on the newest extract date.
QUERIES: dict[str, str] = {
    "task: count, sum by extract date": (
        "select _extract_date, count(*), sum(call_duration_in_seconds) from {s}.task group by 1"
    ),
    "task: latest version per id": (
        "select count(*), sum(call_duration_in_seconds) from (select *, row_number() over "
        "(partition by id order by system_modstamp desc, _extract_date desc) as rn from {s}.task) "
        "where rn = 1"
    ),
    "opportunity: count, sum(amount) by stage": (
        "select stage_name, count(*), sum(amount) from {s}.opportunity group by 1"
    ),
    "opportunity: latest version per id": (
        "select count(*), sum(amount) from (select *, row_number() over (partition by id order by "
        "system_modstamp desc, _extract_date desc) as rn from {s}.opportunity) where rn = 1"
    ),
    "opportunity: newest extract date only": (
        "select count(*), sum(amount) from {s}.opportunity "
        "where _extract_date = (select max(_extract_date) from {s}.opportunity)"
    ),
}


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def _best(run: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("lake", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    shutil.rmtree(args.lake, ignore_errors=True)
    con = duckdb.connect(str(args.warehouse), read_only=True, config={"threads": args.threads})
    start = time.perf_counter()
    files = write_all(con, OBJECTS, args.lake)
    first = time.perf_counter() - start
    start = time.perf_counter()
    write_all(con, OBJECTS, args.lake)
    again = time.perf_counter() - start
    size = sum(p.stat().st_size for p in args.lake.rglob("*.parquet"))
    print(f"export, empty lake: {first:.1f} s; again, every partition replaced: {again:.1f} s")
    whole = args.warehouse.stat().st_size
    print(f"{files} partition files, {size / 1e6:.0f} MB (the warehouse file: {whole / 1e6:.0f} MB)")
    con.close()
    # Views need a writable catalog: an in-memory one that attaches the warehouse read-only.
    mem = duckdb.connect(config={"threads": args.threads})
    mem.execute(f"ATTACH '{args.warehouse}' AS wh (READ_ONLY)")
    for table in [*(o.table for o in OBJECTS), REJECTS_TABLE, LOAD_AUDIT_TABLE]:
        create_lake_view(mem, args.lake, table, schema="lake")
    print(f"{'query':45} {'native':>8} {'lake':>8}")
    for name, sql in QUERIES.items():
        native, a = _best(partial(_rows, mem, sql.format(s=f"wh.{RAW_SCHEMA}")))
        lake, b = _best(partial(_rows, mem, sql.format(s="lake")))
        same = sorted(map(str, a)) == sorted(map(str, b))  # type: ignore[call-overload]
        print(f"{name:45} {native:7.2f}s {lake:7.2f}s{'' if same else '  DIFFERENT RESULTS'}")


if __name__ == "__main__":
    main()
