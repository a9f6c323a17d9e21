"""Landing batches for the landing-check tests: a good opportunity frame, its raw table, and a runner
that judges a frame with either engine (GX on the frame, SQL on the same rows stored in DuckDB)."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from orchestration.contract import RAW_SCHEMA, LandingObject, get_object
from orchestration.quality.landing import (
    GX_ENGINE,
    SQL_ENGINE,
    ExpectationOutcome,
    validate_landing_frame,
    validate_landing_sql,
)
from orchestration.sql import q

OPP = get_object("Opportunity")
CURRENCIES = {"USD", "EUR"}
EXTRACT_DATE = pd.Timestamp("2025-01-02")
ENGINES = (GX_ENGINE, SQL_ENGINE)


def good_frame() -> pd.DataFrame:
    """Three valid opportunities, including one exact repeat (harmless)."""
    rows = [
        ("006a", "Prospecting", "2025-02-01", "2025-01-02 10:00", "005a", 100.0, "USD", "2025-01-02 10:00"),
        ("006b", "Closed Won", "2025-03-01", "2025-01-02 11:00", "005a", 0.0, "EUR", "2025-01-02 11:00"),
        ("006b", "Closed Won", "2025-03-01", "2025-01-02 11:00", "005a", 0.0, "EUR", "2025-01-02 11:00"),
        ("006c", "Qualification", "2025-04-01", "2025-01-02 12:00", "005b", None, None, "2025-01-02 12:00"),
    ]
    cols = ["id", "stage_name", "close_date", "created_date", "owner_id", "amount", "currency_iso_code"]
    df = pd.DataFrame(rows, columns=[*cols, "system_modstamp"])
    for c in ("close_date", "created_date", "system_modstamp"):
        df[c] = pd.to_datetime(df[c])
    return df


def raw_table_of(con: duckdb.DuckDBPyConnection, df: pd.DataFrame, obj: LandingObject) -> list[date]:
    """Store ``df`` as ``raw.<table>`` with the contract types of its columns (only those, so a missing
    column stays missing) plus ``_extract_date`` (EXTRACT_DATE when ``df`` has none); its dates."""
    df = df if "_extract_date" in df.columns else df.assign(_extract_date=EXTRACT_DATE)
    types = {**obj.columns, "_extract_date": "DATE"}
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    ddl = ", ".join(f"{q(c)} {types[c]}" for c in df.columns)
    con.execute(f"CREATE OR REPLACE TABLE {RAW_SCHEMA}.{q(obj.table)} ({ddl})")
    con.register("frame", df)
    con.execute(f"INSERT INTO {RAW_SCHEMA}.{q(obj.table)} BY NAME SELECT * FROM frame")
    con.unregister("frame")
    return sorted({d.date() for d in df["_extract_date"]}) or [EXTRACT_DATE.date()]


def run(df: pd.DataFrame, obj=OPP, engine: str = GX_ENGINE) -> dict[str, ExpectationOutcome]:
    """GX on the frame itself, or SQL on the frame stored as its raw table."""
    if engine == GX_ENGINE:
        outcomes = validate_landing_frame(df, obj, known_currencies=CURRENCIES)
    else:
        with duckdb.connect() as con:
            dates = raw_table_of(con, df, obj)
            outcomes = validate_landing_sql(con, obj, dates, known_currencies=CURRENCIES)
    assert {o.details["engine"] for o in outcomes} <= {engine}
    return {o.name: o for o in outcomes}


def failed(df: pd.DataFrame, obj=OPP, engine: str = GX_ENGINE) -> set[str]:
    return {name for name, o in run(df, obj, engine).items() if not o.success}


def opportunities(n: int) -> pd.DataFrame:
    """``n`` rows breaking several checks many times: every 7th stage is empty (data, not a failure),
    odd amounts are negative, every currency is unknown."""
    half = n // 2
    return pd.DataFrame(
        {
            "id": [f"006{i % half:03d}" for i in range(n)],
            "stage_name": [None if i % 7 == 0 else "Prospecting" for i in range(n)],
            "close_date": pd.Timestamp("2025-02-01"),
            "created_date": [pd.Timestamp("2025-01-01 08:00") + pd.Timedelta(minutes=i) for i in range(n)],
            "owner_id": "005a",
            "amount": [-float(i) if i % 2 else float(i) for i in range(n)],
            "currency_iso_code": [f"C{i:02d}" for i in range(n)],
            "system_modstamp": pd.Timestamp("2025-01-02 10:00"),
        }
    )


def comparable(outcomes: list[ExpectationOutcome]) -> list[tuple]:
    return [
        (o.name, o.severity, o.success, o.description, {k: v for k, v in o.details.items() if k != "engine"})
        for o in outcomes
    ]
