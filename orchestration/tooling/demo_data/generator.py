"""``generate()``: simulate the sales organisation and write every landing object as daily extracts.

Objects are simulated, made dirty and written a group at a time (organisation, opportunities, leads,
activities, quotas), and each group is dropped once written: at scale L the simulated rows of all
objects together would not fit comfortably in memory, while one group at a time does. Only small
per-record facts (opportunity deletion times, activity targets) travel between groups. Each object's
dirt draws from its own random stream, so the groups can run in any order.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np

from orchestration.contract import DAILY_OBJECTS, OBJECTS

from .activities import simulate_activities
from .calendar import Calendar
from .dialects import DIALECTS, Dialect, get_dialect
from .dirt import Parts, add_duplicates, delete_some, latest_version, make_late, tombstones
from .dirty import Dirt
from .frame import Frame
from .leads import converted_opportunities, simulate_leads
from .opportunities import Opps, simulate_opportunities
from .org import build_org
from .quotas import build_quotas
from .scales import get_scale
from .seeds import Stages, load_seeds
from .writer import FORMATS, HEADER_STYLES, MALFORMED, BatchStyle, WriteResult, write_parts

#: Share of records deleted after their last change, and of those undeleted later.
OPP_DELETE_SHARE = 0.01  # of lost opportunities that did not come from a lead
LEAD_DELETE_SHARE = 0.005
ACTIVITY_DELETE_SHARE = 0.003
UNDELETE_SHARE = 0.4


def _peak_memory_gb() -> float:
    """Peak resident memory of this process so far (0 where the platform does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1e9 if sys.platform == "darwin" else 1e6)  # bytes on macOS, KiB elsewhere


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled, self.t0 = enabled, time.perf_counter()

    def __call__(self, msg: str) -> None:
        if self.enabled:
            stamp = f"{time.perf_counter() - self.t0:7.1f}s, peak {_peak_memory_gb():4.1f} GB"
            print(f"[generate {stamp}] {msg}", file=sys.stderr, flush=True)


def _by_object(frames: list[Frame]) -> dict[str, Parts]:
    grouped: dict[str, Parts] = {}
    for f in frames:
        grouped.setdefault(f.obj.name, []).append(f)
    return grouped


class _Sink:
    """Adds late rows and duplicates to an object's rows and writes them; collects the counts."""

    def __init__(
        self,
        out: Path,
        cal: Calendar,
        style: BatchStyle,
        seed: int,
        n_bad: int,
        log: _Progress,
        dialect: Dialect | None = None,
    ) -> None:
        self.out, self.cal, self.style, self.seed, self.n_bad, self.log = out, cal, style, seed, n_bad, log
        self.dialect = dialect
        self.con = duckdb.connect()
        self.con.execute("SET threads = 1")  # keeps JSON row order, hence byte-identical output
        self.written: dict[str, WriteResult] = {}

    def rng(self, name: str) -> np.random.Generator:
        """The dirt stream of one object."""
        return np.random.default_rng([self.seed, 200 + _INDEX[name]])

    def write(self, parts: Parts, rng: np.random.Generator | None = None) -> None:
        name = parts[0].obj.name
        rng = rng or self.rng(name)
        parts = add_duplicates(rng, make_late(rng, parts, self.cal.days), self.cal.days)
        bad = self.n_bad if name in MALFORMED else 0
        malformed_rng = np.random.default_rng([self.seed, 100 + _INDEX[name]])
        w = write_parts(
            parts,
            self.out,
            self.cal,
            self.style,
            bad,
            malformed_rng,
            self.con,
            self.dialect,
            every_day=name in DAILY_OBJECTS,
        )
        self.written[name] = w
        self.log(f"wrote {name}: {w.rows:,} rows in {w.files} files")

    def result(self, malformed: bool) -> dict[str, int]:
        self.con.close()
        result: dict[str, int] = {"files": 0, "malformed": 0}
        for obj in OBJECTS:
            if obj.name not in self.written:  # metadata objects (OpportunityStage, ...): not simulated
                continue
            w = self.written[obj.name]
            result[obj.name] = w.rows
            result["files"] += w.files
            result["malformed"] += w.malformed
            if malformed and self.n_bad:
                result[f"malformed.{obj.name}"] = w.malformed
        return result


_INDEX = {o.name: i for i, o in enumerate(OBJECTS)}


def generate(
    out: str | Path,
    scale: str = "S",
    days: int = 365,
    seed: int = 7,
    start: date = date(2025, 1, 1),
    fmt: str = "csv",
    header_style: str = "api",
    malformed: bool = False,
    progress: bool = True,
    dialect: str | None = None,
    dirty: bool = False,
) -> dict[str, int]:
    """Write demo extracts of every simulated landing object under ``out``; deterministic for the
    arguments. ``dialect`` (``api``, ``report``, ``connector``: see :mod:`.dialects`) writes CSV in the
    shape of that kind of export; it takes the place of ``fmt`` and ``header_style``. ``dirty`` adds odd
    but possible records (unknown stages and activity types, events without a duration, overlapping
    dated rates, deals closed before they were created, negative and empty amounts, conversions without
    history...: see :mod:`.dirty`). The objects of the daily export (``DAILY_OBJECTS``) have a file on
    every extract date, one without rows when nothing changed.

    Returns rows written per object (duplicates and malformed rows included), ``files``, ``malformed``
    (malformed rows in total, each with exactly one bad cell) and ``malformed.<Object>`` per object;
    with ``dirty``, ``dirty.<kind>``: the records changed by each kind of :data:`.dirty.KINDS`.
    """
    if fmt not in (*FORMATS, "mixed"):
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, mixed; got {fmt!r}")
    if header_style not in (*HEADER_STYLES, "mixed"):
        raise ValueError(
            f"header_style must be one of {', '.join(HEADER_STYLES)}, mixed; got {header_style!r}"
        )
    if days < 1:
        raise ValueError("days must be at least 1")
    if dialect is not None and (fmt != "csv" or header_style != "api"):
        raise ValueError(
            f"a dialect ({', '.join(DIALECTS)}) sets the format and headers itself: "
            "use it with the default fmt (csv) and header_style (api)"
        )
    dialect_spec = get_dialect(dialect) if dialect is not None else None
    sc = get_scale(scale)
    log = _Progress(progress)
    cal = Calendar(start, days)
    seeds = load_seeds()
    # Independent streams per part, so that changing one part does not reshuffle the others.
    rngs = [np.random.default_rng([seed, part]) for part in range(5)]
    n_bad = sc.malformed_per_object if malformed else 0
    sink = _Sink(Path(out), cal, BatchStyle(fmt, header_style, seed), seed, n_bad, log, dialect_spec)
    dirt = Dirt(seed) if dirty else None

    org = build_org(rngs[0], sc, cal)
    log(f"organisation: {len(org.rep_user)} reps in {org.n_teams} teams, {len(org.acc_owner):,} accounts")
    for name, parts in _by_object(org.frames).items():
        if dirt and name == "DatedConversionRate":
            parts = dirt.dated_rates(parts, cal)
        sink.write(parts)
    org.frames = []

    opps, opp_frames = simulate_opportunities(rngs[1], sc, cal, org, seeds.stages)
    log(f"opportunities: {len(opps.created):,} with {len(opp_frames[0]):,} history rows")
    converted = converted_opportunities(rngs[2], opps)
    deleted_at, restored_at = _write_opportunities(sink, opp_frames, opps, converted, dirt, seeds.stages)
    del opp_frames

    lead, events = simulate_leads(rngs[2], cal, org, opps, seeds.lead_statuses, -150.0, converted)
    log(f"leads: {len(events.t):,} history rows")
    _write_leads(sink, dirt.leads(lead) if dirt else lead)
    del lead
    history = events.history_frame()
    sink.write([dirt.lead_history(history) if dirt else history])
    del events, history

    acts = simulate_activities(rngs[3], sc, cal, org, opps, seeds.activity_types)
    log(f"activities: {sum(len(f) for f in acts.frames):,} task and event rows")
    frames, what_opp = _by_object(acts.frames), acts.what_opp
    del acts
    for name in ("Task", "Event"):
        parts = frames.pop(name)
        if dirt:
            parts = dirt.tasks(parts) if name == "Task" else dirt.events(parts)
        _write_activities(sink, parts, what_opp, deleted_at, restored_at)
    del what_opp

    sink.write([build_quotas(rngs[4], cal, org, opps)])
    result = sink.result(malformed)
    if dirt:
        result.update({f"dirty.{kind}": n for kind, n in dirt.planted.items()})
    return result


def _write_opportunities(
    sink: _Sink, frames: list[Frame], opps: Opps, converted: np.ndarray, dirt: Dirt | None, stages: Stages
) -> tuple[np.ndarray, np.ndarray]:
    """Write Opportunity and OpportunityHistory; returns deletion / undeletion time per opportunity.

    Deleting an opportunity cascades to its history and activities (Salesforce's recycle bin); lost
    opportunities that did not come from a lead are the candidates.
    """
    n_opps = len(opps.created)
    by = _by_object(frames)
    if dirt:
        (opp_frame,), (hist_frame,) = by["Opportunity"], by["OpportunityHistory"]
        opp_frame, hist_frame = dirt.opportunities(opp_frame, hist_frame, opps, stages, sink.cal)
        by = {"Opportunity": [opp_frame], "OpportunityHistory": [hist_frame]}
    lost = np.flatnonzero(opps.lost & ~np.isin(np.arange(n_opps), converted))
    rng = sink.rng("Opportunity")
    opp, deleted_at, restored_at = delete_some(
        rng, by["Opportunity"], lost, n_opps, OPP_DELETE_SHARE, UNDELETE_SHARE
    )
    sink.write(opp, rng)
    hist = by["OpportunityHistory"]
    sink.write([*hist, tombstones(hist, deleted_at, True), tombstones(hist, restored_at, False)])
    return deleted_at, restored_at


def _write_leads(sink: _Sink, lead: Frame) -> None:
    """Write Lead, with some unconverted leads deleted (and a few of those undeleted)."""
    n_leads = int(lead.entity.max()) + 1 if len(lead) else 0
    converted = latest_version([lead.take(np.flatnonzero(lead.cols["IsConverted"] == 1))], n_leads)
    unconverted = np.flatnonzero(np.isnan(converted))
    rng = sink.rng("Lead")
    parts, _, _ = delete_some(rng, [lead], unconverted, n_leads, LEAD_DELETE_SHARE, UNDELETE_SHARE)
    sink.write(parts, rng)


def _write_activities(
    sink: _Sink, parts: Parts, what_opp: np.ndarray, deleted_at: np.ndarray, restored_at: np.ndarray
) -> None:
    """Tasks or events: tombstones of deleted opportunities' activities, then some of their own."""
    target = np.maximum(what_opp, 0)
    cascade_del = np.where(what_opp >= 0, deleted_at[target], np.nan)
    cascade_back = np.where(what_opp >= 0, restored_at[target], np.nan)
    del target
    present = np.zeros(len(what_opp), dtype=bool)  # a mask, not np.unique: a sort of 15M rows at L
    for p in parts:
        present[p.entity] = True
    own = np.flatnonzero(present & (what_opp < 0))
    del present
    parts = [*parts, tombstones(parts, cascade_del, True), tombstones(parts, cascade_back, False)]
    del cascade_del, cascade_back
    rng = sink.rng(parts[0].obj.name)
    parts, _, _ = delete_some(rng, parts, own, len(what_opp), ACTIVITY_DELETE_SHARE, UNDELETE_SHARE)
    sink.write(parts, rng)
