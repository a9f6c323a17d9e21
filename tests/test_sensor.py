"""The landing sensor: each landed folder is requested once, settled folders only, one run over the
dates of a tick, folders before the first partition ignored."""

import json
from datetime import date

import dagster as dg

from orchestration.defs.resources import WarehouseResource
from orchestration.defs.sensors import LANDING_SENSOR, new_folders, run_request_for
from orchestration.defs.tags import LANDING_FOLDERS_TAG, RANGE_END_TAG, RANGE_START_TAG
from orchestration.settings import Settings
from tests.conftest import LandFile


def _evaluate(defs: dg.Definitions, settings: Settings, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        definitions=defs,
        resources={"warehouse": WarehouseResource.from_settings(settings)},
    )
    return defs.resolve_sensor_def(LANDING_SENSOR).evaluate_tick(context)


def test_sensor_requests_each_landed_folder_once(
    defs: dg.Definitions, settings: Settings, land: LandFile
) -> None:
    landing = settings.landing_dir
    land(landing, "User", "2025-01-02")
    land(landing, "Opportunity", "2025-01-02")
    (landing / "Opportunity" / "not-a-date").mkdir(parents=True)  # ignored
    (landing / "Account" / "2025-01-02").mkdir(parents=True)  # no files yet: not a batch
    land(landing, "Lead", "2025-01-02", age_seconds=0)  # still landing: left for a later tick

    first = _evaluate(defs, settings, None)
    assert [r.partition_key for r in first.run_requests] == ["2025-01-02"]
    assert json.loads(first.cursor) == ["Opportunity/2025-01-02", "User/2025-01-02"]

    land(landing, "Lead", "2025-01-02")  # has settled now
    second = _evaluate(defs, settings, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["2025-01-02"]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert _evaluate(defs, settings, second.cursor).run_requests == []

    land(landing, "Account", "2025-01-02")
    land(landing, "Opportunity", "2025-01-04")
    land(landing, "Opportunity", "2025-01-03")
    third = _evaluate(defs, settings, second.cursor)
    (request,) = third.run_requests
    assert request.partition_key is None
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == ("2025-01-02", "2025-01-04")
    assert _evaluate(defs, settings, third.cursor).run_requests == []


def test_sensor_ignores_folders_before_the_partition_start(
    defs: dg.Definitions, settings: Settings, land: LandFile
) -> None:
    land(settings.landing_dir, "User", "2024-12-31")
    assert _evaluate(defs, settings, None).run_requests == []


# --- the sensor's decisions, pure -------------------------------------------------------------------------

D1, D2, D3 = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)


def test_new_folders_skips_seen_ones_and_sets_aside_those_before_the_start() -> None:
    landed = {"User/2025-01-01": D1, "User/2025-01-02": D2, "Lead/2025-01-03": D3}
    assert new_folders(landed, {"User/2025-01-02"}, D2) == ({"Lead/2025-01-03": D3}, ["User/2025-01-01"])
    assert new_folders(landed, set(landed), D1) == ({}, [])


def test_run_request_for_one_date_is_a_partition_and_for_several_a_range() -> None:
    one = run_request_for(["User/2025-01-02", "Lead/2025-01-02"], [D2, D2])
    assert (one.partition_key, one.tags) == ("2025-01-02", {LANDING_FOLDERS_TAG: "2"})
    assert run_request_for(["a", "b"], [D1]).run_key == run_request_for(["b", "a"], [D1]).run_key
    assert run_request_for(["a"], [D3, D1]).tags[RANGE_START_TAG] == "2025-01-01"
    assert run_request_for(["a"], [D3, D1]).partition_key is None
