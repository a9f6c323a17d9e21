"""Opportunities moving through the stage seed over weeks, with one OpportunityHistory row per change.

Every opportunity starts in the first stage. At each step it either drops out (Closed Lost from the
stage it is in), moves back one stage (regression), skips a stage, or moves on; after the last open
stage comes Closed Won. Between steps a rep may push the close date out or revise the amount (a history
row each). One middle stage has a long dwell (the bottleneck). Closes cluster at quarter end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .calendar import Calendar, work_hours
from .frame import Cat, Frame, as_array
from .ids import id_codes
from .org import CURRENCY_CODES, Org
from .scales import Scale
from .seeds import Stages

OPP_TYPES = np.array(
    [
        "New Customer",
        "Existing Customer - Upgrade",
        "Existing Customer - Replacement",
        "Existing Customer - Downgrade",
    ]
)
TYPE_SHARE = np.array([0.6, 0.25, 0.1, 0.05])
TYPE_LABEL = np.array(["New Business", "Upgrade", "Replacement", "Downgrade"])
LEAD_SOURCES = np.array(
    [
        "Web",
        "Phone Inquiry",
        "Partner Referral",
        "Purchased List",
        "Trade Show",
        "Webinar",
        "Employee Referral",
        "Other",
    ]
)
LEAD_SOURCE_SHARE = np.array([0.3, 0.1, 0.15, 0.05, 0.15, 0.1, 0.05, 0.1])
#: Lead sources from which new-business opportunities usually come through a converted lead.
INBOUND_SOURCES = np.arange(7)

#: Per segment (SMB, Mid-Market, Enterprise): median deal in USD, lognormal sigma, pace, cycle days.
SEG_MEDIAN_USD = np.array([8_000.0, 35_000.0, 150_000.0])
SEG_SIGMA = np.array([0.6, 0.6, 0.7])
SEG_PACE = np.array([0.6, 1.0, 1.6])
SEG_CYCLE_DAYS = np.array([40.0, 80.0, 140.0])
#: How many more opportunities a bigger account yields.
SEG_OPP_WEIGHT = np.array([1.0, 2.0, 4.0])

#: Median days in each open stage (index 4, "Id. Decision Makers" in the default seed, is the bottleneck)
#: and the chance of dropping out from each open stage.
DWELL_DAYS = np.array([6.0, 8.0, 10.0, 9.0, 26.0, 8.0, 12.0, 10.0])
DROP_PROB = np.array([0.20, 0.15, 0.12, 0.10, 0.18, 0.08, 0.10, 0.12])
REGRESS_PROB = 0.07
SKIP_PROB = 0.04
MAX_STEPS = 24
#: Opportunities are created this many days before the first extract, so the pipeline is warm on day 0.
BACKLOG_DAYS = 180


@dataclass
class Opps:
    created: np.ndarray
    owner: np.ndarray  # rep index
    account: np.ndarray
    currency: np.ndarray
    lead_source: np.ndarray  # -1 null
    opp_type: np.ndarray
    stage_end: np.ndarray  # stage index at the end of the window
    close_t: np.ndarray  # time of closing, NaN while open at the end of the window
    last_t: np.ndarray  # last change inside the window
    amount_end: np.ndarray  # amount at the end of the window (original currency)

    @property
    def won(self) -> np.ndarray:
        return ~np.isnan(self.close_t) & (self.stage_end == self.n_open)

    @property
    def lost(self) -> np.ndarray:
        return ~np.isnan(self.close_t) & (self.stage_end == self.n_open + 1)

    n_open: int = 8


def _per_stage(values: np.ndarray, n_open: int) -> np.ndarray:
    """Stretch the default per-stage table onto a seed with a different number of open stages."""
    if n_open == len(values):
        return values
    return np.interp(np.linspace(0, len(values) - 1, n_open), np.arange(len(values)), values)


def _pick(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    return rng.choice(len(p), size=n, p=p / p.sum())


def simulate_opportunities(
    rng: np.random.Generator, scale: Scale, cal: Calendar, org: Org, stages: Stages
) -> tuple[Opps, list[Frame]]:
    n = round(scale.opportunities * (cal.days + BACKLOG_DAYS) / 365)
    created = rng.uniform(-BACKLOG_DAYS, cal.days, n)
    acc = _pick(rng, SEG_OPP_WEIGHT[org.acc_segment], n)
    created = np.maximum(created, org.acc_created[acc] + rng.uniform(1, 20, n))
    keep = created < cal.days
    order = np.argsort(created[keep], kind="stable")  # Ids ascend with creation, as in Salesforce
    created, acc = work_hours(created[keep][order]), acc[keep][order]
    n = len(created)

    owner = org.acc_owner[acc]
    seg = org.acc_segment[acc]
    cur = org.acc_currency[acc]
    opp_type = _pick(rng, TYPE_SHARE, n)
    lead_source = np.where((opp_type == 0) | (rng.random(n) < 0.4), _pick(rng, LEAD_SOURCE_SHARE, n), -1)
    skill = org.rep_skill[owner]
    usd = rng.lognormal(np.log(SEG_MEDIAN_USD[seg]) + 0.25 * skill, SEG_SIGMA[seg]) * np.where(
        opp_type == 0, 1.0, 0.6
    )
    unit = np.where(CURRENCY_CODES[cur] == "JPY", 10_000.0, 100.0)
    amount = np.maximum(np.round(usd * org.rate_at(cur, created) / unit) * unit, unit)
    close_exp = np.floor(created + SEG_CYCLE_DAYS[seg] * rng.lognormal(0.0, 0.3, n))

    ev = _walk(
        rng,
        stages,
        created,
        amount,
        close_exp,
        unit,
        SEG_PACE[seg] * np.exp(-0.2 * skill),
        np.exp(-1.0 * skill),
    )
    ev = _quarter_end_push(rng, cal, stages, ev)
    ev["t"] = work_hours(ev["t"])
    closing = ev["stage"] >= stages.won
    ev["close"] = np.where(closing, np.floor(ev["t"]), ev["close"])
    inside = ev["t"] < cal.days
    ev = {k: v[inside] for k, v in ev.items()}

    opps = _final_state(n, stages, created, owner, acc, cur, lead_source, opp_type, ev)
    names = as_array(
        pc.binary_join_element_wise(org.acc_names.take(pa.array(acc)), pa.array(TYPE_LABEL[opp_type]), " - ")
    )
    frames = [
        _history_frame(stages, ev),
        _opportunity_frame(stages, org, opps, names, ev),
    ]
    return opps, frames


def _walk(
    rng: np.random.Generator,
    stages: Stages,
    created: np.ndarray,
    amount: np.ndarray,
    close_exp: np.ndarray,
    unit: np.ndarray,
    pace: np.ndarray,
    drop_factor: np.ndarray,
) -> dict[str, np.ndarray]:
    """Step all open opportunities at once; returns the events (creation, changes, close) unsorted."""
    k_open = stages.n_open
    dwell_med = _per_stage(DWELL_DAYS, k_open)
    drop_p = _per_stage(DROP_PROB, k_open)
    idx = np.arange(len(created))
    t, stage = created.copy(), np.zeros(len(created), dtype=np.int64)
    amount, close_exp, unit = amount.copy(), close_exp.copy(), unit.copy()
    pace, drop_factor = pace.copy(), drop_factor.copy()
    parts = [(idx, t.copy(), stage.copy(), amount.copy(), close_exp.copy())]
    for step in range(MAX_STEPS):
        if len(idx) == 0:
            break
        m = len(idx)
        dwell = dwell_med[stage] * pace * rng.lognormal(0.0, 0.55, m)
        # A change between stage moves: the close date slips, or the amount is revised.
        r = rng.random(m)
        slip, revise = r < 0.10, (r >= 0.10) & (r < 0.14)
        t_mid = t + dwell * rng.uniform(0.2, 0.8, m)
        close_exp = np.where(
            slip, np.maximum(close_exp, np.floor(t_mid)) + rng.integers(14, 46, m), close_exp
        )
        revised = np.maximum(np.round(amount * rng.lognormal(0, 0.15, m) / unit) * unit, unit)
        revised = np.where(revised == amount, amount + unit, revised)  # a revision always changes it
        amount = np.where(revise, revised, amount)
        mid = slip | revise
        parts.append((idx[mid], t_mid[mid], stage[mid], amount[mid], close_exp[mid]))

        t = t + dwell
        u = rng.random(m)
        p_drop = drop_p[stage] * drop_factor
        drop = (u < p_drop) | (step == MAX_STEPS - 1)
        regress = ~drop & (u < p_drop + REGRESS_PROB) & (stage >= 2)
        skip = ~drop & ~regress & (u < p_drop + REGRESS_PROB + SKIP_PROB) & (stage <= k_open - 3)
        new = np.where(drop, stages.lost, np.where(regress, stage - 1, np.where(skip, stage + 2, stage + 1)))
        # Deals grow or shrink when the proposal is priced.
        priced = (new == k_open - 2) & (rng.random(m) < 0.5)
        amount = np.where(
            priced, np.maximum(np.round(amount * rng.lognormal(0.03, 0.25, m) / unit) * unit, unit), amount
        )
        overdue = close_exp < t
        close_exp = np.where(overdue & (new < stages.won), np.floor(t) + rng.integers(14, 46, m), close_exp)
        parts.append((idx, t.copy(), new, amount.copy(), close_exp.copy()))

        stay = new < stages.won
        idx, t, stage, amount, close_exp = idx[stay], t[stay], new[stay], amount[stay], close_exp[stay]
        unit, pace, drop_factor = unit[stay], pace[stay], drop_factor[stay]
    ev = {
        "opp": np.concatenate([p[0] for p in parts]),
        "t": np.concatenate([p[1] for p in parts]),
        "stage": np.concatenate([p[2] for p in parts]),
        "amount": np.concatenate([p[3] for p in parts]),
        "close": np.concatenate([p[4] for p in parts]),
    }
    order = np.lexsort((ev["t"], ev["opp"]))
    return {k: v[order] for k, v in ev.items()}


def _quarter_end_push(
    rng: np.random.Generator, cal: Calendar, stages: Stages, ev: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Reps pull deals into the last days of a quarter: closes near a quarter end move onto it."""
    t = ev["t"]
    closing = np.flatnonzero(ev["stage"] >= stages.won)
    tc = t[closing]
    prev = t[closing - 1]  # the creation row always precedes a close
    q_start, q_end = cal.quarter_bounds(tc)
    frac = tc - np.floor(tc)
    p = np.where(ev["stage"][closing] == stages.won, 0.5, 0.2)
    chosen = rng.random(len(closing)) < p
    later = np.maximum(tc, q_end - 1 - rng.integers(0, 5, len(closing)) + frac)
    earlier = q_start - 1 - rng.integers(0, 4, len(closing)) + frac
    new = np.where(
        chosen & (q_end - tc <= 25),
        later,
        np.where(chosen & (tc - q_start <= 12) & (earlier > prev + 0.05), earlier, tc),
    )
    t = t.copy()
    t[closing] = new
    return {**ev, "t": t}


def _final_state(
    n: int,
    stages: Stages,
    created: np.ndarray,
    owner: np.ndarray,
    acc: np.ndarray,
    cur: np.ndarray,
    lead_source: np.ndarray,
    opp_type: np.ndarray,
    ev: dict[str, np.ndarray],
) -> Opps:
    last = np.flatnonzero(np.append(ev["opp"][1:] != ev["opp"][:-1], True))
    stage_end = np.zeros(n, dtype=np.int64)
    last_t = np.array(created)
    close_t = np.full(n, np.nan)
    amount_end = np.full(n, np.nan)
    o = ev["opp"][last]
    amount_end[o] = ev["amount"][last]
    stage_end[o] = ev["stage"][last]
    last_t[o] = ev["t"][last]
    close_t[o] = np.where(ev["stage"][last] >= stages.won, ev["t"][last], np.nan)
    return Opps(
        created, owner, acc, cur, lead_source, opp_type, stage_end, close_t, last_t, amount_end, stages.n_open
    )


def _history_frame(stages: Stages, ev: dict[str, np.ndarray]) -> Frame:
    counter = np.empty(len(ev["t"]), dtype=np.int64)
    counter[np.argsort(ev["t"], kind="stable")] = np.arange(len(ev["t"]))
    st = ev["stage"]
    return Frame.build(
        "OpportunityHistory",
        np.maximum(np.floor(ev["t"]), 0).astype(np.int64),
        entity=ev["opp"],
        Id=id_codes("OpportunityHistory", counter),
        OpportunityId=id_codes("Opportunity", ev["opp"]),
        StageName=Cat.of(stages.names, st),
        CreatedDate=ev["t"],
        Amount=ev["amount"],
        CloseDate=ev["close"],
        Probability=stages.probability_pct[st],
        ForecastCategory=Cat.of(stages.forecast, st),
        IsDeleted=np.zeros(len(st), np.int8),
        SystemModstamp=ev["t"],
    )


def _opportunity_frame(
    stages: Stages, org: Org, opps: Opps, names: pa.Array, ev: dict[str, np.ndarray]
) -> Frame:
    """One row per opportunity and extract day with changes: the state after that day's last change."""
    xday = np.maximum(np.floor(ev["t"]), 0).astype(np.int64)
    o = ev["opp"]
    last = np.flatnonzero(np.append((o[1:] != o[:-1]) | (xday[1:] != xday[:-1]), True))
    o, st = o[last], ev["stage"][last]
    return Frame.build(
        "Opportunity",
        xday[last],
        entity=o,
        Id=id_codes("Opportunity", o),
        StageName=Cat.of(stages.names, st),
        CloseDate=ev["close"][last],
        CreatedDate=opps.created[o],
        OwnerId=id_codes("User", org.rep_user[opps.owner[o]]),
        AccountId=id_codes("Account", opps.account[o]),
        Name=Cat(o, names),
        Amount=ev["amount"][last],
        CurrencyIsoCode=Cat.of(CURRENCY_CODES, opps.currency[o]),
        Probability=stages.probability_pct[st],
        IsClosed=(st >= stages.won).astype(np.int8),
        IsWon=(st == stages.won).astype(np.int8),
        ForecastCategoryName=Cat.of(stages.forecast, st),
        LeadSource=Cat.of(LEAD_SOURCES, opps.lead_source[o]),
        Type=Cat.of(OPP_TYPES, opps.opp_type[o]),
        IsDeleted=np.zeros(len(o), np.int8),
        SystemModstamp=ev["t"][last],
    )
