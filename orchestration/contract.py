"""The landing contract: one declaration of every raw object, read by the generator, the loaders,
the landing checks and the docs.

A field's ``name`` is its Salesforce API name; the raw column is :func:`snake_case` of it. Headers in
landing files are matched after :func:`header_key` (lower case, underscores dropped), so both
``AccountId`` and ``account_id`` land in ``account_id``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FieldType = Literal["id", "string", "timestamp", "date", "boolean", "integer", "number", "amount", "rate"]

#: DuckDB type of each contract field type in the raw schema.
DUCKDB_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",  # always UTC, stored naive
    "date": "DATE",
    "boolean": "BOOLEAN",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "amount": "DECIMAL(18,2)",
    "rate": "DOUBLE",
}

#: Lineage columns the loader adds to every raw table.
LINEAGE_COLUMNS: dict[str, str] = {
    "_extract_date": "DATE",
    "_source_file": "VARCHAR",
    "_source_line": "BIGINT",
    "_loaded_at": "TIMESTAMP",
}

#: Salesforce key prefixes (first three characters of an Id). The generator uses them, and the
#: models tell what a polymorphic ``WhatId`` points at (``006`` is an Opportunity, ``001`` an Account).
ID_PREFIXES: dict[str, str] = {
    "User": "005",
    "UserRole": "00E",
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "OpportunityHistory": "008",
    "Lead": "00Q",
    "LeadHistory": "017",
    "Task": "00T",
    "Event": "00U",
    "ForecastingQuota": "0J9",
    "Territory2": "0MI",
    "UserTerritory2Association": "0R0",
    "ObjectTerritory2Association": "0R1",
    "DatedConversionRate": "04w",
}

RAW_SCHEMA = "raw"
REJECTS_TABLE = "_rejects"
LOAD_AUDIT_TABLE = "_load_audit"
CORPORATE_CURRENCY = "USD"


def snake_case(api_name: str) -> str:
    """API name to column: ``AccountId`` -> ``account_id``, ``Territory2Id`` -> ``territory2_id``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", api_name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def header_key(header: str) -> str:
    """Key on which landing headers are matched to contract fields (case and underscores ignored)."""
    return re.sub(r"[^0-9a-z]", "", header.strip().lstrip("\ufeff").lower())


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType = "string"
    required: bool = False
    #: What the field means when its name does not say it (rendered into the dbt sources YAML).
    description: str = ""

    @property
    def column(self) -> str:
        return snake_case(self.name)

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]


@dataclass(frozen=True)
class LandingObject:
    name: str
    fields: tuple[Field, ...]
    #: Object is needed for the core KPIs; the others are optional (their KPIs are empty without them).
    core: bool = False
    #: Key of a record; ``Id`` for all but the currency tables.
    key: tuple[str, ...] = ("Id",)
    #: Field whose latest value wins per key (None: the latest extract wins).
    version_field: str | None = "SystemModstamp"
    #: Non-negative amount fields (checked on landing).
    non_negative: tuple[str, ...] = ()
    description: str = ""
    #: Raw table name when snake_case(name) is an SQL reserved word (``user`` in PostgreSQL and DuckDB).
    table_name: str | None = None
    #: Key field -> field whose value stands in for it when a file has no such column (the metadata
    #: objects are exported with ``ApiName`` or only with ``MasterLabel``).
    key_fallbacks: tuple[tuple[str, str], ...] = ()
    #: What the run says when an optional object is not landed at all.
    when_absent: str = "optional object: its KPIs stay empty"

    @property
    def table(self) -> str:
        """Raw table name in schema ``raw``."""
        return self.table_name or snake_case(self.name)

    @property
    def required_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.required)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name or f.column == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def columns(self) -> dict[str, str]:
        """Contract columns (snake_case) -> DuckDB type, in contract order."""
        return {f.column: f.duckdb_type for f in self.fields}


def _f(spec: str, **descriptions: str) -> tuple[Field, ...]:
    """Parse ``"*Id:id *Name OwnerId:id Amount:amount"``: ``*`` marks required, ``:type`` the type;
    keyword arguments describe fields by name (``SortOrder="position in the sales process"``)."""
    out = []
    for token in spec.split():
        required = token.startswith("*")
        token = token.lstrip("*")
        name, _, typ = token.partition(":")
        out.append(Field(name, typ or "string", required, descriptions.pop(name, "")))  # type: ignore[arg-type]
    if descriptions:
        raise ValueError(f"descriptions of fields not in {spec!r}: {', '.join(descriptions)}")
    return tuple(out)


OBJECTS: tuple[LandingObject, ...] = (
    LandingObject(
        "User",
        _f(
            "*Id:id Name Email IsActive:boolean UserRoleId:id ManagerId:id Title Department "
            "CreatedDate:timestamp SystemModstamp:timestamp"
        ),
        core=True,
        table_name="users",
        description="Sales reps and managers.",
    ),
    LandingObject(
        "UserRole",
        _f("*Id:id Name ParentRoleId:id"),
        version_field=None,
        description="Role hierarchy (teams under managers).",
    ),
    LandingObject(
        "Account",
        _f(
            "*Id:id Name OwnerId:id Industry Type BillingCountry NumberOfEmployees:integer "
            "AnnualRevenue:amount Segment__c CreatedDate:timestamp IsDeleted:boolean SystemModstamp:timestamp"
        ),
        core=True,
        non_negative=("AnnualRevenue", "NumberOfEmployees"),
        description="Customer and prospect companies.",
    ),
    LandingObject(
        "Opportunity",
        _f(
            "*Id:id StageName CloseDate:date CreatedDate:timestamp OwnerId:id AccountId:id Name "
            "Amount:amount CurrencyIsoCode Probability:number IsClosed:boolean IsWon:boolean "
            "ForecastCategoryName LeadSource Type IsDeleted:boolean SystemModstamp:timestamp"
        ),
        core=True,
        non_negative=("Amount",),
        description="Deals; current state per extract.",
    ),
    LandingObject(
        "OpportunityHistory",
        _f(
            "*Id:id OpportunityId:id StageName CreatedDate:timestamp Amount:amount CloseDate:date "
            "Probability:number ForecastCategory IsDeleted:boolean SystemModstamp:timestamp"
        ),
        non_negative=("Amount",),
        description="One row per change of stage, amount or close date of an opportunity.",
    ),
    LandingObject(
        "Lead",
        _f(
            "*Id:id Status CreatedDate:timestamp OwnerId:id LeadSource Company Industry "
            "IsConverted:boolean ConvertedDate:date ConvertedOpportunityId:id ConvertedAccountId:id "
            "IsDeleted:boolean SystemModstamp:timestamp"
        ),
        description="Marketing and sales leads.",
    ),
    LandingObject(
        "LeadHistory",
        _f("*Id:id LeadId:id Field CreatedDate:timestamp OldValue NewValue"),
        version_field="CreatedDate",
        description="Field changes of leads; status changes have Field = Status.",
    ),
    LandingObject(
        "Task",
        _f(
            "*Id:id OwnerId:id ActivityDate:date Type TaskSubtype Subject Status IsClosed:boolean "
            "WhoId:id WhatId:id AccountId:id CallDurationInSeconds:integer CreatedDate:timestamp "
            "IsDeleted:boolean SystemModstamp:timestamp"
        ),
        non_negative=("CallDurationInSeconds",),
        description="Calls, emails and to-dos logged by reps.",
    ),
    LandingObject(
        "Event",
        _f(
            "*Id:id OwnerId:id StartDateTime:timestamp Type EventSubtype Subject EndDateTime:timestamp "
            "DurationInMinutes:integer ActivityDate:date WhoId:id WhatId:id AccountId:id "
            "IsDeleted:boolean SystemModstamp:timestamp",
            EventSubtype="`Event` for calendar events; classifies an event without Type",
        ),
        non_negative=("DurationInMinutes",),
        description="Calendar events: meetings, demos, travel, training.",
    ),
    LandingObject(
        "ForecastingQuota",
        _f(
            "*Id:id QuotaOwnerId:id StartDate:date QuotaAmount:amount CurrencyIsoCode ForecastingTypeId:id",
            ForecastingTypeId="the forecast type the quota belongs to (var `quota_forecasting_type_id`)",
        ),
        version_field=None,
        non_negative=("QuotaAmount",),
        description="One quota per owner per forecast period (quarter by default).",
    ),
    LandingObject(
        "Territory2",
        _f("*Id:id Name ParentTerritory2Id:id"),
        version_field=None,
        description="Sales territories.",
    ),
    LandingObject(
        "UserTerritory2Association",
        _f("*Id:id UserId:id Territory2Id:id"),
        version_field=None,
        description="Reps assigned to territories.",
    ),
    LandingObject(
        "ObjectTerritory2Association",
        _f("*Id:id ObjectId:id Territory2Id:id"),
        version_field=None,
        description="Accounts assigned to territories.",
    ),
    LandingObject(
        "CurrencyType",
        _f("*IsoCode ConversionRate:rate IsCorporate:boolean"),
        key=("IsoCode",),
        version_field=None,
        description="Current conversion rate per currency (units per 1 corporate-currency unit).",
    ),
    LandingObject(
        "DatedConversionRate",
        _f("*IsoCode ConversionRate:rate *StartDate:date NextStartDate:date"),
        key=("IsoCode", "StartDate"),
        version_field=None,
        description="Conversion rates in force from StartDate until NextStartDate.",
    ),
    LandingObject(
        "OpportunityStage",
        _f(
            "*ApiName MasterLabel IsActive:boolean IsClosed:boolean IsWon:boolean DefaultProbability:number "
            "ForecastCategoryName SortOrder:integer",
            ApiName="the value opportunities carry in StageName",
            DefaultProbability="percent 0-100",
            SortOrder="position in the sales process",
        ),
        key=("ApiName",),
        version_field=None,
        key_fallbacks=(("ApiName", "MasterLabel"),),
        when_absent="optional: stages come from the records' IsClosed/IsWon and seeds/opportunity_stages.csv",
        description="The org's own sales process (stage picklist); overrides seeds/opportunity_stages.csv.",
    ),
    LandingObject(
        "LeadStatus",
        _f(
            "*ApiName MasterLabel IsConverted:boolean IsDefault:boolean SortOrder:integer",
            ApiName="the value leads carry in Status",
        ),
        key=("ApiName",),
        version_field=None,
        key_fallbacks=(("ApiName", "MasterLabel"),),
        when_absent="optional: lead lifecycle stages come from seeds/lead_statuses.csv",
        description="The org's own lead process (status picklist); overrides seeds/lead_statuses.csv.",
    ),
)

#: Metadata columns that managed connectors add to every table (matched by ``header_key``). A deleted
#: flag (boolean, or a timestamp set when the record was deleted) counts as ``IsDeleted``; a sync
#: timestamp orders versions when the file has no ``SystemModstamp``. Both are also kept as columns.
CONNECTOR_DELETED_COLUMNS: dict[str, str] = {
    "fivetrandeleted": "boolean",  # Fivetran
    "sdcdeleted": "boolean",
    "sdcdeletedat": "timestamp",  # Stitch
    "abcdcdeletedat": "timestamp",  # Airbyte (CDC)
    "isdeletedflag": "boolean",
}
CONNECTOR_SYNC_COLUMNS: tuple[str, ...] = (
    "fivetransynced",  # Fivetran
    "sdcextractedat",
    "sdcbatchedat",  # Stitch
    "airbyteextractedat",
    "airbyteemittedat",  # Airbyte
)

#: KPIs left partial when a landing file lacks a column (named in the run's warning). Fields not listed
#: feed descriptive columns only.
FIELD_KPIS: dict[tuple[str, str], str] = {
    ("Opportunity", "StageName"): "all opportunity KPIs (stage semantics)",
    ("Opportunity", "CloseDate"): "bookings, win rate, deal size, coverage, velocity (close-date periods)",
    ("Opportunity", "CreatedDate"): "sales velocity (cycle days), funnel leakage cohorts",
    (
        "Opportunity",
        "OwnerId",
    ): "bookings and win rate by owner, attainment, coverage (to the unassigned rep)",
    ("Opportunity", "Amount"): "bookings, deal size, coverage, velocity, win rate by amount",
    ("Opportunity", "IsClosed"): "stage semantics for stages missing from OpportunityStage and the seed",
    ("Opportunity", "IsWon"): "stage semantics for stages missing from OpportunityStage and the seed",
    ("Opportunity", "CurrencyIsoCode"): "none (amounts are taken as the corporate currency)",
    ("Opportunity", "AccountId"): "segment and territory breakdowns",
    ("Opportunity", "LeadSource"): "win rate and bookings by lead source",
    ("OpportunityHistory", "OpportunityId"): "funnel leakage, stage bottlenecks",
    ("OpportunityHistory", "StageName"): "funnel leakage, stage bottlenecks",
    ("OpportunityHistory", "CreatedDate"): "funnel leakage, stage bottlenecks (dwell days)",
    ("Lead", "Status"): "lead funnel, MQL to SQL",
    ("Lead", "CreatedDate"): "lead conversion (created-month cohorts)",
    ("Lead", "IsConverted"): "lead conversion",
    ("Lead", "LeadSource"): "lead funnel by source",
    ("LeadHistory", "LeadId"): "MQL to SQL (status changes)",
    ("LeadHistory", "NewValue"): "MQL to SQL (status changes)",
    ("Task", "OwnerId"): "activity mix by rep",
    ("Task", "ActivityDate"): "activity mix (weeks), activity effectiveness",
    ("Task", "Type"): "activity mix categories (TaskSubtype is used instead)",
    ("Task", "WhatId"): "activity effectiveness",
    ("Event", "OwnerId"): "activity mix by rep",
    ("Event", "StartDateTime"): "activity mix (weeks), activity effectiveness",
    ("Event", "DurationInMinutes"): "activity minutes (end - start, else the type's default duration)",
    ("Account", "Segment__c"): "breakdowns by segment",
    ("Account", "OwnerId"): "territory balance (accounts)",
    ("ForecastingQuota", "QuotaOwnerId"): "quota attainment, % of reps at quota, coverage",
    ("ForecastingQuota", "StartDate"): "quota attainment, % of reps at quota, coverage",
    ("ForecastingQuota", "QuotaAmount"): "quota attainment, % of reps at quota, coverage",
    ("ForecastingQuota", "ForecastingTypeId"): "none (all quotas count as one forecasting type)",
    ("User", "ManagerId"): "% of reps at quota by manager",
    ("UserTerritory2Association", "UserId"): "territory balance",
    ("ObjectTerritory2Association", "ObjectId"): "territory balance",
    ("DatedConversionRate", "ConversionRate"): "multi-currency amounts",
    ("CurrencyType", "ConversionRate"): "multi-currency amounts",
}

OBJECTS_BY_NAME: dict[str, LandingObject] = {o.name: o for o in OBJECTS}
CORE_OBJECTS = tuple(o.name for o in OBJECTS if o.core)

#: Objects a daily incremental export delivers on every extract date, a header-only file when nothing
#: changed (records that change every business day). The others arrive when they change (users,
#: territories, quotas, rates, picklists); a missing day of theirs is normal. Freshness
#: (orchestration/defs/freshness.py) expects these every day, and the demo generator writes them so.
DAILY_OBJECTS = frozenset(
    {"Account", "Opportunity", "OpportunityHistory", "Lead", "LeadHistory", "Task", "Event"}
)


def get_object(name: str) -> LandingObject:
    try:
        return OBJECTS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown landing object {name!r}; known: {', '.join(OBJECTS_BY_NAME)}") from None
