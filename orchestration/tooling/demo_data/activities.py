"""Tasks and events of every rep on working days, typed by the activity-type seed.

Three sources: touches on open opportunities (won deals get more of them), touches on the rep's
accounts, and non-selling work (admin, internal meetings, travel, training, prep). The volume of the
non-selling work is set per rep from the rep's selling minutes and a per-rep target selling share
around 40%, so that selling share varies between reps and lands near the surveyed 39% overall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calendar import Calendar, work_hours
from .frame import Cat, Frame
from .ids import id_codes
from .opportunities import Opps
from .org import Org
from .scales import Scale
from .seeds import ActivityTypes

SELLING_WEIGHT = {
    "Call": 0.30,
    "Email": 0.35,
    "LinkedIn Message": 0.10,
    "Meeting": 0.08,
    "Demo": 0.05,
    "Customer Visit": 0.03,
    "Video Call": 0.09,
}
NON_SELLING_WEIGHT = {
    "Admin": 0.25,
    "CRM Update": 0.25,
    "Research": 0.10,
    "Proposal Prep": 0.08,
    "Other": 0.05,
    "Internal Meeting": 0.12,
    "Team Meeting": 0.08,
    "Travel": 0.03,
    "Training": 0.04,
}
TASK_SUBTYPES = {"Call": "Call", "Email": "Email", "LinkedIn Message": "LinkedIn"}
#: Event length as a multiple of the seed's default duration.
EVENT_LENGTH_FACTORS = np.array([0.5, 1.0, 1.0, 1.5, 2.0])
#: Shares of all activities that are opportunity touches and account touches.
OPP_TOUCH_SHARE = 0.32
ACCOUNT_TOUCH_SHARE = 0.15
#: Relative touch rate per open day of won, lost and still-open deals.
TOUCH_RATE_WON, TOUCH_RATE_LOST, TOUCH_RATE_OPEN = 2.2, 1.0, 1.4
SELLING_SHARE_MEAN, SELLING_SHARE_SD = 0.40, 0.05
PLANNED_TASK_SHARE = 0.10
EVENT_EDIT_SHARE = 0.03


@dataclass
class Activities:
    frames: list[Frame]
    #: Opportunity each activity (Frame.entity) points at, -1 if none.
    what_opp: np.ndarray


def _type_probs(types: ActivityTypes, weights: dict[str, float], selling: bool) -> np.ndarray:
    p = np.array(
        [
            weights.get(n, 0.05) if s == selling else 0.0
            for n, s in zip(types.name, types.is_selling, strict=True)
        ]
    )
    return p / p.sum()


def _event_minutes(default: np.ndarray, factor: np.ndarray) -> np.ndarray:
    return np.maximum(15.0, np.round(default * factor / 15.0) * 15.0)


def _expected_minutes(types: ActivityTypes) -> np.ndarray:
    """Expected logged minutes of one activity of each type (what the KPI will count)."""
    is_event = np.array([s == "event" for s in types.source])
    ev = _event_minutes(types.default_minutes[:, None], EVENT_LENGTH_FACTORS[None, :]).mean(axis=1)
    return np.where(is_event, ev, types.default_minutes)


def simulate_activities(
    rng: np.random.Generator, scale: Scale, cal: Calendar, org: Org, opps: Opps, types: ActivityTypes
) -> Activities:
    n_reps = len(org.rep_user)
    work = cal.working_days()
    target = scale.activities * cal.days / 365
    per_rep_day = target / max(n_reps * len(work), 1)
    sell_p = _type_probs(types, SELLING_WEIGHT, True)

    o_rep, o_t, o_opp = _opportunity_touches(rng, cal, opps, OPP_TOUCH_SHARE * target, n_reps)
    a_rep, a_day = _per_day(rng, work, np.full(n_reps, ACCOUNT_TOUCH_SHARE * per_rep_day))
    a_acc = _account_of_rep(rng, org, a_rep, a_day)
    sell_rep = np.concatenate([o_rep, a_rep])
    sell_t = np.concatenate([o_t, a_day + rng.random(len(a_day))])
    sell_type = rng.choice(len(sell_p), size=len(sell_rep), p=sell_p)
    sell_minutes = _expected_minutes(types)[sell_type]

    # Non-selling volume per rep follows from the rep's selling minutes and target selling share.
    share = np.clip(rng.normal(SELLING_SHARE_MEAN, SELLING_SHARE_SD, n_reps), 0.28, 0.52)
    selling = np.bincount(sell_rep, weights=sell_minutes, minlength=n_reps)
    non_p = _type_probs(types, NON_SELLING_WEIGHT, False)
    per_activity = float(non_p @ _expected_minutes(types))
    lam = selling * (1 - share) / share / per_activity / max(len(work), 1)
    n_rep, n_day = _per_day(rng, work, lam)
    n_type = rng.choice(len(non_p), size=len(n_rep), p=non_p)

    t = work_hours(np.concatenate([sell_t, n_day + rng.random(len(n_day))]))
    order = np.argsort(t, kind="stable")
    t = t[order]
    # Each array is put in time order and its parts dropped at once: at scale L every array of all
    # activities weighs 160 MB, and the simulation's peak memory is set here.
    rep = np.concatenate([sell_rep, n_rep])[order]
    typ = np.concatenate([sell_type, n_type])[order]
    del sell_rep, sell_t, sell_type, sell_minutes, n_rep, n_day, n_type, a_rep, a_day
    what_opp = np.concatenate([o_opp, np.full(len(order) - len(o_opp), -1)])[order]
    account = np.concatenate([opps.account[o_opp], a_acc, np.full(len(order) - len(o_opp) - len(a_acc), -1)])
    account = account[order]
    del order, o_rep, o_t, o_opp, a_acc
    frames = _frames(rng, cal, org, types, rep, t, typ, what_opp, account)
    return Activities(frames, what_opp)


def _per_day(rng: np.random.Generator, work: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts per rep and working day -> (rep, day) of each activity."""
    counts = rng.poisson(np.repeat(lam[:, None], len(work), axis=1))
    cell = np.repeat(np.arange(counts.size), counts.ravel())
    return cell // len(work), work[cell % len(work)].astype(np.float64)


def _opportunity_touches(
    rng: np.random.Generator, cal: Calendar, opps: Opps, target: float, n_reps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.maximum(opps.created, 0.0)
    b = np.minimum(np.where(np.isnan(opps.close_t), cal.days, opps.close_t), cal.days)
    length = np.clip(b - a, 0.0, None)
    rate = np.where(opps.won, TOUCH_RATE_WON, np.where(opps.lost, TOUCH_RATE_LOST, TOUCH_RATE_OPEN))
    rep_factor = rng.lognormal(0.0, 0.25, n_reps)[opps.owner]
    weight = rate * length * rep_factor
    counts = rng.poisson(weight * target / max(weight.sum(), 1e-9))
    opp = np.repeat(np.arange(len(a)), counts)
    t = a[opp] + rng.random(len(opp)) * length[opp]
    day = np.floor(t)
    dow = cal.weekday(day)
    # Weekend touches move to the Friday before, or the Monday after if the deal was not open on Friday.
    back = day - np.where(dow == 5, 1, np.where(dow == 6, 2, 0))
    fwd = day + np.where(dow == 5, 2, np.where(dow == 6, 1, 0))
    day = np.where(back >= np.floor(a[opp]), back, fwd)
    keep = day < cal.days
    return opps.owner[opp[keep]], day[keep] + rng.random(int(keep.sum())), opp[keep]


def _account_of_rep(rng: np.random.Generator, org: Org, rep: np.ndarray, day: np.ndarray) -> np.ndarray:
    n_reps = len(org.rep_user)
    order = np.argsort(org.acc_owner, kind="stable")
    counts = np.bincount(org.acc_owner, minlength=n_reps)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pick = starts[rep] + (rng.random(len(rep)) * counts[rep]).astype(np.int64)
    acc = np.where(counts[rep] > 0, order[np.minimum(pick, len(order) - 1)], -1)
    exists = (acc >= 0) & (org.acc_created[np.maximum(acc, 0)] <= day)
    return np.where(exists, acc, -1)


def _frames(
    rng: np.random.Generator,
    cal: Calendar,
    org: Org,
    types: ActivityTypes,
    rep: np.ndarray,
    t: np.ndarray,
    typ: np.ndarray,
    what_opp: np.ndarray,
    account: np.ndarray,
) -> list[Frame]:
    n = len(t)
    is_event = np.array([s == "event" for s in types.source])[typ]
    contact = rng.integers(0, 4, n).astype(np.int8)  # which of the account's four contacts

    # Id columns are made for the rows of each frame only: at scale L an Id column of all activities
    # weighs 160 MB, and four of them would set the generator's peak memory.
    def owner(k: np.ndarray) -> np.ndarray:
        return id_codes("User", org.rep_user[rep[k]])

    def acc_id(k: np.ndarray) -> np.ndarray:
        return np.where(account[k] >= 0, id_codes("Account", np.maximum(account[k], 0)), -1)

    def what(k: np.ndarray) -> np.ndarray:
        return np.where(what_opp[k] >= 0, id_codes("Opportunity", np.maximum(what_opp[k], 0)), acc_id(k))

    def who(k: np.ndarray) -> np.ndarray:
        return np.where(account[k] >= 0, id_codes("Contact", np.maximum(account[k], 0) * 4 + contact[k]), -1)

    # Tasks: calls carry a duration (most of them); planned tasks are created open, completed later.
    ti = np.flatnonzero(~is_event)
    is_call = np.array([nm == "Call" for nm in types.name])[typ[ti]]
    secs = np.round(rng.lognormal(np.log(types.default_minutes[typ[ti]] * 0.8 * 60), 0.5))
    secs = np.where(is_call & (rng.random(len(ti)) < 0.85), secs, np.nan)
    planned = rng.random(len(ti)) < PLANNED_TASK_SHARE
    created = np.where(planned, t[ti] - rng.uniform(1, 7, len(ti)), t[ti])
    subtypes = [TASK_SUBTYPES.get(nm, "Task") for nm in types.name]

    def task_rows(rows: np.ndarray, done: bool, stamp: np.ndarray) -> Frame:
        k, m = ti[rows], len(rows)
        return Frame.build(
            "Task",
            np.maximum(np.floor(stamp), 0).astype(np.int64),
            entity=k,
            Id=id_codes("Task", rows),
            OwnerId=owner(k),
            ActivityDate=np.floor(t[k]),
            Type=Cat.of(types.name, typ[k]),
            TaskSubtype=Cat.of(subtypes, typ[k]),
            Subject=Cat.of(types.name, typ[k]),
            Status=Cat.const("Completed" if done else "Not Started", m),
            IsClosed=np.full(m, int(done), np.int8),
            WhoId=who(k),
            WhatId=what(k),
            AccountId=acc_id(k),
            CallDurationInSeconds=secs[rows] if done else np.full(m, np.nan),
            CreatedDate=created[rows],
            IsDeleted=np.zeros(m, np.int8),
            SystemModstamp=stamp,
        )

    all_tasks = np.arange(len(ti))
    plan = np.flatnonzero(planned)
    frames = [task_rows(all_tasks, True, t[ti]), task_rows(plan, False, created[plan])]

    # Events: on a quarter-hour, logged up to a few days ahead; a few edited afterwards.
    ei = np.flatnonzero(is_event)
    start = np.floor(t[ei] * 96) / 96
    minutes = _event_minutes(types.default_minutes[typ[ei]], rng.choice(EVENT_LENGTH_FACTORS, len(ei)))
    logged = start - rng.uniform(0, 5, len(ei))

    def event_rows(rows: np.ndarray, stamp: np.ndarray) -> Frame:
        k = ei[rows]
        return Frame.build(
            "Event",
            np.maximum(np.floor(stamp), 0).astype(np.int64),
            entity=k,
            Id=id_codes("Event", rows),
            OwnerId=owner(k),
            StartDateTime=start[rows],
            Type=Cat.of(types.name, typ[k]),
            Subject=Cat.of(types.name, typ[k]),
            EndDateTime=start[rows] + minutes[rows] / 1440.0,
            DurationInMinutes=minutes[rows],
            ActivityDate=np.floor(start[rows]),
            WhoId=who(k),
            WhatId=what(k),
            AccountId=acc_id(k),
            IsDeleted=np.zeros(len(rows), np.int8),
            SystemModstamp=stamp,
        )

    edited = np.flatnonzero(rng.random(len(ei)) < EVENT_EDIT_SHARE)
    edit_time = np.maximum(start[edited], logged[edited]) + rng.uniform(0.2, 10, len(edited))
    frames += [event_rows(np.arange(len(ei)), logged), event_rows(edited, edit_time)]
    return frames
