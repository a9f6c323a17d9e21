"""Landing signatures: which batches a run has to load again, on a real DuckDB warehouse."""

import os
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.contract import get_object
from orchestration.ingestion.loader import load_batches
from orchestration.ingestion.schema import ensure_raw_schema
from orchestration.ingestion.signature import batch_signatures, settings_token, unchanged_dates

ACCOUNT = get_object("Account")
DAY1, DAY2, DAY3 = date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)
HEADER = "Id,Name,OwnerId,Industry,Type,BillingCountry,AnnualRevenue,CreatedDate,SystemModstamp,IsDeleted\n"
ROW = (
    "001A{n},Acme {n},005A1,Tech,Customer,US,1000,"
    "2025-01-01T00:00:00.000+0000,2025-01-02T00:00:00.000+0000,false\n"
)
TOKEN = settings_token({}, 0.05)


def _land(landing: Path, day: date, rows: int) -> Path:
    folder = landing / "Account" / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-0.csv"
    path.write_text(HEADER + "".join(ROW.format(n=n) for n in range(rows)), encoding="utf-8")
    return path


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    landing = tmp_path / "landing"
    _land(landing, DAY1, 3)
    _land(landing, DAY2, 2)
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    ensure_raw_schema(con)
    signatures = batch_signatures(landing, ACCOUNT, [DAY1, DAY2, DAY3], TOKEN)
    results = load_batches(con, ACCOUNT, landing, [DAY1, DAY2, DAY3], signatures=signatures)
    assert [r.loaded_rows for r in results] == [3, 2, 0]
    yield con, landing
    con.close()


def _unchanged(con: duckdb.DuckDBPyConnection, landing: Path, token: str = TOKEN) -> set[date]:
    return unchanged_dates(con, ACCOUNT, batch_signatures(landing, ACCOUNT, [DAY1, DAY2, DAY3], token))


def test_nothing_changed(loaded) -> None:
    con, landing = loaded
    assert _unchanged(con, landing) == {DAY1, DAY2, DAY3}  # DAY3: no folder, nothing loaded of it


def test_a_relanded_file_changes_its_batch_only(loaded) -> None:
    con, landing = loaded
    path = landing / "Account" / DAY2.isoformat() / "part-0.csv"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert _unchanged(con, landing) == {DAY1, DAY3}


def test_a_new_file_in_a_batch_or_a_new_batch_changes(loaded) -> None:
    con, landing = loaded
    (landing / "Account" / DAY1.isoformat() / "part-1.csv").write_text(HEADER, encoding="utf-8")
    _land(landing, DAY3, 1)
    assert _unchanged(con, landing) == {DAY2}


def test_a_removed_batch_changes_until_its_empty_load(loaded) -> None:
    con, landing = loaded
    for f in (landing / "Account" / DAY2.isoformat()).iterdir():
        f.unlink()
    (landing / "Account" / DAY2.isoformat()).rmdir()
    assert _unchanged(con, landing) == {DAY1, DAY3}  # raw still holds DAY2's rows: load to empty it
    load_batches(con, ACCOUNT, landing, [DAY2], signatures=batch_signatures(landing, ACCOUNT, [DAY2], TOKEN))
    assert con.execute("select count(*) from raw.account where _extract_date = ?", [DAY2]).fetchone() == (0,)
    assert _unchanged(con, landing) == {DAY1, DAY2, DAY3}


def test_another_setting_changes_every_batch(loaded) -> None:
    con, landing = loaded
    assert _unchanged(con, landing, settings_token({"*": "DMY"}, 0.05)) == {DAY3}
    assert _unchanged(con, landing, settings_token({}, 0.10)) == {DAY3}


def test_a_warehouse_from_before_signatures_reloads(loaded) -> None:
    con, landing = loaded
    con.execute("alter table raw._load_audit drop column landing_signature")
    assert _unchanged(con, landing) == {DAY3}
    ensure_raw_schema(con)  # the column comes back, empty: still reloaded once
    assert _unchanged(con, landing) == {DAY3}


def test_a_refused_load_is_not_a_load(loaded, tmp_path: Path) -> None:
    con, landing = loaded
    path = _land(landing, DAY1, 4)  # a corrected file, refused by a blocking check
    signatures = batch_signatures(landing, ACCOUNT, [DAY1], TOKEN)
    results = load_batches(
        con, ACCOUNT, landing, [DAY1], signatures=signatures, before_commit=lambda c: False
    )
    assert not results[0].committed
    assert path.exists() and _unchanged(con, landing) == {DAY2, DAY3}  # DAY1 is loaded again next time
