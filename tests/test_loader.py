"""Loader tests on tiny hand-written landing files; every expected value is worked out by hand."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.contract import OBJECTS, get_object
from orchestration.ingestion.loader import (
    BatchError,
    BatchResult,
    ensure_raw_schema,
    list_extract_dates,
    load_batches,
)
from orchestration.warehouse import connect_warehouse

OPP = get_object("Opportunity")
ROLE = get_object("UserRole")
D2 = date(2025, 1, 2)
D3 = date(2025, 1, 3)
OPP_HEADER = "Id,StageName,CloseDate,CreatedDate,OwnerId,Amount,SystemModstamp"
ISO_LABEL = "ISO 8601 (YYYY-MM-DD)"


def write(root: Path, obj: str, day: date, name: str, text: str) -> Path:
    path = root / obj / day.isoformat() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def opp_row(i: int, *, stage: str = "Prospecting", close: str = "2025-02-01", amount: str = "10") -> str:
    return (
        f"006{i:015d},{stage},{close},2025-01-02T10:00:00Z,005000000000000001,{amount},2025-01-02T10:00:00Z"
    )


def rejects(con: duckdb.DuckDBPyConnection, obj: str = "Opportunity") -> set[tuple]:
    return set(
        con.execute(
            "SELECT source_file, source_line, column_name, value, reason FROM raw._rejects WHERE object = ?",
            [obj],
        ).fetchall()
    )


# ------------------------------------------------------------------------------ the fixture batch


def test_fixture_batch_counts(warehouse, fixture_landing):
    (result,) = load_batches(warehouse, OPP, fixture_landing, [D2])
    # api_names.csv: 5 records, lines 4 (Feb 30) and 5 (amount abc) bad; line 6 (empty StageName, not a
    # key) loads. snake_case.csv: 3 records, all load ("yes" is a boolean).
    assert result == BatchResult(
        object="Opportunity",
        extract_date=D2,
        files=("Opportunity/2025-01-02/api_names.csv", "Opportunity/2025-01-02/snake_case.csv"),
        source_rows=8,
        loaded_rows=6,
        rejected_rows=2,
        found=True,
        # Absent from at least one of the two files (snake_case.csv has no amount, no currency).
        missing_columns=(
            "account_id",
            "name",
            "amount",
            "currency_iso_code",
            "probability",
            "is_closed",
            "forecast_category_name",
            "lead_source",
            "type",
            "is_deleted",
            "system_modstamp",
        ),
        extra_columns=("description__c", "lead_source_detail"),
        # system_modstamp has no value in either file, so no format was detected for it.
        column_formats={"close_date": ISO_LABEL, "created_date": ISO_LABEL},
    )
    audit = warehouse.execute(
        "SELECT object, extract_date, source_files, source_rows, loaded_rows, rejected_rows "
        "FROM raw._load_audit"
    ).fetchall()
    assert audit == [("Opportunity", D2, 2, 8, 6, 2)]


def test_rejects_name_file_physical_line_column_value_and_reason(warehouse, fixture_landing):
    load_batches(warehouse, OPP, fixture_landing, [D2])
    api, snake = "Opportunity/2025-01-02/api_names.csv", "Opportunity/2025-01-02/snake_case.csv"
    assert rejects(warehouse) == {
        # Line 4, not 3: the first record spans lines 2-3 (a quoted CRLF inside Description__c). The
        # column's other values are ISO dates, so ISO is its format and Feb 30 is no date in it.
        (api, 4, "close_date", "2025-02-30", f"not a date in this file's format of the column ({ISO_LABEL})"),
        (api, 5, "amount", "abc", "not an amount (a number, at most 16 digits before the decimal point)"),
    }
    # The empty StageName (api line 6) and the "yes" (snake line 4) load: only the key is required,
    # and yes/no are booleans.
    assert not any(r[0] == snake for r in rejects(warehouse))


def test_loaded_rows_are_typed_with_lineage(warehouse, fixture_landing):
    load_batches(warehouse, OPP, fixture_landing, [D2])
    rows = warehouse.execute(
        """SELECT id, stage_name, close_date, created_date, amount, currency_iso_code, is_won,
                  description__c, lead_source_detail, _extract_date, _source_file, _source_line
           FROM raw.opportunity ORDER BY id"""
    ).fetchall()
    api, snake = "Opportunity/2025-01-02/api_names.csv", "Opportunity/2025-01-02/snake_case.csv"
    assert rows == [
        ("006000000000000001", "Prospecting", date(2025, 2, 1), datetime(2025, 1, 2, 10, 0),
         Decimal("1000.50"), "USD", False, "first line\r\nsecond line", None, D2, api, 2),
        # Empty StageName loads as NULL; a naive timestamp is UTC; "1" is true; EUR is kept.
        ("006000000000000004", None, date(2025, 3, 1), datetime(2025, 1, 2, 13, 0),
         Decimal("50.00"), "EUR", True, "quoted, comma", None, D2, api, 6),
        # 14:00+01:00 is 13:00 UTC; doubled quotes unescape; the record starts on physical line 7.
        ("006000000000000005", "Closed Won", date(2025, 3, 15), datetime(2025, 1, 2, 13, 0),
         Decimal("300.00"), "USD", True, 'a "quoted" word', None, D2, api, 7),
        # 08:30-05:00 is 13:30 UTC; snake_case headers; "1" is true; no Amount column -> NULL.
        ("006000000000000006", "Prospecting", date(2025, 4, 1), datetime(2025, 1, 2, 13, 30), None,
         None, True, None, "Partner", D2, snake, 2),
        # A date-only timestamp is midnight UTC; "0" is false.
        ("006000000000000007", "Needs Analysis", date(2025, 4, 2), datetime(2025, 1, 2, 0, 0), None,
         None, False, None, None, D2, snake, 3),
        # "yes" is true; 09:00:00Z is 09:00 UTC.
        ("006000000000000008", "Value Proposition", date(2025, 4, 3), datetime(2025, 1, 2, 9, 0), None,
         None, True, None, None, D2, snake, 4),
    ]  # fmt: skip


def test_raw_column_types_follow_the_contract(warehouse, fixture_landing):
    load_batches(warehouse, OPP, fixture_landing, [D2])
    types = dict(
        warehouse.execute(
            """SELECT column_name, data_type FROM information_schema.columns
               WHERE table_schema = 'raw' AND table_name = 'opportunity'"""
        ).fetchall()
    )
    assert types["close_date"] == "DATE"
    assert types["created_date"] == "TIMESTAMP"
    assert types["amount"] == "DECIMAL(18,2)"
    assert types["is_won"] == "BOOLEAN"
    assert types["description__c"] == "VARCHAR"
    assert types["_source_line"] == "BIGINT"


def test_jsonl_line_numbers_count_blank_lines(warehouse, fixture_landing):
    (result,) = load_batches(warehouse, OPP, fixture_landing, [D3])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (2, 1, 1)
    # CloseDate holds 2025-05-01 (ISO) and 05/01/2025 (US or day-first): each candidate reads one of
    # the two values, none reads both; on a tie the first candidate (ISO) is the column's format, so
    # the record on line 3 (after a blank line 2) is rejected.
    reason = f"not a date in this file's format of the column ({ISO_LABEL})"
    assert rejects(warehouse) == {
        ("Opportunity/2025-01-03/deals.jsonl", 3, "close_date", "05/01/2025", reason)
    }
    row = warehouse.execute("SELECT id, amount, is_won, _source_line FROM raw.opportunity").fetchone()
    assert row == ("006000000000000010", Decimal("1200.50"), False, 1)


def test_several_dates_in_one_call_and_a_missing_folder(warehouse, fixture_landing):
    results = load_batches(warehouse, OPP, fixture_landing, [D3, date(2025, 1, 4), D2])
    assert [(r.extract_date, r.found, r.source_rows, r.loaded_rows) for r in results] == [
        (D2, True, 8, 6),
        (D3, True, 2, 1),
        (date(2025, 1, 4), False, 0, 0),
    ]
    assert warehouse.execute("SELECT count(*) FROM raw.opportunity").fetchone()[0] == 7
    assert warehouse.execute("SELECT count(*) FROM raw._load_audit").fetchone()[0] == 3


def test_loading_twice_changes_nothing(warehouse, fixture_landing):
    def snapshot() -> tuple:
        return (
            warehouse.execute("SELECT * EXCLUDE (_loaded_at) FROM raw.opportunity ORDER BY id").fetchall(),
            sorted(rejects(warehouse), key=str),
            warehouse.execute("SELECT * EXCLUDE (loaded_at) FROM raw._load_audit ORDER BY 2").fetchall(),
        )

    load_batches(warehouse, OPP, fixture_landing, [D2, D3])
    first = snapshot()
    load_batches(warehouse, OPP, fixture_landing, [D2, D3])
    assert snapshot() == first
    # 6 + 1 rows, 2 + 1 rejects, one audit row per date.
    assert len(first[0]) == 7 and len(first[1]) == 3 and len(first[2]) == 2


def test_list_extract_dates_ignores_other_folders(fixture_landing, tmp_path):
    assert list_extract_dates(fixture_landing, OPP) == [D2, D3]
    assert list_extract_dates(tmp_path, OPP) == []


def test_ensure_raw_schema_creates_every_table_empty(warehouse):
    ensure_raw_schema(warehouse)
    ensure_raw_schema(warehouse)  # idempotent
    tables = {
        r[0]
        for r in warehouse.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
        ).fetchall()
    }
    assert tables == {o.table for o in OBJECTS} | {"_rejects", "_load_audit"}
    cols = [r[0] for r in warehouse.execute("DESCRIBE raw.users").fetchall()]
    assert cols[-4:] == ["_extract_date", "_source_file", "_source_line", "_loaded_at"]
    assert warehouse.execute("SELECT count(*) FROM raw.users").fetchone()[0] == 0


# ------------------------------------------------------------------------------- whole-batch errors


def test_missing_key_column_fails_and_keeps_previous_content(warehouse, tmp_path):
    write(tmp_path, "Opportunity", D2, "a.csv", f"{OPP_HEADER}\n{opp_row(1)}\n")
    load_batches(warehouse, OPP, tmp_path, [D2])
    # Every column but the key: the records cannot be told apart, so the batch fails.
    write(
        tmp_path,
        "Opportunity",
        D2,
        "a.csv",
        "StageName,CloseDate,CreatedDate,OwnerId\nProspecting,2025-02-01,2025-01-02,005x\n",
    )
    with pytest.raises(BatchError, match=r"a\.csv: key column\(s\) Id missing from the header") as err:
        load_batches(warehouse, OPP, tmp_path, [D2])
    assert warehouse.execute("SELECT id FROM raw.opportunity").fetchall() == [("006000000000000001",)]
    assert warehouse.execute("SELECT source_rows FROM raw._load_audit").fetchall() == [(1,)]
    # The error is kept as a reject of the batch (not committed, no line), next to the rejects of
    # the load that is still in raw (none here).
    assert warehouse.execute(
        "SELECT object, extract_date, source_file, source_line, value, reason, committed FROM raw._rejects"
    ).fetchall() == [("Opportunity", D2, "Opportunity/2025-01-02/a.csv", None, None, str(err.value), False)]


def test_a_file_without_the_key_fails_even_when_other_files_have_it(warehouse, tmp_path):
    write(tmp_path, "Opportunity", D2, "a.csv", f"{OPP_HEADER}\n{opp_row(1)}\n")
    write(tmp_path, "Opportunity", D2, "b.csv", "id\n006b\n")  # only the key: loads
    write(tmp_path, "Opportunity", D2, "c.csv", "Name,Amount\nDeal,10\n")
    with pytest.raises(BatchError, match=r"c\.csv: key column\(s\) Id missing"):
        load_batches(warehouse, OPP, tmp_path, [D2])
    write(tmp_path, "Opportunity", D2, "c.csv", "Id,Name,Amount\n006c,Deal,10\n")
    (result,) = load_batches(warehouse, OPP, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (3, 3, 0)


def test_one_bad_file_loads_nothing_of_the_call(warehouse, tmp_path):
    write(tmp_path, "Opportunity", D2, "a.csv", f"{OPP_HEADER}\n{opp_row(1)}\n")
    write(tmp_path, "Opportunity", D3, "b.csv", "Name,StageName\nDeal,Prospecting\n")  # no Id
    ensure_raw_schema(warehouse)
    with pytest.raises(BatchError, match="b.csv"):
        load_batches(warehouse, OPP, tmp_path, [D2, D3])
    assert warehouse.execute("SELECT count(*) FROM raw.opportunity").fetchone()[0] == 0
    assert warehouse.execute("SELECT count(*) FROM raw._load_audit").fetchone()[0] == 0


def test_corrupt_parquet_is_a_batch_error(warehouse, tmp_path):
    path = tmp_path / "Opportunity" / D2.isoformat() / "broken.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(BatchError, match=r"broken\.parquet: unreadable Parquet file"):
        load_batches(warehouse, OPP, tmp_path, [D2])


def test_invalid_utf8_is_a_batch_error(warehouse, tmp_path):
    # Issue 15 (bad-input corpus, windows1252/latin1): bytes that are not UTF-8 throughout are read as
    # Windows-1252 (Excel's "CSV" on Windows) and the batch says so, instead of refusing the file. A file
    # that mixes UTF-8 text with such bytes is still refused: no single encoding reads it right.
    path = write(tmp_path, "Opportunity", D2, "a.csv", f"{OPP_HEADER}\n")
    path.write_bytes(
        path.read_bytes() + opp_row(1).replace("Prospecting", "Prosp\xe9cting").encode("latin-1")
    )
    (result,) = load_batches(warehouse, OPP, tmp_path, [D2])
    assert result.notes == ("Opportunity/2025-01-02/a.csv: read as Windows-1252",)
    assert warehouse.execute("SELECT stage_name FROM raw.opportunity").fetchall() == [("Prospécting",)]
    path.write_bytes(
        f"{OPP_HEADER}\n{opp_row(1).replace('Prospecting', 'Prospécting')}\n".encode()
        + opp_row(2).replace("Prospecting", "Prosp\xe9cting").encode("latin-1")
    )
    with pytest.raises(BatchError, match=r"a\.csv: mixes encodings"):
        load_batches(warehouse, OPP, tmp_path, [D2])


def test_unsupported_extension_is_a_batch_error(warehouse, tmp_path):
    write(tmp_path, "Opportunity", D2, "deals.xlsx", "not really excel")
    write(tmp_path, "Opportunity", D2, "_SUCCESS", "")  # marker files are skipped, not errors
    with pytest.raises(BatchError, match=r"deals\.xlsx: unsupported file type '\.xlsx'"):
        load_batches(warehouse, OPP, tmp_path, [D2])


# ------------------------------------------------------------------------------- contract rules


def test_duplicate_id_with_same_modstamp_and_different_content_is_rejected(warehouse, tmp_path):
    rows = [
        opp_row(1, amount="10"),
        opp_row(1, amount="20"),  # same Id and SystemModstamp as line 2, other content: both rejected
        opp_row(2),
        opp_row(2),  # exact repeat: harmless, both load
        opp_row(3),
        opp_row(3, amount="30").replace("10:00:00Z", "11:00:00Z"),  # same Id, later SystemModstamp: both load
    ]
    write(tmp_path, "Opportunity", D2, "a.csv", OPP_HEADER + "\n" + "\n".join(rows) + "\n")
    (result,) = load_batches(warehouse, OPP, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (6, 4, 2)
    got = warehouse.execute(
        "SELECT source_line, column_name, value, reason FROM raw._rejects ORDER BY 1"
    ).fetchall()
    reason = "duplicate Id in this batch with different content and the same SystemModstamp"
    assert got == [(2, "id", "006000000000000001", reason), (3, "id", "006000000000000001", reason)]


AMBIGUOUS_ROWS = [
    # Every day is 12 or less in both columns: US and day-first both read every value, differently.
    "006000000000000001,Prospecting,02/03/24,02/01/24 09:30,005x,10,2025-01-02T10:00:00Z",
    "006000000000000002,Prospecting,12/01/24,01/02/24 17:45,005x,10,2025-01-02T10:00:00Z",
]


@pytest.mark.parametrize(
    ("setting", "close_dates", "created"),
    [
        # "*" is every date and timestamp field of the object.
        ({"*": "MDY"}, [date(2024, 2, 3), date(2024, 12, 1)], [(2024, 2, 1, 9, 30), (2024, 1, 2, 17, 45)]),
        ({"*": "DMY"}, [date(2024, 3, 2), date(2024, 1, 12)], [(2024, 1, 2, 9, 30), (2024, 2, 1, 17, 45)]),
        # Per field, by API name or raw column; a strptime pattern names the day order too.
        (
            {"CloseDate": "DMY", "created_date": "%m/%d/%y %H:%M"},
            [date(2024, 3, 2), date(2024, 1, 12)],
            [(2024, 2, 1, 9, 30), (2024, 1, 2, 17, 45)],
        ),
        # A field's own setting wins over the object's.
        (
            {"*": "DMY", "CreatedDate": "MDY"},
            [date(2024, 3, 2), date(2024, 1, 12)],
            [(2024, 2, 1, 9, 30), (2024, 1, 2, 17, 45)],
        ),
    ],
)
def test_date_formats_setting_settles_ambiguous_columns(warehouse, tmp_path, setting, close_dates, created):
    write(tmp_path, "Opportunity", D2, "a.csv", OPP_HEADER + "\n" + "\n".join(AMBIGUOUS_ROWS) + "\n")
    (result,) = load_batches(warehouse, OPP, tmp_path, [D2], date_formats=setting)
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (2, 2, 0)
    got = warehouse.execute("SELECT close_date, created_date FROM raw.opportunity ORDER BY id").fetchall()
    assert got == [(close_dates[i], datetime(*created[i])) for i in range(2)]


def test_ambiguous_column_without_its_setting_fails_the_batch(warehouse, tmp_path):
    write(tmp_path, "Opportunity", D2, "a.csv", OPP_HEADER + "\n" + "\n".join(AMBIGUOUS_ROWS) + "\n")
    # The old keyword is gone.
    with pytest.raises(TypeError):
        load_batches(warehouse, OPP, tmp_path, [D2], date_format="%m/%d/%y")  # type: ignore[call-arg]
    # A setting for CloseDate only leaves CreatedDate ambiguous.
    with pytest.raises(BatchError, match=r"a\.csv: column 'CreatedDate' .*SALES_WH_DATE_FORMATS"):
        load_batches(warehouse, OPP, tmp_path, [D2], date_formats={"CloseDate": "MDY"})
    assert warehouse.execute("SELECT count(*) FROM raw.opportunity").fetchone()[0] == 0


def test_numbers_integers_and_timestamps_reject_junk(warehouse, tmp_path):
    header = "Id,OwnerId,ActivityDate,CallDurationInSeconds,CreatedDate"
    lines = [
        "00T1,005x,2025-01-02,60,2025-01-02T10:00:00.000+0000",
        "00T2,005x,2025-01-02,1.5,2025-01-02T10:00:00Z",  # not a whole number
        "00T3,005x,2025-01-02,7.0,yesterday",  # 7.0 is whole; the timestamp is not one
        ",005x,2025-01-02,,2025-01-02",  # the key is empty
        "00T5,,2025-01-02,,2025-01-02",  # OwnerId and the duration are empty: NULL, loads
    ]
    write(tmp_path, "Task", D2, "t.csv", header + "\r\n" + "\r\n".join(lines) + "\r\n")
    (result,) = load_batches(warehouse, get_object("Task"), tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (5, 2, 3)
    # CreatedDate is ISO in four values of five: ISO is its format.
    assert {(r[1], r[2], r[3], r[4]) for r in rejects(warehouse, "Task")} == {
        (3, "call_duration_in_seconds", "1.5", "not a whole number"),
        (
            4,
            "created_date",
            "yesterday",
            f"not a date or timestamp in this file's format of the column ({ISO_LABEL})",
        ),
        (5, "id", None, "key field is empty"),
    }
    assert warehouse.execute(
        "SELECT id, owner_id, call_duration_in_seconds, created_date FROM raw.task ORDER BY id"
    ).fetchall() == [
        ("00T1", "005x", 60, datetime(2025, 1, 2, 10, 0)),
        ("00T5", None, None, datetime(2025, 1, 2, 0, 0)),
    ]


def test_parquet_with_typed_and_text_columns(warehouse, tmp_path):
    folder = tmp_path / "Opportunity" / D2.isoformat()
    folder.mkdir(parents=True)
    paris = pa.timestamp("ms", tz="Europe/Paris")
    table = pa.table(
        {
            "Id": ["006p1", "006p2", "006p3"],
            "stage_name": ["Prospecting", "Qualification", "Closed Won"],
            "CloseDate": pa.array([date(2025, 2, 1), date(2025, 2, 2), date(2025, 2, 3)], pa.date32()),
            # 12:00 in Paris (UTC+1 in January) is 11:00 UTC.
            "CreatedDate": pa.array([datetime(2025, 1, 2, 11, 0)] * 3, pa.timestamp("ms", tz="UTC")).cast(
                paris
            ),
            "OwnerId": ["005a", "005a", "005a"],
            "Amount": ["12.5", "lots", None],
            "IsWon": [True, False, None],
            "Probability": [0.25, 0.5, 1.0],
        }
    )
    pq.write_table(table, folder / "deals.parquet")
    (result,) = load_batches(warehouse, OPP, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (3, 2, 1)
    assert rejects(warehouse) == {
        ("Opportunity/2025-01-02/deals.parquet", 2, "amount", "lots", rejects_reason_amount())
    }
    assert warehouse.execute(
        "SELECT id, close_date, created_date, amount, is_won, probability, _source_line "
        "FROM raw.opportunity ORDER BY id"
    ).fetchall() == [
        ("006p1", date(2025, 2, 1), datetime(2025, 1, 2, 11, 0), Decimal("12.50"), True, 0.25, 1),
        ("006p3", date(2025, 2, 3), datetime(2025, 1, 2, 11, 0), None, None, 1.0, 3),
    ]


def rejects_reason_amount() -> str:
    return "not an amount (a number, at most 16 digits before the decimal point)"


def test_mixed_formats_in_one_folder(warehouse, tmp_path):
    write(tmp_path, "Opportunity", D2, "a.csv", f"{OPP_HEADER}\n{opp_row(1)}\n")
    write(
        tmp_path,
        "Opportunity",
        D2,
        "b.jsonl",
        '{"id": "006j", "stage_name": "Prospecting", "close_date": "2025-02-01", '
        '"created_date": "2025-01-02T10:00:00Z", "owner_id": "005x", "custom_flag": true}\n',
    )
    (result,) = load_batches(warehouse, OPP, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows) == (2, 2)
    assert warehouse.execute("SELECT id, custom_flag FROM raw.opportunity ORDER BY id").fetchall() == [
        ("006000000000000001", None),
        ("006j", "true"),
    ]


def test_extra_column_appearing_later_is_added(warehouse, tmp_path):
    write(tmp_path, "Opportunity", D2, "a.csv", f"{OPP_HEADER}\n{opp_row(1)}\n")
    load_batches(warehouse, OPP, tmp_path, [D2])
    write(tmp_path, "Opportunity", D3, "a.csv", f"{OPP_HEADER},Region Name\n{opp_row(2)},EMEA\n")
    load_batches(warehouse, OPP, tmp_path, [D3])
    assert warehouse.execute("SELECT id, region_name FROM raw.opportunity ORDER BY id").fetchall() == [
        ("006000000000000001", None),
        ("006000000000000002", "EMEA"),
    ]


def test_timestamps_are_utc_whatever_the_session_time_zone(warehouse_path, tmp_path):
    write(
        tmp_path,
        "Opportunity",
        D2,
        "a.csv",
        f"{OPP_HEADER}\n{opp_row(1)}\n".replace("T10:00:00Z", "T10:00:00", 1),
    )
    con = connect_warehouse(warehouse_path)
    con.execute("SET TimeZone = 'America/New_York'")
    load_batches(con, OPP, tmp_path, [D2])
    assert con.execute("SELECT created_date FROM raw.opportunity").fetchone()[0] == datetime(
        2025, 1, 2, 10, 0
    )
    assert con.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "America/New_York"
    con.close()


def test_an_empty_file_and_an_empty_folder_load_nothing(warehouse, tmp_path):
    write(tmp_path, "Opportunity", D2, "empty.csv", "")
    write(tmp_path, "Opportunity", D3, "header_only.csv", OPP_HEADER + "\r\n")
    results = load_batches(warehouse, OPP, tmp_path, [D2, D3])
    assert [(r.found, len(r.files), r.source_rows) for r in results] == [(True, 1, 0), (True, 1, 0)]


def test_paths_are_relative_to_the_landing_folder(fixture_landing, tmp_path):
    shutil.copytree(fixture_landing, tmp_path / "landing")
    con = duckdb.connect()
    (result,) = load_batches(con, OPP, tmp_path / "landing", [D2])
    assert result.files[0] == "Opportunity/2025-01-02/api_names.csv"
    con.close()


def test_before_commit_refusal_rolls_back_and_keeps_previous_partition(warehouse, tmp_path):
    """A load whose blocking checks fail (before_commit returns False) leaves raw as it was."""
    write(tmp_path, "Opportunity", D2, "a.csv", f"{OPP_HEADER}\n{opp_row(1)}\n{opp_row(2)}\n")
    load_batches(warehouse, OPP, tmp_path, [D2])
    write(tmp_path, "Opportunity", D2, "a.csv", f"{OPP_HEADER}\n{opp_row(3, amount='-5')}\n")

    seen_inside: list[int] = []

    def refuse(con: duckdb.DuckDBPyConnection) -> bool:
        # The new rows are visible inside the transaction: exactly the one new row for D2.
        seen_inside.append(con.execute("SELECT count(*) FROM raw.opportunity").fetchone()[0])
        return False

    (result,) = load_batches(warehouse, OPP, tmp_path, [D2], before_commit=refuse)
    assert seen_inside == [1]
    assert result.committed is False and result.source_rows == 1
    ids = warehouse.execute("SELECT id FROM raw.opportunity ORDER BY id").fetchall()
    assert ids == [("006000000000000001",), ("006000000000000002",)]
    assert warehouse.execute("SELECT source_rows FROM raw._load_audit").fetchall() == [(2,)]


# ------------------------------------------------------------------ every source row loaded or rejected


def test_blank_first_line_is_skipped(warehouse, tmp_path):
    # Issue 15 (bad-input corpus, blank_first_line): a blank line before the header no longer refuses
    # the file; the header is the first non-blank line and lines keep their physical numbers.
    write(tmp_path, "UserRole", D2, "a.csv", "\nId,Name\n00EA,x\n00EB,y")
    ensure_raw_schema(warehouse)
    (result,) = load_batches(warehouse, ROLE, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (2, 2, 0)
    rel = "UserRole/2025-01-02/a.csv"
    assert role_lines(warehouse) == [(rel, 3, "00EA", "x"), (rel, 4, "00EB", "y")]


def test_header_of_empty_cells_is_a_batch_error(warehouse, tmp_path):
    write(tmp_path, "UserRole", D2, "a.csv", ",\n00EA,x\n")
    with pytest.raises(BatchError, match=r"a\.csv: no header on line 1"):
        load_batches(warehouse, ROLE, tmp_path, [D2])


def test_jsonl_of_empty_objects_is_a_batch_error(warehouse, tmp_path):
    write(tmp_path, "UserRole", D2, "a.jsonl", "{}\n\n{}\n")
    with pytest.raises(BatchError, match=r"a\.jsonl: key column\(s\) Id missing from the header"):
        load_batches(warehouse, ROLE, tmp_path, [D2])


def test_files_of_blank_lines_only_load_nothing(warehouse, tmp_path):
    write(tmp_path, "UserRole", D2, "a.csv", "\r\n\r\n")
    write(tmp_path, "UserRole", D2, "b.jsonl", "\n \n")
    (result,) = load_batches(warehouse, ROLE, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (0, 0, 0)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_blank_lines_and_quoted_newlines_keep_physical_line_numbers(warehouse, tmp_path, newline):
    lines = [
        "Id,Name",  # 1
        "",  # 2 blank
        '00EA,"two',  # 3: record starts here ...
        'lines"',  # 4 ... and ends here
        "",  # 5 blank
        "",  # 6 blank
        "00EB,",  # 7: Name empty -> NULL, loads from line 7
        '"00EC","with',  # 8: a blank line INSIDE quotes is part of the value
        "",  # 9
        'blank"',  # 10
        ",d",  # 11: the key is empty -> reject on line 11
        "",  # 12 blank at the end
        "",  # 13 blank at the end
    ]
    write(tmp_path, "UserRole", D2, "a.csv", newline.join(lines) + newline)
    (result,) = load_batches(warehouse, ROLE, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (4, 3, 1)
    assert warehouse.execute("SELECT id, name, _source_line FROM raw.user_role ORDER BY id").fetchall() == [
        ("00EA", f"two{newline}lines", 3),
        ("00EB", None, 7),
        ("00EC", f"with{newline}{newline}blank", 8),
    ]
    assert {(r[1], r[2], r[4]) for r in rejects(warehouse, "UserRole")} == {(11, "id", "key field is empty")}


def test_ragged_rows_are_rejected_with_file_and_physical_line(warehouse, tmp_path):
    text = "\n".join(
        [
            "Id,Name,ParentRoleId",  # 1: three fields
            '00E1,"Sales, EMEA",',  # 2: a quoted comma is not a separator: 3 fields, loads
            '00E2,"multi',  # 3: 3 fields over lines 3-4, loads
            'line, with comma",00E1',  # 4
            "00E3,x,00E1,extra",  # 5: 4 fields -> reject
            "",  # 6 blank
            "00E4",  # 7: 1 field -> reject
            '00E5,"a ""quoted"", word",00E1',  # 8: doubled quotes, 3 fields, loads
            '00E6,"x',  # 9: 4 fields over lines 9-10 -> reject on line 9
            ',y",z,w',  # 10
            "00E7,ok,",  # 11: loads
        ]
    )
    write(tmp_path, "UserRole", D2, "a.csv", text + "\n")
    (result,) = load_batches(warehouse, ROLE, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (7, 4, 3)
    rel = "UserRole/2025-01-02/a.csv"
    assert rejects(warehouse, "UserRole") == {
        (rel, 5, None, "00E3,x,00E1,extra", "row has 4 fields, header has 3"),
        (rel, 7, None, "00E4", "row has 1 field, header has 3"),
        (rel, 9, None, '00E6,"x', "row has 4 fields, header has 3"),
    }
    assert warehouse.execute(
        "SELECT id, name, parent_role_id, _source_line FROM raw.user_role ORDER BY id"
    ).fetchall() == [
        ("00E1", "Sales, EMEA", None, 2),
        ("00E2", "multi\nline, with comma", "00E1", 3),
        ("00E5", 'a "quoted", word', "00E1", 8),
        ("00E7", "ok", None, 11),
    ]


def test_a_ragged_opportunity_row_is_a_reject_not_a_batch_error(warehouse, tmp_path):
    write(
        tmp_path,
        "Opportunity",
        D2,
        "a.csv",
        f"{OPP_HEADER}\n{opp_row(1)}\n{opp_row(2)},extra,cells\n{opp_row(3)}\n",
    )
    (result,) = load_batches(warehouse, OPP, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (3, 2, 1)
    assert {(r[1], r[4]) for r in rejects(warehouse)} == {(3, "row has 9 fields, header has 7")}


def test_amounts_with_more_than_two_decimals_are_rejected_not_rounded(warehouse, tmp_path):
    rows = [
        opp_row(1, amount="1.005"),  # line 2: would round to 1.01 -> reject
        opp_row(2, amount="1.500"),  # line 3: trailing zeros are exact: 1.50
        opp_row(3, amount="-0.001"),  # line 4: reject
        opp_row(4, amount="2.25"),  # line 5
        opp_row(5, amount="12345678901234567"),  # line 6: 17 digits: not an amount
    ]
    write(tmp_path, "Opportunity", D2, "a.csv", OPP_HEADER + "\n" + "\n".join(rows) + "\n")
    (result,) = load_batches(warehouse, OPP, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (5, 2, 3)
    assert warehouse.execute("SELECT amount FROM raw.opportunity ORDER BY id").fetchall() == [
        (Decimal("1.50"),),
        (Decimal("2.25"),),
    ]
    assert {(r[1], r[3], r[4]) for r in rejects(warehouse)} == {
        (2, "1.005", "more than 2 decimal places"),
        (4, "-0.001", "more than 2 decimal places"),
        (6, "12345678901234567", rejects_reason_amount()),
    }


def test_source_rows_of_each_format_are_counted_from_the_files(warehouse, tmp_path):
    write(tmp_path, "UserRole", D2, "a.csv", "Id,Name\n00E1,a\n\n00E2,b\n")  # 2 records
    write(tmp_path, "UserRole", D2, "b.jsonl", '{"Id": "00E3", "Name": "c"}\n\n{"Id": "00E4"}\n')  # 2 lines
    folder = tmp_path / "UserRole" / D2.isoformat()
    pq.write_table(pa.table({"Id": ["00E5", "00E6", None], "Name": ["e", "f", "g"]}), folder / "c.parquet")
    (result,) = load_batches(warehouse, ROLE, tmp_path, [D2])
    # 00E4 has no Name (loads, NULL), the third Parquet row no Id: 7 source rows, 6 loaded, 1 rejected.
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (7, 6, 1)


# ------------------------------------------------------- CSV read paths (strict, line-level, padded)

ROLE_HEADER = "Id,Name,ParentRoleId"


def role_lines(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT _source_file, _source_line, id, name FROM raw.user_role ORDER BY _source_file, _source_line"
    ).fetchall()


def test_files_without_quotes_or_blank_lines_keep_their_line_numbers(warehouse, tmp_path):
    # Each record is one line: the strict read alone numbers them (line = position + 1).
    write(tmp_path, "UserRole", D2, "a.csv", f"{ROLE_HEADER}\n00E1,a,\n00E2,b,00E1\n,c,00E1\n")  # empty key
    # Quotes on every line but an even number on each: still one record per line.
    write(tmp_path, "UserRole", D2, "b.csv", f'{ROLE_HEADER}\r\n"00E4","d",""\r\n"00E5","e ""x""",00E4\r\n')
    (result,) = load_batches(warehouse, ROLE, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (5, 4, 1)
    a, b = "UserRole/2025-01-02/a.csv", "UserRole/2025-01-02/b.csv"
    assert role_lines(warehouse) == [
        (a, 2, "00E1", "a"),
        (a, 3, "00E2", "b"),
        (b, 2, "00E4", "d"),
        (b, 3, "00E5", 'e "x"'),
    ]
    assert rejects(warehouse, "UserRole") == {(a, 4, "id", None, "key field is empty")}


#: A group of four files of one header: a.csv and b.csv land on D2, c.csv and d.csv on D3.
GROUP_DAYS = {"a": D2, "b": D2, "c": D3, "d": D3}


def load_group(
    con: duckdb.DuckDBPyConnection, root: Path, bodies: dict[str, str]
) -> list[tuple[int, int, int]]:
    """Land ``<letter>.csv`` (``ROLE_HEADER``, then its body) for each of the group's files, load
    both extract dates as one group; return each batch's source, loaded and rejected rows."""
    for letter, body in bodies.items():
        write(root, "UserRole", GROUP_DAYS[letter], f"{letter}.csv", f"{ROLE_HEADER}\n{body}")
    return [(r.source_rows, r.loaded_rows, r.rejected_rows) for r in load_batches(con, ROLE, root, [D2, D3])]


def stored(letter: str) -> str:
    """The source file of ``<letter>.csv`` of the group as raw keeps it (relative to the landing folder)."""
    return f"UserRole/{GROUP_DAYS[letter].isoformat()}/{letter}.csv"


def test_line_numbers_in_a_group_of_plain_blank_and_spanning_files(warehouse, tmp_path):
    bodies = {
        "a": "00E1,a,\n00E2,b,\n",  # plain
        # Blank lines only after the last record (lines 4 and 5): records are still lines 2 and 3.
        "b": "00E3,c,\n00E4,d,\n\n\n",
        # Line 2 blank, record 00E5 on lines 3-4 (quoted newline), 00E6 on line 5.
        "c": '\n00E5,"e\nf",\n00E6,g,\n',
        # No quote at all, but line 3 is blank: 00E8 is on line 4.
        "d": "00E7,h,\n\n00E8,i,\n",
    }
    assert load_group(warehouse, tmp_path, bodies) == [(4, 4, 0), (4, 4, 0)]
    a, b, c, d = map(stored, "abcd")
    assert role_lines(warehouse) == [
        (a, 2, "00E1", "a"),
        (a, 3, "00E2", "b"),
        (b, 2, "00E3", "c"),
        (b, 3, "00E4", "d"),
        (c, 3, "00E5", "e\nf"),
        (c, 5, "00E6", "g"),
        (d, 2, "00E7", "h"),
        (d, 4, "00E8", "i"),
    ]


def test_a_ragged_row_in_one_file_of_a_group_is_a_reject_the_rest_loads(warehouse, tmp_path):
    # One header, four files: the strict read fails on b.csv line 3 (4 fields) and d.csv line 2 (2);
    # a.csv and c.csv load as if alone. a.csv and d.csv have one record per line, b.csv a blank line
    # (line 4) and c.csv a value over lines 2-3.
    bodies = {
        "a": "00E1,a,\n00E2,b,\n",
        "b": "00E3,c,\n00E4,d,00E1,extra\n\n00E5,e,\n",
        "c": '00E6,"f\ng",\n00E7,h,\n',
        "d": "00E8,i\n00E9,j,\n",
    }
    assert load_group(warehouse, tmp_path, bodies) == [(5, 4, 1), (4, 3, 1)]
    a, b, c, d = map(stored, "abcd")
    assert rejects(warehouse, "UserRole") == {
        (b, 3, None, "00E4,d,00E1,extra", "row has 4 fields, header has 3"),
        (d, 2, None, "00E8,i", "row has 2 fields, header has 3"),
    }
    assert role_lines(warehouse) == [
        (a, 2, "00E1", "a"),
        (a, 3, "00E2", "b"),
        (b, 2, "00E3", "c"),
        (b, 5, "00E5", "e"),
        (c, 2, "00E6", "f\ng"),
        (c, 4, "00E7", "h"),
        (d, 3, "00E9", "j"),
    ]


def test_a_ragged_row_spanning_lines_after_blank_and_quoted_lines(warehouse, tmp_path):
    lines = [
        ROLE_HEADER,  # 1
        "",  # 2 blank
        '00E1,"a',  # 3: 3 fields over lines 3-4, loads
        'b",00E0',  # 4
        '00E2,"x',  # 5: 00E2 | x..y | z | w: 4 fields over lines 5-7 -> reject on line 5
        "",  # 6 blank inside quotes: part of the value
        'y",z,w',  # 7
        "",  # 8 blank
        "00E3,c,00E1",  # 9: loads
    ]
    write(tmp_path, "UserRole", D2, "a.csv", "\r\n".join(lines) + "\r\n")
    (result,) = load_batches(warehouse, ROLE, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (3, 2, 1)
    rel = "UserRole/2025-01-02/a.csv"
    assert rejects(warehouse, "UserRole") == {(rel, 5, None, '00E2,"x', "row has 4 fields, header has 3")}
    assert role_lines(warehouse) == [(rel, 3, "00E1", "a\r\nb"), (rel, 9, "00E3", "c")]


def test_a_quote_inside_an_unquoted_field_is_literal(warehouse, tmp_path):
    # Issue 15 (bad-input corpus, quote_inside_unquoted_field): a quote inside an unquoted field is
    # literal (RFC 4180 as Excel, Python's csv and Salesforce read it: a quote opens a value only at
    # the start of a field), so x"y no longer makes line 3 look like part of line 2's record: it loads.
    write(tmp_path, "UserRole", D2, "a.csv", f'{ROLE_HEADER}\n00E1,x"y,\n00E2,b,\n')
    (result,) = load_batches(warehouse, ROLE, tmp_path, [D2])
    assert (result.source_rows, result.loaded_rows, result.rejected_rows) == (2, 2, 0)
    rel = "UserRole/2025-01-02/a.csv"
    assert role_lines(warehouse) == [(rel, 2, "00E1", 'x"y'), (rel, 3, "00E2", "b")]


def test_an_unterminated_quote_names_its_file(warehouse, tmp_path):
    # Three fields by the comma count (not ragged), but the quote is never closed: b.csv is unreadable.
    write(tmp_path, "UserRole", D2, "a.csv", f"{ROLE_HEADER}\n00E1,a,\n")
    write(tmp_path, "UserRole", D2, "b.csv", f'{ROLE_HEADER}\n00E2,b,\n00E3,c,"00E1\n')
    ensure_raw_schema(warehouse)
    with pytest.raises(BatchError, match=r"b\.csv: unreadable CSV file"):
        load_batches(warehouse, ROLE, tmp_path, [D2])
    assert warehouse.execute("SELECT count(*) FROM raw.user_role").fetchone()[0] == 0


def test_a_call_for_no_extract_date_loads_nothing_and_does_not_fail(warehouse, tmp_path):
    """An optional object that was never landed has no extract dates: loading it is a no-op."""
    assert load_batches(warehouse, get_object("OpportunityStage"), tmp_path, []) == []
    assert warehouse.execute("SELECT count(*) FROM raw._load_audit").fetchone() == (0,)
