"""The load of one object's batches: one transaction that replaces the requested partitions.

1. files are discovered, their headers matched to the contract, and read, every value as text, into
   a stage that keeps each record's file and physical line (:mod:`staging`), before the transaction;
2. each value is cast once in SQL (:mod:`casting`): good rows go to raw, each bad cell to
   ``raw._rejects``; rows sharing key and version with different content move from raw to the rejects;
3. rows, rejects and audit of the requested partitions are replaced together, and ``source rows =
   loaded + rejected`` is checked per batch before committing, with source rows counted from the files.

A batch error, or a load ``before_commit`` refuses, keeps its rejects with ``committed = false``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypedDict

import duckdb

from orchestration.contract import LINEAGE_COLUMNS, LOAD_AUDIT_TABLE, RAW_SCHEMA, REJECTS_TABLE, LandingObject
from orchestration.ingestion.batch import BatchError, BatchResult, SourceFile
from orchestration.ingestion.casting import (
    ColumnFormats,
    build_typed,
    cell_rejects_sql,
    connector_overrides,
    detect_formats,
)
from orchestration.ingestion.discovery import parse_date
from orchestration.ingestion.schema import REJECT_COLUMNS, ensure_raw_schema, existing_columns, raw_table
from orchestration.ingestion.staging import Batches, prepare_files, stage_all
from orchestration.ingestion.temp import COUNTS, FILES, RAGGED, TYPED, temp_table, temp_tables
from orchestration.sql import lit, one_row, q

_DUPS = temp_table("_load_duplicates")  # rows of conflicting duplicates, moved from raw to the rejects
_IN_DATES = "IN (SELECT unnest(CAST($dates AS DATE[])))"


def _move_conflicting_duplicates(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    dates: list[date],
    extras: list[str],
    loaded_at: datetime,
) -> None:
    """Move rows sharing key and version within one batch but differing in content to the rejects.

    Runs on the rows just inserted (all of them are valid); exact repeats are harmless (staging
    dedupes), so groups are compared by a hash of their content. Conflicts are rare: the delete is small.
    """
    keys = [obj.field(k).column for k in obj.key]
    version = [obj.field(obj.version_field).column] if obj.version_field else []
    group = ["_extract_date", *keys, *version]
    content = [c for c in obj.columns if c not in keys] + extras
    row_hash = "hash(" + ", ".join(q(c) for c in content) + ")" if content else "0"
    key_value = " || ',' || ".join(f"coalesce(CAST(t.{q(c)} AS VARCHAR), '')" for c in keys)
    match = " AND ".join(f"t.{q(c)} IS NOT DISTINCT FROM c.{q(c)}" for c in group)
    what = f"the same {obj.version_field}" if obj.version_field else "no version field to pick one"
    reason = f"duplicate {', '.join(obj.key)} in this batch with different content and {what}"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_DUPS} AS
            WITH conflicts AS (
                SELECT {", ".join(q(c) for c in group)} FROM {raw_table(obj)} WHERE _extract_date {_IN_DATES}
                GROUP BY ALL HAVING min({row_hash}) <> max({row_hash})
            )
            SELECT t._extract_date, t._source_file, t._source_line, {key_value} AS key_value
            FROM {raw_table(obj)} AS t SEMI JOIN conflicts AS c ON {match}
            WHERE t._extract_date {_IN_DATES}""",
        {"dates": dates},
    )
    if not one_row(con, f"SELECT count(*) FROM {_DUPS}")[0]:
        return
    con.execute(
        f"""INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE} ({REJECT_COLUMNS})
            SELECT $object, _extract_date, _source_file, _source_line, {lit(",".join(keys))}, key_value,
                   {lit(reason)}, $loaded_at
            FROM {_DUPS} ORDER BY _source_file, _source_line""",
        {"object": obj.name, "loaded_at": loaded_at},
    )
    con.execute(
        f"""DELETE FROM {raw_table(obj)} AS t USING {_DUPS} AS d
            WHERE t._extract_date = d._extract_date AND t._source_file = d._source_file
              AND t._source_line = d._source_line"""
    )


def _add_raw_extras(con: duckdb.DuckDBPyConnection, obj: LandingObject, extras: list[str]) -> None:
    existing = set(existing_columns(con, obj.table))
    for c in extras:
        if c not in existing:
            con.execute(f"ALTER TABLE {raw_table(obj)} ADD COLUMN {q(c)} VARCHAR")


def _replace_partitions(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    dates: list[date],
    extras: list[str],
    loaded_at: datetime,
    fmts: ColumnFormats,
    check_nul: bool,
) -> None:
    """Delete the partitions; cast the stage once; good rows to raw, bad cells to the rejects;
    finally move conflicting duplicates from raw to the rejects."""
    con.execute(f"DELETE FROM {raw_table(obj)} WHERE _extract_date {_IN_DATES}", {"dates": dates})
    for table in (REJECTS_TABLE, LOAD_AUDIT_TABLE):
        con.execute(
            f"DELETE FROM {RAW_SCHEMA}.{table} WHERE object = $object AND extract_date {_IN_DATES}",
            {"dates": dates, "object": obj.name},
        )
    build_typed(con, obj, extras, fmts, check_nul=check_nul)
    data_cols = ", ".join(q(c) for c in [*obj.columns, *extras])
    target = ", ".join(q(c) for c in [*obj.columns, *extras, *LINEAGE_COLUMNS])
    con.execute(
        f"""INSERT INTO {raw_table(obj)} ({target})
            SELECT {data_cols}, _extract_date, _rel, _line, $loaded_at FROM {TYPED} WHERE _ok""",
        {"loaded_at": loaded_at},
    )
    con.execute(
        f"""INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE} ({REJECT_COLUMNS})
            SELECT $object, r.*, $loaded_at FROM ({cell_rejects_sql(obj, fmts, extras)}) AS r
            ORDER BY 2, 3, 4""",
        {"object": obj.name, "loaded_at": loaded_at},
    )
    # Ragged CSV rows and broken JSON lines: the whole row is rejected (no column), its first line the value.
    con.execute(
        f"""INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE} ({REJECT_COLUMNS})
            SELECT $object, f.extract_date, f.rel, r._line, NULL, r.first_line,
                   coalesce(r.reason, 'row has ' || r.n_fields || ' field'
                            || CASE WHEN r.n_fields = 1 THEN '' ELSE 's' END
                            || ', header has ' || r.n_headers),
                   $loaded_at
            FROM {RAGGED} AS r JOIN {FILES} AS f ON f.file_id = r._file_id ORDER BY 2, 3, 4""",
        {"object": obj.name, "loaded_at": loaded_at},
    )
    _move_conflicting_duplicates(con, obj, dates, extras, loaded_at)


class _Shape(TypedDict):
    missing_columns: tuple[str, ...]
    extra_columns: tuple[str, ...]
    column_formats: dict[str, str]


def _batch_shape(
    obj: LandingObject, files: Sequence[SourceFile], extras: Sequence[str], fmts: ColumnFormats
) -> _Shape:
    """Missing and extra columns and the detected date formats of one batch's files."""
    read = [f for f in files if not f.empty]
    seen = {t for f in read for t in f.targets}
    filled = {obj.field(k).column: obj.field(fb).column for k, fb in obj.key_fallbacks}
    stand_in = connector_overrides(obj, extras)  # a connector's columns stand in for these

    def absent(column: str, f: SourceFile) -> bool:
        return column not in f.targets and filled.get(column) not in f.targets and column not in stand_in

    missing = [fl.column for fl in obj.fields if read and any(absent(fl.column, f) for f in read)]
    labels: dict[str, str] = {}
    for column, by_file in fmts.items():
        used = sorted({by_file[f.file_id].label for f in read if f.file_id in by_file})
        if used:
            labels[column] = " / ".join(used)
    return {
        "missing_columns": tuple(missing),
        "extra_columns": tuple(c for c in extras if c in seen),
        "column_formats": labels,
    }


def _count_by_date(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> dict[date, int]:
    return {d: n for d, n in con.execute(sql, params).fetchall()}


def _audit(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    batches: Batches,
    loaded_at: datetime,
    extras: Sequence[str],
    fmts: ColumnFormats,
    signatures: Mapping[date, str | None],
) -> list[BatchResult]:
    """Count rows three independent ways, check they add up, and record one audit row per batch."""
    dates = list(batches)
    # Source rows from the files themselves (line-level read, Parquet metadata), not from the stage.
    source = _count_by_date(
        con,
        f"""SELECT f.extract_date, sum(c.source_rows)
            FROM {COUNTS} AS c JOIN {FILES} AS f ON f.file_id = c.file_id GROUP BY 1""",
    )
    rejected = _count_by_date(
        con,
        f"""SELECT extract_date, count(DISTINCT (source_file, source_line))
            FROM {RAW_SCHEMA}.{REJECTS_TABLE}
            WHERE object = $object AND extract_date {_IN_DATES} AND committed IS NOT FALSE
            GROUP BY 1""",
        {"object": obj.name, "dates": dates},
    )
    loaded = _count_by_date(
        con,
        f"SELECT _extract_date, count(*) FROM {raw_table(obj)} WHERE _extract_date {_IN_DATES} GROUP BY 1",
        {"dates": dates},
    )
    results = []
    for d, (found, files, skipped) in batches.items():
        result = BatchResult(
            object=obj.name,
            extract_date=d,
            files=tuple(f.rel for f in files),
            source_rows=source.get(d, 0),
            loaded_rows=loaded.get(d, 0),
            rejected_rows=rejected.get(d, 0),
            found=found,
            **_batch_shape(obj, files, extras, fmts),
            skipped_files=tuple(skipped),
            notes=tuple(f"{f.rel}: {f.note}" for f in files if f.note),
        )
        if result.source_rows != result.loaded_rows + result.rejected_rows:
            raise RuntimeError(
                f"{obj.name} {d}: {result.source_rows} source rows but {result.loaded_rows} loaded "
                f"+ {result.rejected_rows} rejected; nothing was loaded (loader bug, please report)"
            )
        results.append(result)
    if results:  # a call for no extract date (an optional object never landed) audits nothing
        # One statement for every batch (a row per statement took 5 s of a year's backfill at S).
        con.execute(
            f"""INSERT INTO {RAW_SCHEMA}.{LOAD_AUDIT_TABLE}
                SELECT $object, unnest($dates), unnest($files), unnest($source), unnest($loaded),
                       unnest($rejected), $loaded_at, unnest($signatures)""",
            {
                "object": obj.name,
                "dates": [r.extract_date for r in results],
                "files": [len(r.files) for r in results],
                "source": [r.source_rows for r in results],
                "loaded": [r.loaded_rows for r in results],
                "rejected": [r.rejected_rows for r in results],
                "loaded_at": loaded_at,
                "signatures": [signatures.get(r.extract_date) for r in results],
            },
        )
    return results


def _locate(exc: BatchError, landing_dir: Path) -> None:
    """Fill in the file and extract date of a batch error whose message starts with the file's path
    (``<landing>/<Object>/<YYYY-MM-DD>/<file>: ...``), so the error is recorded against its batch."""
    if exc.file is not None:
        return
    path = Path(str(exc).split(": ", 1)[0])
    try:
        rel = path.relative_to(landing_dir)
    except ValueError:
        return
    if len(rel.parts) >= 3 and (day := parse_date(rel.parts[1])) is not None:
        exc.file, exc.extract_date = rel.as_posix(), day


def _keep_refused_rejects(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, dates: list[date], rows: list[tuple]
) -> None:
    """Write the rejects of a refused load (``committed = false``) after its rollback, replacing the
    refused rejects an earlier attempt left for the same dates."""
    con.begin()
    try:
        ensure_raw_schema(con)
        con.execute(
            f"""DELETE FROM {RAW_SCHEMA}.{REJECTS_TABLE}
                WHERE object = $object AND extract_date {_IN_DATES} AND committed = false""",
            {"object": obj.name, "dates": dates},
        )
        if rows:
            con.executemany(
                f"INSERT INTO {RAW_SCHEMA}.{REJECTS_TABLE} ({REJECT_COLUMNS}, committed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, false)",
                rows,
            )
        con.commit()
    except BaseException:
        con.rollback()
        raise


#: Most rejects of a refused load kept after its rollback (each one a row in ``raw._rejects``).
MAX_REFUSED_REJECTS = 100_000


def load_batches(
    con: duckdb.DuckDBPyConnection,
    obj: LandingObject,
    landing_dir: Path,
    extract_dates: Sequence[date],
    *,
    date_formats: Mapping[str, str] | None = None,
    before_commit: Callable[[duckdb.DuckDBPyConnection], bool] | None = None,
    signatures: Mapping[date, str | None] | None = None,
) -> list[BatchResult]:
    """Load the batches of ``obj`` for ``extract_dates`` and replace those partitions, in one transaction.

    ``before_commit(con)`` runs inside the transaction once the rows are in place (it sees them); when it
    returns False the whole load is rolled back, so the raw table keeps what it had: a batch that fails a
    blocking landing check never reaches raw, and no later run can build on it. Its rejects are then
    kept in ``raw._rejects`` with ``committed = false`` (so are batch errors), so a refused load still
    shows why.

    A missing folder is a batch with ``found=False`` and no rows (its partition is emptied, so the raw
    table mirrors the landing folder). Date and timestamp formats are detected per file and column;
    ``date_formats`` settles US/day-first ambiguity: field API name (or ``"*"`` for every field) ->
    ``MDY``, ``DMY`` or a strptime pattern. Raises :class:`BatchError` when a batch is wrong as a
    whole; then nothing of this call is loaded. Returns one result per date, in date order.
    ``signatures`` (extract date -> landing signature, :mod:`orchestration.ingestion.signature`) are
    recorded in the audit, so a later run can tell an unchanged batch.
    """
    landing_dir = Path(landing_dir).absolute()
    dates = sorted(set(extract_dates))
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    time_zone = one_row(con, "SELECT current_setting('TimeZone')")[0]
    con.execute("SET TimeZone = 'UTC'")  # naive timestamps are UTC; offsets convert to UTC
    try:
        with temp_tables(con), tempfile.TemporaryDirectory(prefix="sales-wh-load-") as scratch:
            # Files are read into temp tables before the transaction: a failed read (the strict CSV read of
            # a group with ragged rows) must leave the connection usable for the next read.
            try:
                batches, files = prepare_files(con, obj, landing_dir, dates, Path(scratch))
                extras = stage_all(con, obj, files)
                fmts = detect_formats(con, obj, files, date_formats or {})
            except BatchError as exc:
                _locate(exc, landing_dir)
                row = (
                    obj.name,
                    exc.extract_date,
                    exc.file,
                    None,
                    exc.column,
                    None,
                    str(exc)[:4000],
                    loaded_at,
                )
                _keep_refused_rejects(con, obj, dates, [row] if exc.extract_date else [])
                raise
            con.begin()
            try:
                ensure_raw_schema(con)
                _add_raw_extras(con, obj, extras)
                check_nul = any(f.may_hold_nul for f in files)
                _replace_partitions(con, obj, dates, extras, loaded_at, fmts, check_nul)
                results = _audit(con, obj, batches, loaded_at, extras, fmts, signatures or {})
                accepted = before_commit is None or before_commit(con)
                refused = []
                if not accepted:
                    refused = con.execute(
                        f"""SELECT {REJECT_COLUMNS} FROM {RAW_SCHEMA}.{REJECTS_TABLE}
                            WHERE object = $object AND extract_date {_IN_DATES}
                            ORDER BY extract_date, source_file, source_line LIMIT {MAX_REFUSED_REJECTS}""",
                        {"object": obj.name, "dates": dates},
                    ).fetchall()
            except BaseException:
                con.rollback()
                raise
            if accepted:
                con.commit()
            else:
                con.rollback()
                _keep_refused_rejects(con, obj, dates, refused)
                results = [replace(r, committed=False) for r in results]
    finally:
        con.execute("SET TimeZone = ?", [time_zone])
    return results
