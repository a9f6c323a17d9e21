"""Picklist values no seed maps: the stage names, lead statuses and task/event types of a validated load
that neither the seeds nor a landed metadata object (OpportunityStage, LeadStatus) knows, each with the
seed line that would map it (its guessed columns taken from the rows where they can be)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from orchestration.contract import RAW_SCHEMA, get_object
from orchestration.settings import PROJECT_ROOT
from orchestration.tooling.validate_report import Unmapped

SEEDS_DIR = PROJECT_ROOT / "seeds"
STAGE_SEED = "opportunity_stages.csv"
LEAD_STATUS_SEED = "lead_statuses.csv"
ACTIVITY_TYPE_SEED = "activity_types.csv"


def read_seed(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a seed CSV, by header name (the seeds may gain rows and columns)."""
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def read_seeds(seeds_dir: Path, main: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header of the main seed file ``main`` and the rows of it and of its siblings
    (``opportunity_stages*.csv``: the stage sets of newer orgs live beside the classic one)."""
    header, rows = read_seed(seeds_dir / main)
    stem = Path(main).stem
    for sibling in sorted(seeds_dir.glob(f"{stem}*.csv")):
        if sibling.name != main:
            rows += read_seed(sibling)[1]
    return header, rows


def seed_line(header: Sequence[str], values: dict[str, Any]) -> str:
    """One CSV line in the seed's column order; columns without a value stay empty."""
    buf = io.StringIO()
    cells = ["" if values.get(c) is None else str(values[c]) for c in header]
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


def _bool(v: Any) -> str:
    return "true" if v else "false"


def _table_has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return con.execute(f'SELECT 1 FROM {RAW_SCHEMA}."{table}" LIMIT 1').fetchone() is not None


def _metadata_names(con: duckdb.DuckDBPyConnection, object_name: str) -> set[str]:
    """ApiName and MasterLabel values of a landed metadata object (OpportunityStage, LeadStatus)."""
    try:
        obj = get_object(object_name)
    except KeyError:
        return set()
    cols = [c for c in ("api_name", "master_label") if c in obj.columns]
    if not cols or not _table_has_rows(con, obj.table):
        return set()
    names: set[str] = set()
    for c in cols:
        names |= {
            r[0]
            for r in con.execute(f'SELECT DISTINCT {c} FROM {RAW_SCHEMA}."{obj.table}"').fetchall()
            if r[0]
        }
    return names


_ACTIVITY_GUESSES = (
    (
        ("call", "phone", "email", "mail", "message", "linkedin", "video", "zoom", "teams"),
        "customer_digital",
        True,
    ),
    (("meeting", "demo", "visit", "lunch", "presentation", "onsite"), "customer_in_person", True),
    (("travel", "flight", "drive"), "travel", False),
    (("training", "course", "enablement", "onboarding"), "training", False),
    (("prep", "research", "proposal"), "prep", False),
)


def _guess_activity(value: str) -> tuple[str, bool]:
    low = value.lower()
    if "internal" in low or "team" in low:
        return "internal_meeting", False
    for words, category, selling in _ACTIVITY_GUESSES:
        if any(w in low for w in words):
            return category, selling
    return "admin", False


def unmapped_values(con: duckdb.DuckDBPyConnection, seeds_dir: Path = SEEDS_DIR) -> list[Unmapped]:
    """Stage names, lead statuses and task/event types in the loaded rows that no seed (and no landed
    OpportunityStage / LeadStatus) maps, with rows and the seed line that would map each. The guessed
    columns of a line come from the rows themselves where they can (IsClosed/IsWon, probability,
    forecast category, IsConverted), else from the value's words."""
    out: list[Unmapped] = []
    rel = lambda name: f"{seeds_dir.name}/{name}"  # noqa: E731

    # Opportunity stages: seed + landed OpportunityStage.
    header, rows = read_seeds(seeds_dir, STAGE_SEED)
    known = {r.get("stage_name") for r in rows} | _metadata_names(con, "OpportunityStage")
    next_order = max(
        (int(float(r["stage_order"])) for r in rows if (r.get("stage_order") or "").strip()), default=0
    )
    stats = con.execute(
        f"""SELECT stage_name, count(*), bool_or(is_closed), bool_or(is_won), avg(probability),
                   mode(forecast_category_name)
            FROM {RAW_SCHEMA}.opportunity WHERE stage_name IS NOT NULL GROUP BY 1
            UNION ALL
            SELECT stage_name, count(*), NULL, NULL, avg(probability), mode(forecast_category)
            FROM {RAW_SCHEMA}.opportunity_history WHERE stage_name IS NOT NULL GROUP BY 1"""
    ).fetchall()
    merged: dict[str, list[Any]] = {}
    for name, n, closed, won, prob, fc in stats:
        cur = merged.setdefault(name, [0, None, None, None, None])
        cur[0] += n
        cur[1] = cur[1] or closed
        cur[2] = cur[2] or won
        cur[3] = cur[3] if cur[3] is not None else prob
        cur[4] = cur[4] or fc
    for name in sorted(v for v in merged if v not in known):
        n, closed, won, prob, fc = merged[name]
        next_order += 1
        values = {
            "stage_name": name,
            "stage_order": next_order,
            "default_probability": f"{(prob or 0) / 100:.2f}",
            "is_closed": _bool(closed),
            "is_won": _bool(won),
            "forecast_category": fc or ("Closed" if won else "Omitted" if closed else "Pipeline"),
        }
        out.append(Unmapped("Opportunity", "StageName", name, n, rel(STAGE_SEED), seed_line(header, values)))

    # Lead statuses: seed + landed LeadStatus; Lead.Status and the Status changes of LeadHistory.
    header, rows = read_seeds(seeds_dir, LEAD_STATUS_SEED)
    known = {r.get("status") for r in rows} | _metadata_names(con, "LeadStatus")
    order = {r.get("lifecycle_stage"): r.get("lifecycle_order") for r in rows}
    stats = con.execute(
        f"""SELECT v, sum(n), bool_or(conv) FROM (
                SELECT status AS v, count(*) AS n, bool_or(is_converted) AS conv
                FROM {RAW_SCHEMA}.lead WHERE status IS NOT NULL GROUP BY 1
                UNION ALL
                SELECT new_value, count(*), NULL FROM {RAW_SCHEMA}.lead_history
                WHERE field = 'Status' AND new_value IS NOT NULL GROUP BY 1)
            GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    for value, n, conv in stats:
        if value in known:
            continue
        low = value.lower()
        stage = (
            "converted"
            if conv or "convert" in low
            else "disqualified"
            if any(w in low for w in ("unqualified", "disqualified", "not converted", "junk", "lost"))
            else "sql"
            if "sales qualified" in low or low == "qualified"
            else "mql"
            if "marketing" in low or "mql" in low
            else "lead"
        )
        values = {"status": value, "lifecycle_stage": stage, "lifecycle_order": order.get(stage)}
        out.append(
            Unmapped("Lead", "Status", value, int(n), rel(LEAD_STATUS_SEED), seed_line(header, values))
        )

    # Task and event types.
    header, rows = read_seeds(seeds_dir, ACTIVITY_TYPE_SEED)
    known_types = {(r.get("activity_source"), r.get("activity_type")) for r in rows}
    durations = {r.get("category"): r.get("default_duration_minutes") for r in rows}
    for obj_name, source, table in (("Task", "task", "task"), ("Event", "event", "event")):
        for value, n in con.execute(
            f"SELECT type, count(*) FROM {RAW_SCHEMA}.{table} WHERE type IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).fetchall():
            if (source, value) in known_types:
                continue
            category, selling = _guess_activity(value)
            values = {
                "activity_source": source,
                "activity_type": value,
                "category": category,
                "is_selling": _bool(selling),
                "default_duration_minutes": durations.get(category) or 30,
            }
            out.append(
                Unmapped(obj_name, "Type", value, int(n), rel(ACTIVITY_TYPE_SEED), seed_line(header, values))
            )
    return out
