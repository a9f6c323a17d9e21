"""Landing sensor: requests a run for newly landed extract folders, never twice for the same folder.

A folder ``<landing>/<Object>/<YYYY-MM-DD>/`` with at least one data file is a batch. The cursor holds
every folder already requested; new folders of one tick become ONE run over their extract dates (a
single partition, or a single-run range when several dates landed at once), keyed by a ``run_key``
derived from the folders, so even a lost cursor update does not launch the same folders twice.
A folder whose files changed in the last ``settle_seconds`` is left for the next tick (still landing).
"""

import hashlib
import json
import time
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import dagster as dg

from orchestration.contract import OBJECTS
from orchestration.defs.jobs import DAILY_JOB
from orchestration.defs.partitions import run_partition
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.tags import LANDING_FOLDERS_TAG

LANDING_SENSOR = "landing_folder_sensor"
DATA_SUFFIXES = (".csv", ".parquet", ".jsonl")


def _is_date(name: str) -> bool:
    try:
        date.fromisoformat(name)
    except ValueError:
        return False
    return len(name) == 10


def landed_folders(landing_dir: Path, settle_seconds: float = 0.0) -> dict[str, date]:
    """``"Object/YYYY-MM-DD"`` -> extract date of every complete batch folder (files only, not rows)."""
    now = time.time()
    found: dict[str, date] = {}
    for obj in OBJECTS:
        obj_dir = landing_dir / obj.name
        if not obj_dir.is_dir():
            continue
        for folder in obj_dir.iterdir():
            if not (folder.is_dir() and _is_date(folder.name)):
                continue
            files = [f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in DATA_SUFFIXES]
            if files and now - max(f.stat().st_mtime for f in files) >= settle_seconds:
                found[f"{obj.name}/{folder.name}"] = date.fromisoformat(folder.name)
    return found


def run_request_for(folders: Iterable[str], dates: Iterable[date]) -> dg.RunRequest:
    """One run over the extract dates of ``folders``; its run key names exactly these folders."""
    keys = sorted(folders)
    run_key = "landing-" + hashlib.sha1("\n".join(keys).encode()).hexdigest()[:20]
    partition_key, range_tags = run_partition(dates)
    tags = {LANDING_FOLDERS_TAG: str(len(keys)), **range_tags}
    return dg.RunRequest(run_key=run_key, partition_key=partition_key, tags=tags)


def new_folders(landed: dict[str, date], seen: set[str], first: date) -> tuple[dict[str, date], list[str]]:
    """The landed folders not requested yet (``seen``), split into those to run and those dated before
    the first partition (``first``), which are ignored (and remembered, so they are reported once)."""
    new = {k: d for k, d in landed.items() if k not in seen}
    early = sorted(k for k, d in new.items() if d < first)
    return {k: d for k, d in new.items() if d >= first}, early


def build_landing_sensor(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    *,
    settle_seconds: float = 60.0,
    minimum_interval_seconds: int = 60,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=LANDING_SENSOR,
        job_name=DAILY_JOB,
        minimum_interval_seconds=minimum_interval_seconds,
        description="Runs the daily job for newly landed extract folders (each folder once).",
    )
    def landing_folder_sensor(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.SensorResult | dg.SkipReason:
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        landed = landed_folders(Path(warehouse.landing_dir), settle_seconds)
        first = partitions_def.start.date()
        new, early = new_folders(landed, seen, first)
        if early:
            context.log.warning(
                f"ignoring {len(early)} folder(s) before partition start {first}: {early[:5]}"
            )
        if not new:
            return dg.SkipReason(f"no new extract folders in {warehouse.landing_dir}")
        context.log.info(f"{len(new)} new extract folder(s): {sorted(new)[:10]}")
        return dg.SensorResult(
            run_requests=[run_request_for(new, new.values())],
            cursor=json.dumps(sorted(seen | set(new) | set(early))),
        )

    return landing_folder_sensor
