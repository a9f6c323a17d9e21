"""The choices the assets, schedule, sensor and ``run_pipeline`` make, as pure functions: what dbt runs
(full refresh or not, unit tests or not, when the fingerprint is recorded), which dbt models publish
depends on, and which extract dates a run covers."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.contract import RAW_SCHEMA
from orchestration.defs.dbt_assets import (
    TRANSLATOR,
    dbt_build_args,
    full_refresh_needed,
    model_keys,
    records_fingerprint,
)
from orchestration.defs.partitions import (
    extract_dates,
    partition_range,
    run_partition,
    scheduled_partition,
)
from orchestration.defs.tags import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG

D1, D2, D3 = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)


# --- dbt ----------------------------------------------------------------------------------------------------


def test_full_refresh_when_never_built_or_built_by_another_project() -> None:
    assert full_refresh_needed(None, "abc")
    assert full_refresh_needed("old", "abc")
    assert not full_refresh_needed("abc", "abc")


def test_dbt_build_args() -> None:
    assert dbt_build_args(full_refresh=True) == [
        "build",
        "--full-refresh",
        "--exclude-resource-type",
        "unit_test",
    ]
    assert dbt_build_args(full_refresh=False) == ["build", "--exclude-resource-type", "unit_test"]


def test_fingerprint_is_recorded_only_after_building_every_model() -> None:
    assert records_fingerprint(is_subset=False)
    assert not records_fingerprint(is_subset=True)


def _model(name: str, schema: str, resource_type: str = "model") -> dict[str, object]:
    return {
        "unique_id": f"{resource_type}.p.{name}",
        "name": name,
        "resource_type": resource_type,
        "schema": schema,
        "fqn": ["p", name],
        "config": {"schema": schema},
        "meta": {},
    }


def test_model_keys_are_the_models_of_one_schema() -> None:
    nodes = [_model("kpi_b", "marts"), _model("kpi_a", "marts"), _model("dim_x", "core")]
    nodes.append(_model("kpi_seed", "marts", resource_type="seed"))
    manifest = {"nodes": {str(n["unique_id"]): n for n in nodes}}
    assert [k.path[-1] for k in model_keys(manifest, "marts")] == ["kpi_a", "kpi_b"]
    assert [k.path[-1] for k in model_keys(manifest, "core", prefix="fct_")] == []


def test_raw_sources_map_onto_the_raw_assets() -> None:
    source = {"resource_type": "source", "schema": RAW_SCHEMA, "name": "users", "identifier": "user"}
    assert TRANSLATOR.get_asset_key(source) == dg.AssetKey([RAW_SCHEMA, "user"])


# --- which dates a run covers -------------------------------------------------------------------------------


def test_run_partition_is_a_key_for_one_date_and_range_tags_for_several() -> None:
    assert run_partition([D2, D2]) == ("2025-01-02", {})
    assert run_partition([D3, D1]) == (None, {RANGE_START_TAG: "2025-01-01", RANGE_END_TAG: "2025-01-03"})


def test_extract_dates_of_partition_keys() -> None:
    assert extract_dates(["2025-01-01", "2025-01-02"]) == [D1, D2]


def test_partition_range_from_run_tags() -> None:
    assert partition_range({PARTITION_TAG: "2025-01-02"}) == "2025-01-02..2025-01-02"
    assert partition_range({RANGE_START_TAG: "2025-01-01", RANGE_END_TAG: "2025-01-03"}) == (
        "2025-01-01..2025-01-03"
    )
    assert partition_range({}) == ""


def test_scheduled_partition_is_the_day_in_the_schedules_time_zone() -> None:
    late_utc = datetime(2025, 3, 4, 23, 30, tzinfo=UTC)
    assert scheduled_partition(late_utc) == "2025-03-04"
    assert scheduled_partition(late_utc.astimezone(ZoneInfo("Europe/Berlin"))) == "2025-03-05"
