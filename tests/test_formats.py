"""Dates, timestamps, booleans and shapes as real exports write them (issue 9, DESIGN "The landing contract").

Every input is written here by hand the way a Data Loader / API export, a report export or a managed
connector writes it; every expected value is worked out by hand from those bytes.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration.contract import get_object
from orchestration.ingestion import formats
from orchestration.ingestion.loader import BatchError, BatchResult, load_batches
from orchestration.settings import object_date_formats, parse_date_formats
from tests.test_loader import D2, D3, rejects, write

OPP = get_object("Opportunity")
ISO = "ISO 8601 (YYYY-MM-DD)"
US = "MM/DD/YYYY"
DMY = "DD/MM/YYYY"
DOTTED = "DD.MM.YYYY"
DATE_REASON = "not a date in this file's format of the column ({})"
TS_REASON = "not a date or timestamp in this file's format of the column ({})"


def crlf(*lines: str) -> str:
    return "\r\n".join(lines) + "\r\n"


def counts(result) -> tuple[int, int, int]:
    return (result.source_rows, result.loaded_rows, result.rejected_rows)


def land_and_load(con, root: Path, obj: str, files: dict[str, str], **options) -> BatchResult:
    """Land ``files`` (name: text) as ``obj``'s batch of D2 and load that batch with ``options``."""
    for name, text in files.items():
        write(root, obj, D2, name, text)
    (result,) = load_batches(con, get_object(obj), root, [D2], **options)
    return result


# ------------------------------------------------------------------------------------ ISO 8601


def test_api_export_timestamps_with_offsets_are_utc(warehouse, tmp_path):
    # Data Loader: BOM, CRLF, every field quoted, +0000 / Z / -0800 offsets, booleans 0/1/empty.
    text = "\ufeff" + crlf(
        '"Id","StageName","CloseDate","CreatedDate","OwnerId","Amount","IsWon","SystemModstamp"',
        '"0060b00000Abc01AAA","Prospecting","2024-03-29","2024-01-22T16:14:25.000+0000",'
        '"0050b00000Rep01AAA","1500.00","0","2024-01-22T16:14:25.000+0000"',
        '"0060b00000Abc02AAA","Closed Won","2024-02-15","2024-01-22T23:30:00.000Z",'
        '"0050b00000Rep01AAA","800","1","2024-02-15T18:05:09.000Z"',
        '"0060b00000Abc03AAA","Closed Lost","2024-02-20","2024-01-22T20:00:00.000-0800",'
        '"0050b00000Rep01AAA","","","2024-02-20T23:59:59.000-0800"',
    )
    result = land_and_load(warehouse, tmp_path, "Opportunity", {"export.csv": text})
    assert counts(result) == (3, 3, 0)
    assert result.column_formats == {"close_date": ISO, "created_date": ISO, "system_modstamp": ISO}
    assert warehouse.execute(
        "SELECT id, close_date, created_date, amount, is_won, system_modstamp "
        "FROM raw.opportunity ORDER BY id"
    ).fetchall() == [
        ("0060b00000Abc01AAA", date(2024, 3, 29), datetime(2024, 1, 22, 16, 14, 25), Decimal("1500.00"),
         False, datetime(2024, 1, 22, 16, 14, 25)),
        ("0060b00000Abc02AAA", date(2024, 2, 15), datetime(2024, 1, 22, 23, 30), Decimal("800.00"),
         True, datetime(2024, 2, 15, 18, 5, 9)),
        # 20:00 at -08:00 is 04:00 UTC the next day; 23:59:59 at -08:00 is 07:59:59 UTC the next day.
        ("0060b00000Abc03AAA", date(2024, 2, 20), datetime(2024, 1, 23, 4, 0), None,
         None, datetime(2024, 2, 21, 7, 59, 59)),
    ]  # fmt: skip


def test_a_date_field_holding_a_timestamp_takes_its_date(warehouse, tmp_path):
    text = crlf(
        "Id,ActivityDate,CreatedDate",
        "00T0b00000Tsk01AAA,2018-12-19 00:00:00,2018-12-18 15:04:05",  # connector: midnight in a date
        "00T0b00000Tsk02AAA,2024-01-22T16:14:25.000+0000,2024-01-22T16:14:25.000+0000",
        "00T0b00000Tsk03AAA,2024-01-23,2024-01-23",  # a date in a timestamp field is midnight UTC
    )
    result = land_and_load(warehouse, tmp_path, "Task", {"task.csv": text})
    assert counts(result) == (3, 3, 0)
    assert result.column_formats == {"activity_date": ISO, "created_date": ISO}
    assert warehouse.execute(
        "SELECT id, activity_date, created_date FROM raw.task ORDER BY id"
    ).fetchall() == [
        ("00T0b00000Tsk01AAA", date(2018, 12, 19), datetime(2018, 12, 18, 15, 4, 5)),
        ("00T0b00000Tsk02AAA", date(2024, 1, 22), datetime(2024, 1, 22, 16, 14, 25)),
        ("00T0b00000Tsk03AAA", date(2024, 1, 23), datetime(2024, 1, 23, 0, 0)),
    ]


# ------------------------------------------------------------------------------- report forms


def test_report_export_us_dates_and_12_hour_times_in_one_file(warehouse, tmp_path):
    # A report's "Export Details": labels as headers, all fields quoted, a date column in MM/DD/YY(YY)
    # and a timestamp column mixing 08:55 PM, 8:05 AM, a bare date and 20:55.
    text = crlf(
        '"Id","Opportunity ID","Stage Name","Amount","Close Date","Created Date","Probability (%)"',
        '"0080b00000His01AAA","0060b00000Abc01AAA","Prospecting","1000.00",'
        '"01/27/21","02/23/26 08:55 PM","10"',
        '"0080b00000His02AAA","0060b00000Abc01AAA","Qualification","1000.00",'
        '"02/23/2026","2/3/2026 8:05 AM","20"',
        '"0080b00000His03AAA","0060b00000Abc01AAA","Closed Won","1200.00","02/23/26","02/23/2026","100"',
        '"0080b00000His04AAA","0060b00000Abc02AAA","Prospecting","500.00","12/01/25","02/23/26 20:55","10"',
    )
    result = land_and_load(warehouse, tmp_path, "OpportunityHistory", {"report.csv": text})
    assert counts(result) == (4, 4, 0)
    # Days 27 and 23 rule out day-first in both columns: US, with no setting.
    assert result.column_formats == {"close_date": US, "created_date": US}
    assert result.missing_columns == ("forecast_category", "is_deleted", "system_modstamp")
    assert result.extra_columns == ()
    assert warehouse.execute(
        """SELECT id, opportunity_id, stage_name, amount, close_date, created_date, probability
           FROM raw.opportunity_history ORDER BY id"""
    ).fetchall() == [
        ("0080b00000His01AAA", "0060b00000Abc01AAA", "Prospecting", Decimal("1000.00"), date(2021, 1, 27),
         datetime(2026, 2, 23, 20, 55), 10.0),
        ("0080b00000His02AAA", "0060b00000Abc01AAA", "Qualification", Decimal("1000.00"), date(2026, 2, 23),
         datetime(2026, 2, 3, 8, 5), 20.0),
        ("0080b00000His03AAA", "0060b00000Abc01AAA", "Closed Won", Decimal("1200.00"), date(2026, 2, 23),
         datetime(2026, 2, 23, 0, 0), 100.0),
        ("0080b00000His04AAA", "0060b00000Abc02AAA", "Prospecting", Decimal("500.00"), date(2025, 12, 1),
         datetime(2026, 2, 23, 20, 55), 10.0),
    ]  # fmt: skip


def test_european_dotted_and_slashed_dates(warehouse, tmp_path):
    # Two exports in one batch, each with its own format.
    result = land_and_load(
        warehouse,
        tmp_path,
        "Opportunity",
        {
            "de.csv": crlf(
                "Id,StageName,CloseDate,CreatedDate",
                "006A,Prospecting,23.02.2026,01.02.2026 14:30",
                "006B,Prospecting,01.03.2026,02.02.2026 09:05",
            ),
            "uk.csv": crlf(
                "Id,StageName,CloseDate,CreatedDate",
                # CloseDate 23/02 is day-first only; CreatedDate reads both ways (every day <= 12) and
                # takes the day order CloseDate proves.
                "006C,Prospecting,23/02/2026,01/02/2026 14:30",
                "006D,Prospecting,05/03/2026,02/02/2026 09:05",
            ),
        },
    )
    assert counts(result) == (4, 4, 0)
    assert result.column_formats == {
        "close_date": f"{DOTTED} / {DMY}",
        "created_date": f"{DOTTED} / {DMY}",
    }
    assert warehouse.execute(
        "SELECT id, close_date, created_date FROM raw.opportunity ORDER BY id"
    ).fetchall() == [
        ("006A", date(2026, 2, 23), datetime(2026, 2, 1, 14, 30)),
        ("006B", date(2026, 3, 1), datetime(2026, 2, 2, 9, 5)),
        ("006C", date(2026, 2, 23), datetime(2026, 2, 1, 14, 30)),
        ("006D", date(2026, 3, 5), datetime(2026, 2, 2, 9, 5)),
    ]


# ---------------------------------------------------------------------------------- ambiguity

AMBIGUOUS = crlf(
    "Id,StageName,CloseDate,CreatedDate",
    "006A,Prospecting,03/04/2025,2025-01-02T10:00:00Z",
    "006B,Prospecting,11/12/2025,2025-01-02T10:00:00Z",
)


def test_ambiguous_column_alone_fails_naming_file_column_samples_and_setting(warehouse, tmp_path):
    write(tmp_path, "Opportunity", D2, "a.csv", AMBIGUOUS)
    with pytest.raises(BatchError) as err:
        load_batches(warehouse, OPP, tmp_path, [D2])
    message = str(err.value)
    for part in ("Opportunity/2025-01-02/a.csv", "'CloseDate'", "03/04/2025", "SALES_WH_DATE_FORMATS"):
        assert part in message
    assert (err.value.file, err.value.extract_date, err.value.column) == (
        "Opportunity/2025-01-02/a.csv",
        D2,
        "close_date",
    )
    assert warehouse.execute("SELECT count(*) FROM raw.opportunity").fetchone()[0] == 0
    assert warehouse.execute("SELECT count(*) FROM raw._load_audit").fetchone()[0] == 0
    assert warehouse.execute(
        "SELECT object, extract_date, source_file, source_line, column_name, reason, committed "
        "FROM raw._rejects"
    ).fetchall() == [("Opportunity", D2, "Opportunity/2025-01-02/a.csv", None, "close_date", message, False)]


@pytest.mark.parametrize(
    ("setting", "label", "close_dates"),
    [
        ({"*": "MDY"}, US, [date(2025, 3, 4), date(2025, 11, 12)]),
        ({"CloseDate": "DMY"}, DMY, [date(2025, 4, 3), date(2025, 12, 11)]),
        # As the run reads it from SALES_WH_DATE_FORMATS.
        (
            object_date_formats(parse_date_formats("Opportunity.CloseDate=DD/MM/YYYY"), "Opportunity"),
            DMY,
            [date(2025, 4, 3), date(2025, 12, 11)],
        ),
        (
            object_date_formats(parse_date_formats("Lead=DMY;Opportunity=%m/%d/%Y"), "Opportunity"),
            US,
            [date(2025, 3, 4), date(2025, 11, 12)],
        ),
    ],
)
def test_ambiguous_column_loads_as_the_setting_says(warehouse, tmp_path, setting, label, close_dates):
    result = land_and_load(warehouse, tmp_path, "Opportunity", {"a.csv": AMBIGUOUS}, date_formats=setting)
    assert counts(result) == (2, 2, 0)
    assert result.column_formats == {"close_date": label, "created_date": ISO}
    assert warehouse.execute("SELECT close_date FROM raw.opportunity ORDER BY id").fetchall() == [
        (d,) for d in close_dates
    ]
    assert warehouse.execute("SELECT count(*) FROM raw._rejects").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("created", "label", "close_dates"),
    [
        # 03/13 and 03/14 have no month 13/14: the file writes US dates.
        (("03/13/2025 09:00 AM", "03/14/2025 10:30 AM"), US, [date(2025, 3, 4), date(2025, 11, 12)]),
        # 13/03 and 14/03: the file writes day-first dates.
        (("13/03/2025 09:00", "14/03/2025 10:30"), DMY, [date(2025, 4, 3), date(2025, 12, 11)]),
    ],
)
def test_ambiguous_column_takes_the_day_order_another_column_proves(
    warehouse, tmp_path, created, label, close_dates
):
    text = crlf(
        "Id,StageName,CloseDate,CreatedDate",
        f"006A,Prospecting,03/04/2025,{created[0]}",
        f"006B,Prospecting,11/12/2025,{created[1]}",
    )
    result = land_and_load(warehouse, tmp_path, "Opportunity", {"a.csv": text})
    assert counts(result) == (2, 2, 0)
    assert result.column_formats == {"close_date": label, "created_date": label}
    assert warehouse.execute(
        "SELECT close_date, created_date FROM raw.opportunity ORDER BY id"
    ).fetchall() == [
        (close_dates[0], datetime(2025, 3, 13, 9, 0)),
        (close_dates[1], datetime(2025, 3, 14, 10, 30)),
    ]


def test_ambiguous_column_with_a_bad_value_still_follows_the_setting(warehouse, tmp_path):
    text = crlf(
        "Id,StageName,CloseDate",
        "006A,Prospecting,03/04/2025",
        "006B,Prospecting,05/06/2025",
        "006C,Prospecting,n/a",
    )
    result = land_and_load(warehouse, tmp_path, "Opportunity", {"a.csv": text}, date_formats={"*": "DMY"})
    assert counts(result) == (3, 2, 1)
    assert warehouse.execute("SELECT close_date FROM raw.opportunity ORDER BY id").fetchall() == [
        (date(2025, 4, 3),),
        (date(2025, 6, 5),),
    ]
    assert rejects(warehouse) == {
        ("Opportunity/2025-01-02/a.csv", 4, "close_date", "n/a", DATE_REASON.format(DMY))
    }


def test_ambiguous_column_with_a_bad_value_and_no_setting_fails(warehouse, tmp_path):
    text = crlf("Id,CloseDate", "006A,03/04/2025", "006B,05/06/2025", "006C,n/a")
    write(tmp_path, "Opportunity", D2, "a.csv", text)
    with pytest.raises(BatchError, match="SALES_WH_DATE_FORMATS"):
        load_batches(warehouse, OPP, tmp_path, [D2])


# ----------------------------------------------------------------------------- rejected values


def test_a_value_outside_the_columns_format_is_rejected_the_rest_loads(warehouse, tmp_path):
    text = crlf(
        "Id,CloseDate,CreatedDate",
        "0060b00000Abc01AAA,02/23/2026,02/23/26 08:55 PM",  # 2: loads
        "0060b00000Abc02AAA,next week,02/24/26 09:00 AM",  # 3: no date
        "0060b00000Abc03AAA,02/25/2026,02/30/26 08:55 PM",  # 4: no February 30
        "0060b00000Abc04AAA,2026-02-26,02/26/26 10:00 AM",  # 5: ISO in a US column: one column, one format
        "0060b00000Abc05AAA,02/27/2026,02/27/26 11:30 PM",  # 6: loads
    )
    result = land_and_load(warehouse, tmp_path, "Opportunity", {"a.csv": text})
    # CloseDate: US reads 3 of 5, ISO 1, day-first none; CreatedDate: US reads 4 of 5.
    assert counts(result) == (5, 2, 3)
    assert result.column_formats == {"close_date": US, "created_date": US}
    rel = "Opportunity/2025-01-02/a.csv"
    assert rejects(warehouse) == {
        (rel, 3, "close_date", "next week", DATE_REASON.format(US)),
        (rel, 4, "created_date", "02/30/26 08:55 PM", TS_REASON.format(US)),
        (rel, 5, "close_date", "2026-02-26", DATE_REASON.format(US)),
    }
    assert warehouse.execute(
        "SELECT id, close_date, created_date FROM raw.opportunity ORDER BY id"
    ).fetchall() == [
        ("0060b00000Abc01AAA", date(2026, 2, 23), datetime(2026, 2, 23, 20, 55)),
        ("0060b00000Abc05AAA", date(2026, 2, 27), datetime(2026, 2, 27, 23, 30)),
    ]


def test_booleans_as_exports_write_them(warehouse, tmp_path):
    text = crlf(
        "Id,IsClosed,IsWon",
        "006A,TRUE,False",  # report export
        "006B,1,0",  # API export
        "006C,yes,NO",
        "006D,,",  # empty is NULL
        "006E,Y,f",
        "006F,maybe,true",  # 7: no boolean
    )
    result = land_and_load(warehouse, tmp_path, "Opportunity", {"a.csv": text})
    assert counts(result) == (6, 5, 1)
    assert rejects(warehouse) == {
        ("Opportunity/2025-01-02/a.csv", 7, "is_closed", "maybe", "not a boolean (true/false, 1/0, yes/no)")
    }
    assert warehouse.execute("SELECT id, is_closed, is_won FROM raw.opportunity ORDER BY id").fetchall() == [
        ("006A", True, False),
        ("006B", True, False),
        ("006C", True, False),
        ("006D", None, None),
        ("006E", True, False),
    ]


# -------------------------------------------------------------------------- connectors and keys


def test_connector_sync_timestamp_and_deleted_flag(warehouse, tmp_path):
    result = land_and_load(
        warehouse,
        tmp_path,
        "Opportunity",
        {
            # A connector table: snake_case, midnight timestamps in date fields, no system_modstamp.
            "opportunity.csv": crlf(
                "id,stage_name,close_date,amount,is_won,_fivetran_synced,_fivetran_deleted",
                "0060b00000Abc01AAA,Closed Won,2018-12-19 00:00:00,5000,true,2024-03-01T10:00:00.123Z,false",
                "0060b00000Abc02AAA,Prospecting,2019-01-05 00:00:00,250,false,"
                "2024-03-02 08:00:00.000000+00:00,true",
                # A later version of Abc01, synced at 09:30 +01:00 = 08:30 UTC.
                "0060b00000Abc01AAA,Closed Won,2018-12-19 00:00:00,5500,true,2024-03-03 09:30:00+01:00,false",
            ),
            # Another file has system_modstamp: its own value wins; the sync time stands in only when empty.
            "more.csv": crlf(
                "id,system_modstamp,_fivetran_synced,_fivetran_deleted",
                "0060b00000Abc03AAA,2024-03-04T12:00:00.000Z,2024-03-05T00:00:00Z,",
                "0060b00000Abc04AAA,,2024-03-05T00:00:00Z,",
            ),
        },
    )
    assert counts(result) == (5, 5, 0)
    assert result.extra_columns == ("fivetran_synced", "fivetran_deleted")
    assert warehouse.execute(
        """SELECT id, close_date, amount, system_modstamp, is_deleted, fivetran_deleted
           FROM raw.opportunity ORDER BY id, system_modstamp"""
    ).fetchall() == [
        # Not deleted by the connector and no IsDeleted column: NULL (staging reads NULL as false).
        ("0060b00000Abc01AAA", date(2018, 12, 19), Decimal("5000.00"), datetime(2024, 3, 1, 10, 0, 0, 123000),
         None, "false"),
        ("0060b00000Abc01AAA", date(2018, 12, 19), Decimal("5500.00"), datetime(2024, 3, 3, 8, 30),
         None, "false"),
        ("0060b00000Abc02AAA", date(2019, 1, 5), Decimal("250.00"), datetime(2024, 3, 2, 8, 0), True, "true"),
        ("0060b00000Abc03AAA", None, None, datetime(2024, 3, 4, 12, 0), None, None),
        ("0060b00000Abc04AAA", None, None, datetime(2024, 3, 5, 0, 0), None, None),
    ]  # fmt: skip


def test_opportunity_stage_with_master_label_standing_in_for_api_name(warehouse, tmp_path):
    stage = get_object("OpportunityStage")
    result = land_and_load(
        warehouse,
        tmp_path,
        "OpportunityStage",
        {
            "labels.csv": crlf(
                "MasterLabel,IsActive,IsClosed,IsWon,DefaultProbability,ForecastCategoryName,SortOrder",
                "Discovery,true,false,false,10,Pipeline,1",
                "Proposal/Quote,true,false,false,50,Pipeline,2",
                "Closed Won,true,true,true,100,Closed,3",
                ",true,false,false,0,Omitted,4",  # 5: no label, no key
            ),
            "api.csv": crlf(
                "ApiName,MasterLabel,IsClosed,IsWon,SortOrder",
                "Negotiation,Negotiation/Review,false,false,4",
                ",Id. Decision Makers,false,false,5",  # empty ApiName: the label stands in
            ),
        },
    )
    assert counts(result) == (6, 5, 1)
    assert rejects(warehouse, "OpportunityStage") == {
        ("OpportunityStage/2025-01-02/labels.csv", 5, "api_name", None, "key field is empty")
    }
    assert warehouse.execute(
        """SELECT api_name, master_label, is_closed, is_won, default_probability, sort_order
           FROM raw.opportunity_stage ORDER BY api_name"""
    ).fetchall() == [
        ("Closed Won", "Closed Won", True, True, 100.0, 3),
        ("Discovery", "Discovery", False, False, 10.0, 1),
        ("Id. Decision Makers", "Id. Decision Makers", False, False, None, 5),
        ("Negotiation", "Negotiation/Review", False, False, None, 4),
        ("Proposal/Quote", "Proposal/Quote", False, False, 50.0, 2),
    ]
    # Neither ApiName nor MasterLabel: no key at all.
    write(tmp_path, "OpportunityStage", D3, "x.csv", crlf("IsClosed,IsWon", "false,false"))
    with pytest.raises(BatchError, match=r"x\.csv: key column\(s\) ApiName missing from the header"):
        load_batches(warehouse, stage, tmp_path, [D3])


def test_composite_key_of_dated_conversion_rates(warehouse, tmp_path):
    rates = get_object("DatedConversionRate")
    result = land_and_load(
        warehouse,
        tmp_path,
        "DatedConversionRate",
        {
            "rates.csv": crlf(
                "IsoCode,ConversionRate,StartDate,NextStartDate",
                "EUR,0.92,2026-01-01,2026-04-01",
                "EUR,0.91,2026-04-01,",  # NextStartDate is no key: NULL
                "GBP,0.79,,2026-04-01",  # 4: StartDate is part of the key
                ",1.35,2026-01-01,",  # 5: IsoCode too
            ),
        },
    )
    assert counts(result) == (4, 2, 2)
    rel = "DatedConversionRate/2025-01-02/rates.csv"
    assert rejects(warehouse, "DatedConversionRate") == {
        (rel, 4, "start_date", None, "key field is empty"),
        (rel, 5, "iso_code", None, "key field is empty"),
    }
    assert warehouse.execute(
        "SELECT iso_code, conversion_rate, start_date, next_start_date "
        "FROM raw.dated_conversion_rate ORDER BY 3"
    ).fetchall() == [
        ("EUR", 0.92, date(2026, 1, 1), date(2026, 4, 1)),
        ("EUR", 0.91, date(2026, 4, 1), None),
    ]
    write(tmp_path, "DatedConversionRate", D3, "rates.csv", crlf("IsoCode,ConversionRate", "EUR,0.9"))
    with pytest.raises(BatchError, match=r"rates\.csv: key column\(s\) StartDate missing from the header"):
        load_batches(warehouse, rates, tmp_path, [D3])


# ------------------------------------------------------------------------------- batch result


def test_result_names_missing_and_extra_columns_and_formats(warehouse, tmp_path):
    # A Lead report without CreatedDate and OwnerId, with a custom column.
    text = crlf(
        '"Id","Status","Company","Lead Source","Is Converted","Converted Date","Lead Score"',
        '"00Q0b00000Lea01AAA","Working","Acme","Web","0","","42"',
        '"00Q0b00000Lea02AAA","Qualified","Globex","Partner Referral","1","03/15/2026","87"',
    )
    result = land_and_load(warehouse, tmp_path, "Lead", {"leads.csv": text})
    assert counts(result) == (2, 2, 0)
    assert result.missing_columns == (
        "created_date",
        "owner_id",
        "industry",
        "converted_opportunity_id",
        "converted_account_id",
        "is_deleted",
        "system_modstamp",
    )
    assert result.extra_columns == ("lead_score",)
    # Only columns with a value get a format (March 15 is US only).
    assert result.column_formats == {"converted_date": US}
    assert warehouse.execute(
        "SELECT id, status, lead_source, is_converted, converted_date, created_date, owner_id, lead_score "
        "FROM raw.lead ORDER BY id"
    ).fetchall() == [
        ("00Q0b00000Lea01AAA", "Working", "Web", False, None, None, None, "42"),
        ("00Q0b00000Lea02AAA", "Qualified", "Partner Referral", True, date(2026, 3, 15), None, None, "87"),
    ]


# ------------------------------------------------------------------------------- refused loads


def test_refused_load_keeps_uncommitted_rejects_until_a_good_load_replaces_them(warehouse, tmp_path):
    rel = "Opportunity/2025-01-02/a.csv"
    write(
        tmp_path,
        "Opportunity",
        D2,
        "a.csv",
        crlf(
            "Id,StageName,CloseDate",
            "006A,Prospecting,2025-02-01",
            "006B,Prospecting,2025-02-30",  # 3: no such day
            "006C,Prospecting,2025-02-03",
        ),
    )

    def stored() -> list[tuple]:
        return warehouse.execute(
            "SELECT source_file, source_line, column_name, value, reason, committed "
            "FROM raw._rejects ORDER BY 2"
        ).fetchall()

    for _ in range(2):  # refusing twice keeps one set of rejects, not two
        (result,) = load_batches(warehouse, OPP, tmp_path, [D2], before_commit=lambda con: False)
        assert result.committed is False and counts(result) == (3, 2, 1)
        assert warehouse.execute("SELECT count(*) FROM raw.opportunity").fetchone()[0] == 0
        assert warehouse.execute("SELECT count(*) FROM raw._load_audit").fetchone()[0] == 0
        assert stored() == [(rel, 3, "close_date", "2025-02-30", DATE_REASON.format(ISO), False)]

    result = land_and_load(
        warehouse,
        tmp_path,
        "Opportunity",
        {
            "a.csv": crlf(
                "Id,StageName,CloseDate",
                "006A,Prospecting,2025-02-01",
                "006B,Prospecting,2025-02-28",
                "006D,Prospecting,not a date",  # 4
            ),
        },
    )
    assert result.committed is True and counts(result) == (3, 2, 1)
    assert stored() == [(rel, 4, "close_date", "not a date", DATE_REASON.format(ISO), True)]
    assert warehouse.execute("SELECT id FROM raw.opportunity ORDER BY id").fetchall() == [
        ("006A",),
        ("006B",),
    ]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deals.xlsx", "not really excel"),  # unsupported file type
        # Issue 15: a blank first line is skipped and x"y is a literal quote (both load now); an
        # all-empty header and a quote that never closes are the batch errors of those shapes.
        ("a.csv", ",\n006A,x\n"),  # no header on line 1
        ("a.jsonl", "not json\n"),  # not a JSON object
        ("a.csv", 'Id,Name\n006A,"x\n006B,b\n'),  # the quote opened on line 2 never closes
    ],
)
def test_every_batch_error_naming_a_file_is_kept_as_a_reject(warehouse, tmp_path, name, text):
    write(tmp_path, "Opportunity", D2, name, text)
    with pytest.raises(BatchError) as err:
        load_batches(warehouse, OPP, tmp_path, [D2])
    assert warehouse.execute(
        "SELECT source_file, source_line, reason, committed FROM raw._rejects"
    ).fetchall() == [(f"Opportunity/2025-01-02/{name}", None, str(err.value), False)]


# ------------------------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%m/%d/%y", formats.US),
        ("%m/%d/%Y %I:%M %p", formats.US),
        ("MDY", formats.US),
        ("mm/dd/yyyy", formats.US),
        ("%d.%m.%Y", formats.DOTTED),
        ("DD.MM.YYYY", formats.DOTTED),
        ("DMY", formats.DAY_FIRST),
        ("dmy", formats.DAY_FIRST),
        ("DD/MM/YY", formats.DAY_FIRST),
        ("%d-%m-%Y", formats.DASHED),
        ("ISO", formats.ISO),
        ("%Y-%m-%d", formats.ISO),
    ],
)
def test_from_setting(text, expected):
    assert formats.from_setting(text) is expected


@pytest.mark.parametrize("text", ["nonsense", "", "US", "european"])
def test_from_setting_refuses_what_is_no_format(text):
    with pytest.raises(ValueError, match="unknown date format"):
        formats.from_setting(text)


@pytest.mark.parametrize("text", ["yesterday", "monday", "today"])
def test_from_setting_refuses_words_that_happen_to_hold_y_m_d(text):
    with pytest.raises(ValueError, match="unknown date format"):
        formats.from_setting(text)
