"""SALES_WH_DATE_FORMATS as the run reads it (settings.parse_date_formats, object_date_formats)."""

from __future__ import annotations

import pytest

from orchestration.settings import Settings, object_date_formats, parse_date_formats


def test_parse_date_formats_per_object_and_per_field():
    spec = " Opportunity=MDY ; Lead.CreatedDate=%d.%m.%Y;OpportunityHistory.CloseDate=DD/MM/YYYY; "
    assert parse_date_formats(spec) == {
        "Opportunity": "MDY",
        "Lead.CreatedDate": "%d.%m.%Y",
        "OpportunityHistory.CloseDate": "DD/MM/YYYY",
    }
    assert parse_date_formats("") == {}


@pytest.mark.parametrize("spec", ["Opportunity", "Opportunity=", "=MDY", "Opportunity=nonsense"])
def test_parse_date_formats_refuses_malformed_entries(spec):
    with pytest.raises(ValueError, match="SALES_WH_DATE_FORMATS"):
        parse_date_formats(spec)


def test_object_date_formats_keeps_one_objects_settings():
    parsed = {
        "Opportunity": "MDY",
        "Opportunity.CloseDate": "DMY",
        "OpportunityHistory.CloseDate": "ISO",  # another object, although its name starts the same
        "Lead.CreatedDate": "DMY",
    }
    assert object_date_formats(parsed, "Opportunity") == {"*": "MDY", "CloseDate": "DMY"}
    assert object_date_formats(parsed, "OpportunityHistory") == {"CloseDate": "ISO"}
    assert object_date_formats(parsed, "Task") == {}


def test_settings_read_date_formats_from_the_environment(monkeypatch):
    monkeypatch.setenv("SALES_WH_DATE_FORMATS", "Opportunity=DMY")
    assert Settings.from_env().date_formats == {"Opportunity": "DMY"}
    monkeypatch.setenv("SALES_WH_DATE_FORMATS", "Opportunity=whatever")
    with pytest.raises(ValueError, match="SALES_WH_DATE_FORMATS"):
        Settings.from_env()
