"""Dirty mode (``generate(..., dirty=True)``, ``sales-wh generate --dirty``): odd but possible records.

Real CRM exports carry records that look wrong and are not: custom stages and activity types the seeds
do not know, events without a duration, a dated conversion rate whose range was never closed, deals
migrated into the org after they closed, credits, deals without an amount, far-future close dates,
leads converted before field history tracking was on. The models must keep, count and warn about them
(DESIGN.md, docs/CHECKS.md), never stop a publish for them.

Each kind below changes a small, exact share of its candidate records: ``max(1, round(share * n))`` of
the ``n`` candidates (none when there is none), drawn from the kind's own random stream, so the files
are deterministic per seed and the clean streams of the generator are untouched. A record's every row
(each version, its history rows) is changed alike, except where a kind says otherwise. ``generate()``
returns the number of records of each kind as ``dirty.<kind>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from orchestration.contract import CORPORATE_CURRENCY

from .calendar import OPEN_END, Calendar
from .dirt import Parts
from .frame import Cat, Frame, concat
from .leads import DISQUALIFIED
from .opportunities import Opps
from .seeds import Stages

#: Values no seed maps (seeds/opportunity_stages*.csv, activity_types.csv, activity_subtypes.csv,
#: lead_statuses.csv): an org's own picklist values.
UNKNOWN_OPEN_STAGE = "Legal Review"
UNKNOWN_LOST_STAGE = "Closed - Duplicate"
UNKNOWN_WON_STAGE = "Closed - Signed"
UNKNOWN_TASK_TYPE = "Webinar Follow-up"
UNKNOWN_EVENT_TYPE = "Conference"
UNKNOWN_LEAD_STATUS = "Recycled"
#: A close date typed ten years ahead (2035 for 2025).
YEARS_AHEAD_DAYS = 3652


@dataclass(frozen=True)
class Kind:
    name: str
    share: float
    #: The candidates the share is of, and what is changed.
    what: str


KINDS: tuple[Kind, ...] = (
    Kind(
        "opportunity_unknown_open_stage",
        0.03,
        "of opportunities that were ever in the last open stage (Negotiation/Review): that stage is "
        f"'{UNKNOWN_OPEN_STAGE}' in their Opportunity and OpportunityHistory rows",
    ),
    Kind(
        "opportunity_unknown_lost_stage",
        0.03,
        f"of lost opportunities: their lost stage is '{UNKNOWN_LOST_STAGE}' (IsClosed true, IsWon false)",
    ),
    Kind(
        "opportunity_unknown_won_stage",
        0.03,
        f"of won opportunities: their won stage is '{UNKNOWN_WON_STAGE}' (IsClosed true, IsWon true)",
    ),
    Kind(
        "opportunity_closed_before_created",
        0.01,
        "of opportunities closed 31+ days before the last extract: CreatedDate 1-30 days after the "
        "CloseDate (records migrated into the org after they closed)",
    ),
    Kind("opportunity_negative_amount", 0.01, "of opportunities: Amount negative (credits)"),
    Kind(
        "opportunity_null_amount",
        0.01,
        "of opportunities (none with a negative amount): Amount empty in every row",
    ),
    Kind(
        "opportunity_close_date_years_ahead",
        0.01,
        f"of opportunities open at the end: CloseDate {YEARS_AHEAD_DAYS} days (ten years) later",
    ),
    Kind(
        "task_unknown_type",
        0.01,
        f"of tasks: Type and Subject '{UNKNOWN_TASK_TYPE}', TaskSubtype empty (written by an integration)",
    ),
    Kind(
        "task_zero_call_duration",
        0.02,
        "of tasks with a CallDurationInSeconds: 0 seconds (unanswered calls)",
    ),
    Kind("event_unknown_type", 0.01, f"of events: Type and Subject '{UNKNOWN_EVENT_TYPE}'"),
    Kind(
        "event_missing_duration",
        0.03,
        "of events: DurationInMinutes empty; of these, by Id order, one in three keeps its EndDateTime, "
        "one loses it, one ends before it starts",
    ),
    Kind(
        "event_zero_duration",
        0.01,
        "of events (none missing a duration): DurationInMinutes 0, EndDateTime = StartDateTime",
    ),
    Kind(
        "lead_converted_without_history",
        0.05,
        "of converted leads: no LeadHistory row at all (converted before field history tracking was on)",
    ),
    Kind(
        "lead_unknown_status",
        0.03,
        f"of disqualified leads: the disqualified status is '{UNKNOWN_LEAD_STATUS}' (Lead and LeadHistory)",
    ),
    Kind(
        "dated_rate_overlapping",
        0.2,
        "of the updates that close a non-corporate currency's dated rate when the next month's arrives: "
        "left out, so that range stays open-ended (NextStartDate 9999-12-31) over the later ones",
    ),
)
SHARES = {k.name: k.share for k in KINDS}
_STREAM = {k.name: 400 + i for i, k in enumerate(KINDS)}


def _set_text(cat: Cat, rows: np.ndarray, value: str | None) -> Cat:
    """``cat`` with ``value`` (None: null) in the ``rows`` (a boolean mask)."""
    if value is None:
        return Cat(np.where(rows, -1, cat.codes), cat.categories)
    cats = pa.concat_arrays([cat.categories, pa.array([value], type=pa.string())])
    return Cat(np.where(rows, len(cat.categories), cat.codes), cats)


def _entity_mask(chosen: np.ndarray, frame: Frame) -> np.ndarray:
    """Rows of ``frame`` that belong to the ``chosen`` entities."""
    size = max(int(frame.entity.max()) + 1 if len(frame) else 0, int(chosen.max()) + 1 if len(chosen) else 0)
    hit = np.zeros(size, dtype=bool)
    hit[chosen] = True
    return hit[frame.entity]


def _entities(parts: Parts, rows_of: Callable[[Frame], np.ndarray] | None = None) -> np.ndarray:
    """Distinct entities of ``parts`` (those with a row where ``rows_of(frame)`` is true)."""
    pieces = [p.entity if rows_of is None else p.entity[rows_of(p)] for p in parts]
    return np.unique(np.concatenate(pieces)) if pieces else np.zeros(0, np.int64)


def _codes(frame: Frame, name: str) -> np.ndarray:
    col = frame.cols[name]
    assert isinstance(col, Cat)
    return col.codes


def _values(frame: Frame, name: str) -> np.ndarray:
    col = frame.cols[name]
    assert isinstance(col, np.ndarray)
    return col


@dataclass
class Dirt:
    """The odd records of one ``generate()`` run; ``planted`` counts the records of each kind."""

    seed: int
    planted: dict[str, int] = field(default_factory=dict)
    _lead_without_history: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _lead_recycled: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def pick(self, kind: str, candidates: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        """``max(1, round(share * len(candidates)))`` of the candidates (sorted), none of ``exclude``."""
        n = len(candidates)
        k = max(1, round(SHARES[kind] * n)) if n else 0
        pool = candidates if exclude is None else candidates[~np.isin(candidates, exclude)]
        k = min(k, len(pool))
        rng = np.random.default_rng([self.seed, _STREAM[kind]])
        chosen = np.sort(rng.choice(pool, size=k, replace=False)) if k else np.zeros(0, np.int64)
        self.planted[kind] = k
        return chosen

    # --- organisation ------------------------------------------------------------------------------

    def dated_rates(self, parts: Parts, cal: Calendar) -> Parts:
        """Leave out some updates that close a dated rate's range (non-corporate currencies)."""
        frame = concat(parts)
        open_end = float(cal.rel(OPEN_END))
        iso = frame.cols["IsoCode"]
        assert isinstance(iso, Cat)
        corporate = np.asarray(iso.categories.to_pylist())[iso.codes] == CORPORATE_CURRENCY
        closing = np.flatnonzero((frame.day > 0) & (_values(frame, "NextStartDate") < open_end) & ~corporate)
        dropped = self.pick("dated_rate_overlapping", closing)
        keep = np.ones(len(frame), dtype=bool)
        keep[dropped] = False
        return [frame.take(np.flatnonzero(keep))]

    # --- opportunities -----------------------------------------------------------------------------

    def opportunities(
        self, opp: Frame, hist: Frame, opps: Opps, stages: Stages, cal: Calendar
    ) -> tuple[Frame, Frame]:
        last_open = stages.n_open - 1
        ever_last_open = _entities([opp, hist], lambda f: _codes(f, "StageName") == last_open)
        renames = (
            (last_open, self.pick("opportunity_unknown_open_stage", ever_last_open), UNKNOWN_OPEN_STAGE),
            (
                stages.lost,
                self.pick("opportunity_unknown_lost_stage", np.flatnonzero(opps.lost)),
                UNKNOWN_LOST_STAGE,
            ),
            (
                stages.won,
                self.pick("opportunity_unknown_won_stage", np.flatnonzero(opps.won)),
                UNKNOWN_WON_STAGE,
            ),
        )
        close_day = np.floor(opps.close_t)
        closed_early = np.flatnonzero(~np.isnan(close_day) & (close_day + 31 <= cal.days))
        migrated = self.pick("opportunity_closed_before_created", closed_early)
        created = np.array(opps.created)
        rng = np.random.default_rng([self.seed, _STREAM["opportunity_closed_before_created"], 1])
        created[migrated] = close_day[migrated] + rng.uniform(1, 30, len(migrated))
        everyone = np.arange(len(opps.created))
        negative = self.pick("opportunity_negative_amount", everyone)
        no_amount = self.pick("opportunity_null_amount", everyone, exclude=negative)
        far = self.pick("opportunity_close_date_years_ahead", np.flatnonzero(np.isnan(opps.close_t)))

        def dirty(frame: Frame, with_created: bool) -> Frame:
            stage = frame.cols["StageName"]
            assert isinstance(stage, Cat)
            for code, chosen, name in renames:
                stage = _set_text(stage, _entity_mask(chosen, frame) & (stage.codes == code), name)
            amount = _values(frame, "Amount")
            amount = np.where(_entity_mask(negative, frame), -np.abs(amount), amount)
            amount = np.where(_entity_mask(no_amount, frame), np.nan, amount)
            close = _values(frame, "CloseDate")
            close = np.where(_entity_mask(far, frame), close + YEARS_AHEAD_DAYS, close)
            changes: dict[str, np.ndarray | Cat] = {"StageName": stage, "Amount": amount, "CloseDate": close}
            if with_created:
                moved = _entity_mask(migrated, frame)
                changes["CreatedDate"] = np.where(moved, created[frame.entity], _values(frame, "CreatedDate"))
            return frame.with_cols(**changes)

        return dirty(opp, True), dirty(hist, False)

    # --- leads -------------------------------------------------------------------------------------

    def leads(self, lead: Frame) -> Frame:
        """Pick the converted leads left without history, and rename some disqualified statuses."""
        status = _codes(lead, "Status")
        converted = _entities([lead], lambda f: _values(f, "IsConverted") == 1)
        self._lead_without_history = self.pick("lead_converted_without_history", converted)
        disqualified = _entities([lead], lambda f: _codes(f, "Status") == DISQUALIFIED)
        self._lead_recycled = self.pick("lead_unknown_status", disqualified)
        cat = lead.cols["Status"]
        assert isinstance(cat, Cat)
        rows = _entity_mask(self._lead_recycled, lead) & (status == DISQUALIFIED)
        return lead.with_cols(Status=_set_text(cat, rows, UNKNOWN_LEAD_STATUS))

    def lead_history(self, hist: Frame) -> Frame:
        """LeadHistory after :meth:`leads`: the renamed status, no rows of the leads without history."""
        recycled = _entity_mask(self._lead_recycled, hist)
        changes: dict[str, np.ndarray | Cat] = {}
        for name in ("OldValue", "NewValue"):
            cat = hist.cols[name]
            assert isinstance(cat, Cat)
            changes[name] = _set_text(cat, recycled & (cat.codes == DISQUALIFIED), UNKNOWN_LEAD_STATUS)
        hist = hist.with_cols(**changes)
        return hist.take(np.flatnonzero(~_entity_mask(self._lead_without_history, hist)))

    # --- activities --------------------------------------------------------------------------------

    def tasks(self, parts: Parts) -> Parts:
        unknown = self.pick("task_unknown_type", _entities(parts))
        with_duration = _entities(parts, lambda f: ~np.isnan(_values(f, "CallDurationInSeconds")))
        unanswered = self.pick("task_zero_call_duration", with_duration)

        def dirty(frame: Frame) -> Frame:
            rows = _entity_mask(unknown, frame)
            typ, subject, subtype = (frame.cols[n] for n in ("Type", "Subject", "TaskSubtype"))
            assert isinstance(typ, Cat) and isinstance(subject, Cat) and isinstance(subtype, Cat)
            secs = _values(frame, "CallDurationInSeconds")
            zero = _entity_mask(unanswered, frame) & ~np.isnan(secs)
            return frame.with_cols(
                Type=_set_text(typ, rows, UNKNOWN_TASK_TYPE),
                Subject=_set_text(subject, rows, UNKNOWN_TASK_TYPE),
                TaskSubtype=_set_text(subtype, rows, None),
                CallDurationInSeconds=np.where(zero, 0.0, secs),
            )

        return [dirty(p) for p in parts]

    def events(self, parts: Parts) -> Parts:
        everyone = _entities(parts)
        unknown = self.pick("event_unknown_type", everyone)
        missing = self.pick("event_missing_duration", everyone)
        zero = self.pick("event_zero_duration", everyone, exclude=missing)
        variant = np.full(int(everyone.max()) + 1 if len(everyone) else 0, -1)
        variant[missing] = np.arange(len(missing)) % 3  # 0: end kept, 1: no end, 2: end before start

        def dirty(frame: Frame) -> Frame:
            rows = _entity_mask(unknown, frame)
            typ, subject = frame.cols["Type"], frame.cols["Subject"]
            assert isinstance(typ, Cat) and isinstance(subject, Cat)
            start, end = _values(frame, "StartDateTime"), _values(frame, "EndDateTime")
            minutes = _values(frame, "DurationInMinutes")
            v = variant[frame.entity]
            zeroed = _entity_mask(zero, frame)
            end = np.where(v == 1, np.nan, np.where(v == 2, start - minutes / 1440.0, end))
            end = np.where(zeroed, start, end)
            minutes = np.where(v >= 0, np.nan, np.where(zeroed, 0.0, minutes))
            return frame.with_cols(
                Type=_set_text(typ, rows, UNKNOWN_EVENT_TYPE),
                Subject=_set_text(subject, rows, UNKNOWN_EVENT_TYPE),
                EndDateTime=end,
                DurationInMinutes=minutes,
            )

        return [dirty(p) for p in parts]
