"""Reference data the generator follows: the dbt seeds, so generated values always match them."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orchestration.settings import PROJECT_ROOT

SEEDS_DIR = PROJECT_ROOT / "seeds"


def _rows(name: str, seeds_dir: Path) -> list[dict[str, str]]:
    with open(seeds_dir / f"{name}.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _bool(v: str) -> bool:
    return v.strip().lower() in ("true", "1", "yes")


@dataclass(frozen=True)
class Stages:
    """Open stages in funnel order, then the won and the lost stage."""

    names: tuple[str, ...]
    probability_pct: np.ndarray
    forecast: tuple[str, ...]
    n_open: int
    won: int
    lost: int


@dataclass(frozen=True)
class LeadStatuses:
    open: str
    working: str
    mql: str
    sql: str
    converted: str
    disqualified: str


@dataclass(frozen=True)
class ActivityTypes:
    source: tuple[str, ...]
    name: tuple[str, ...]
    is_selling: np.ndarray
    default_minutes: np.ndarray


@dataclass(frozen=True)
class Seeds:
    stages: Stages
    lead_statuses: LeadStatuses
    activity_types: ActivityTypes


def load_seeds(seeds_dir: Path = SEEDS_DIR) -> Seeds:
    stage_rows = sorted(_rows("opportunity_stages", seeds_dir), key=lambda r: int(r["stage_order"]))
    open_rows = [r for r in stage_rows if not _bool(r["is_closed"])]
    won = [r for r in stage_rows if _bool(r["is_closed"]) and _bool(r["is_won"])][0]
    lost = [r for r in stage_rows if _bool(r["is_closed"]) and not _bool(r["is_won"])][0]
    ordered = [*open_rows, won, lost]
    stages = Stages(
        names=tuple(r["stage_name"] for r in ordered),
        probability_pct=np.array([round(float(r["default_probability"]) * 100) for r in ordered], float),
        forecast=tuple(r["forecast_category"] for r in ordered),
        n_open=len(open_rows),
        won=len(open_rows),
        lost=len(open_rows) + 1,
    )

    by_stage: dict[str, list[str]] = {}
    for r in sorted(_rows("lead_statuses", seeds_dir), key=lambda r: int(r["lifecycle_order"])):
        by_stage.setdefault(r["lifecycle_stage"], []).append(r["status"])
    lead = by_stage["lead"]
    statuses = LeadStatuses(
        open=lead[0],
        working=lead[-1],
        mql=by_stage["mql"][0],
        sql=by_stage["sql"][0],
        converted=by_stage["converted"][0],
        disqualified=by_stage["disqualified"][0],
    )

    act = _rows("activity_types", seeds_dir)
    types = ActivityTypes(
        source=tuple(r["activity_source"] for r in act),
        name=tuple(r["activity_type"] for r in act),
        is_selling=np.array([_bool(r["is_selling"]) for r in act]),
        default_minutes=np.array([float(r["default_duration_minutes"]) for r in act]),
    )
    return Seeds(stages, statuses, types)
