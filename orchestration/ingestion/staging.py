"""From a batch's folders to the stage: list and sniff the files, map their headers, and read each
group of files with its format's reader into ``_load_stage`` (every value as text, with its file and
physical line). Everything here happens before the load's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb

from orchestration.contract import LandingObject
from orchestration.ingestion import dialect
from orchestration.ingestion.batch import SkippedFile, SourceFile
from orchestration.ingestion.casting import is_empty
from orchestration.ingestion.csv_reader import read_csv_group
from orchestration.ingestion.discovery import FORMATS, batch_files
from orchestration.ingestion.headers import group_files, sniff_csv_header, sniff_parquet_schema
from orchestration.ingestion.readers import read_jsonl_files, read_parquet_group
from orchestration.ingestion.temp import COUNTS, FILES, RAGGED, STAGE
from orchestration.sql import q

#: Per extract date: folder found, its data files, the entries skipped.
Batches = dict[date, tuple[bool, list[SourceFile], list[SkippedFile]]]


def prepare_files(
    con: duckdb.DuckDBPyConnection, obj: LandingObject, landing_dir: Path, dates: list[date], scratch: Path
) -> tuple[Batches, list[SourceFile]]:
    """List and sniff the batches' files; ``scratch`` (removed after the load) holds the UTF-8 copies
    and plain-named links DuckDB reads instead of some files (:mod:`.dialect`)."""
    batches: Batches = {}
    all_files: list[SourceFile] = []
    for d in dates:
        found, paths, skipped = batch_files(landing_dir, obj, d)
        files = [
            SourceFile(
                file_id=len(all_files) + i,
                path=p,
                rel=p.relative_to(landing_dir).as_posix(),
                extract_date=d,
                fmt=FORMATS[p.suffix.lower()],
            )
            for i, p in enumerate(paths)
        ]
        all_files.extend(files)
        batches[d] = (found, files, skipped)
    for f in all_files:
        f.scratch = scratch
        if f.fmt == "csv":
            sniff_csv_header(f, scratch)
        dialect.alias(f, scratch)  # a name DuckDB would read as a glob
        if f.fmt == "parquet":
            sniff_parquet_schema(con, f)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {FILES} (
            file_id INTEGER, path VARCHAR, rel VARCHAR, extract_date DATE, n_headers INTEGER, fmt VARCHAR,
            line_base BIGINT, origin VARCHAR)"""
    )
    if all_files:
        con.executemany(
            f"INSERT INTO {FILES} VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
            [
                [f.file_id, f.src, f.rel, f.extract_date, len(f.headers), f.fmt, str(f.path)]
                for f in all_files
            ],
        )
    return batches, all_files


def stage_all(con: duckdb.DuckDBPyConnection, obj: LandingObject, files: list[SourceFile]) -> list[str]:
    """Read every file into ``_load_stage``; returns the extra (non-contract) columns seen, in order."""
    groups = group_files(con, obj, files)
    jsonl = [f for f in files if f.fmt == "jsonl"]
    # Extra columns are known only after reading JSONL keys, so the stage starts with the contract
    # columns and grows by ALTER TABLE; ADD COLUMN on an empty temp table is free.
    cols = ", ".join(f"{q(c)} VARCHAR" for c in obj.columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE} (_file_id INTEGER, _line BIGINT, {cols})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {COUNTS} (file_id INTEGER, source_rows BIGINT)")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {RAGGED} (
            _file_id INTEGER, _line BIGINT, n_fields BIGINT, n_headers INTEGER, first_line VARCHAR,
            reason VARCHAR)"""
    )
    extras: list[str] = []

    def add_extras(targets: Sequence[str]) -> None:
        for t in targets:
            if t not in obj.columns and t not in extras:
                extras.append(t)
                con.execute(f"ALTER TABLE {STAGE} ADD COLUMN {q(t)} VARCHAR")

    for g in groups:
        add_extras(g.targets)
    for g in groups:
        if g.fmt == "csv":
            read_csv_group(con, g)
        else:
            read_parquet_group(con, g)
    if jsonl:
        read_jsonl_files(con, obj, jsonl, add_extras)
    for key, fallback in obj.key_fallbacks:  # e.g. OpportunityStage exported with MasterLabel only
        k, fb = q(obj.field(key).column), q(obj.field(fallback).column)
        con.execute(f"UPDATE {STAGE} SET {k} = {fb} WHERE {is_empty(k)}")
    return extras
