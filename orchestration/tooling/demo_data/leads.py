"""Leads and their status history (LeadHistory, Field = 'Status').

Converted leads are derived from new-business opportunities with an inbound lead source: their path
(open -> working -> MQL -> SQL -> converted) is laid backwards from the opportunity's creation, and a
few skip MQL. The unconverted majority walk forward and stop at some status, most of them ending as
disqualified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .calendar import Calendar, work_hours
from .frame import Cat, Frame, as_array
from .ids import id_codes
from .opportunities import INBOUND_SOURCES, LEAD_SOURCE_SHARE, LEAD_SOURCES, Opps
from .org import INDUSTRIES, SUFFIX, WORD_A, WORD_B, Org
from .seeds import LeadStatuses

#: Status codes of the simulation, in lifecycle order.
OPEN, WORKING, MQL, SQL, CONVERTED, DISQUALIFIED = range(6)
#: Median days spent in open, working, MQL and SQL before the next status.
DWELL_DAYS = np.array([1.5, 4.0, 9.0, 6.0])
#: Share of converted leads among all leads, and where unconverted leads stop (open, working, MQL, SQL).
CONVERSION_RATE = 0.12
STOP_SHARE = np.array([0.23, 0.40, 0.28, 0.09])
SKIP_MQL_PROB = 0.08
DISQUALIFY_PROB = 0.85


@dataclass
class StatusEvents:
    """Every status a lead entered, in (lead, time) order: what LeadHistory is made of.

    Kept apart from the Lead frame so that the generator can write and drop the leads before it
    builds their history (at scale L each weighs over a gigabyte).
    """

    lead: np.ndarray
    status: np.ndarray
    t: np.ndarray
    names: tuple[str, ...]

    def history_frame(self) -> Frame:
        return _history_rows(self.names, self.lead, self.status, self.t)


def _dwell(rng: np.random.Generator, status: int, n: int) -> np.ndarray:
    return rng.lognormal(np.log(DWELL_DAYS[status]), 0.6, n)


def converted_opportunities(rng: np.random.Generator, opps: Opps) -> np.ndarray:
    """Opportunities that came from a converted lead: three in four inbound new-business ones.

    Separate from :func:`simulate_leads` (same ``rng``, drawn first) so that the opportunities can be
    written and dropped before the leads are simulated.
    """
    inbound = (opps.opp_type == 0) & np.isin(opps.lead_source, INBOUND_SOURCES)
    return np.flatnonzero(inbound & (rng.random(len(inbound)) < 0.75))


def simulate_leads(
    rng: np.random.Generator,
    cal: Calendar,
    org: Org,
    opps: Opps,
    statuses: LeadStatuses,
    first_day: float,
    conv_opp: np.ndarray,
) -> tuple[Frame, StatusEvents]:
    """The Lead frame and the status events of LeadHistory; a converted lead per ``conv_opp``.

    ``rng`` continues the stream :func:`converted_opportunities` drew ``conv_opp`` from.
    """
    src = opps.lead_source
    nc = len(conv_opp)
    t_conv = opps.created[conv_opp]  # conversion creates the opportunity
    skip = rng.random(nc) < SKIP_MQL_PROB
    t_sql = t_conv - _dwell(rng, SQL, nc)
    t_mql = np.where(skip, np.nan, t_sql - _dwell(rng, MQL, nc))
    t_work = np.where(skip, t_sql, t_mql) - _dwell(rng, WORKING, nc)
    t_open = t_work - _dwell(rng, OPEN, nc)

    # Unconverted leads walk forward from their creation.
    nu = round(nc * (1 / CONVERSION_RATE - 1))
    u_open = rng.uniform(first_day, cal.days, nu)
    stop = rng.choice(4, size=nu, p=STOP_SHARE)
    u_skip = (stop == SQL) & (rng.random(nu) < SKIP_MQL_PROB)
    u_work = np.where(stop >= WORKING, u_open + _dwell(rng, OPEN, nu), np.nan)
    u_mql = np.where((stop >= MQL) & ~u_skip, u_work + _dwell(rng, WORKING, nu), np.nan)
    u_sql = np.where(stop >= SQL, np.where(u_skip, u_work, u_mql) + _dwell(rng, MQL, nu), np.nan)
    reached = np.nanmax(np.stack([u_open, u_work, u_mql, u_sql]), axis=0)
    u_disq = np.where(rng.random(nu) < DISQUALIFY_PROB, reached + rng.lognormal(np.log(12), 0.6, nu), np.nan)

    n = nc + nu
    times = np.stack(
        [  # [lead, status] time the lead entered that status (NaN: never)
            np.concatenate([t_open, u_open]),
            np.concatenate([t_work, u_work]),
            np.concatenate([t_mql, u_mql]),
            np.concatenate([t_sql, u_sql]),
            np.concatenate([t_conv, np.full(nu, np.nan)]),
            np.concatenate([np.full(nc, np.nan), u_disq]),
        ],
        axis=1,
    )
    squeezed = [OPEN, WORKING, MQL, SQL, DISQUALIFIED]
    times[:, squeezed] = work_hours(times[:, squeezed])
    for status in (SQL, MQL, WORKING, OPEN):  # keep each status before the next after squeezing
        nxt = np.fmin.reduce(times[:, status + 1 : CONVERTED + 1], axis=1)
        times[:, status] = np.where(
            np.isnan(times[:, status]), np.nan, np.fmin(times[:, status], nxt - 0.0005)
        )
    # Lead Ids ascend with creation time.
    order = np.argsort(times[:, OPEN], kind="stable")
    times = times[order]
    opp = np.concatenate([conv_opp, np.full(nu, -1)])[order]
    u_owner = rng.integers(0, len(org.rep_user), nu)
    owner = np.concatenate([opps.owner[conv_opp], u_owner])[order]
    source = np.concatenate([src[conv_opp], rng.choice(len(LEAD_SOURCE_SHARE), nu, p=LEAD_SOURCE_SHARE)])[
        order
    ]
    account = np.where(opp >= 0, opps.account[np.maximum(opp, 0)], -1)
    industry = np.where(
        account >= 0, org.acc_industry[np.maximum(account, 0)], rng.integers(0, len(INDUSTRIES), n)
    )
    made_up = pc.binary_join_element_wise(
        pa.array(WORD_A[rng.integers(0, len(WORD_A), n)]),
        pa.array(WORD_B[rng.integers(0, len(WORD_B), n)]),
        pa.array(SUFFIX[rng.integers(0, len(SUFFIX), n)]),
        " ",
    )
    companies = pa.concat_arrays([as_array(org.acc_names), as_array(made_up)])
    company = np.where(account >= 0, account, len(org.acc_names) + np.arange(n))

    names = (
        statuses.open,
        statuses.working,
        statuses.mql,
        statuses.sql,
        statuses.converted,
        statuses.disqualified,
    )
    ev_lead, ev_status = np.nonzero(~np.isnan(times))
    ev_t = times[ev_lead, ev_status]
    keep = ev_t < cal.days
    ev_lead, ev_status, ev_t = ev_lead[keep], ev_status[keep], ev_t[keep]
    o = np.lexsort((ev_t, ev_lead))
    ev_lead, ev_status, ev_t = ev_lead[o], ev_status[o], ev_t[o]

    lead_frame = _lead_rows(
        names,
        times,
        opp,
        owner,
        source,
        account,
        industry,
        companies,
        company,
        org,
        opps,
        ev_lead,
        ev_status,
        ev_t,
    )
    return lead_frame, StatusEvents(ev_lead, ev_status, ev_t, names)


def _lead_rows(
    names: tuple[str, ...],
    times: np.ndarray,
    opp: np.ndarray,
    owner: np.ndarray,
    source: np.ndarray,
    account: np.ndarray,
    industry: np.ndarray,
    companies: pa.Array,
    company: np.ndarray,
    org: Org,
    opps: Opps,
    ev_lead: np.ndarray,
    ev_status: np.ndarray,
    ev_t: np.ndarray,
) -> Frame:
    """One row per lead and extract day with a change, carrying the state after that day."""
    xday = np.maximum(np.floor(ev_t), 0).astype(np.int64)
    last = np.flatnonzero(np.append((ev_lead[1:] != ev_lead[:-1]) | (xday[1:] != xday[:-1]), True))
    lead, status, t = ev_lead[last], ev_status[last], ev_t[last]
    converted = status == CONVERTED
    return Frame.build(
        "Lead",
        xday[last],
        entity=lead,
        Id=id_codes("Lead", lead),
        Status=Cat.of(names, status),
        CreatedDate=times[lead, OPEN],
        OwnerId=id_codes("User", org.rep_user[owner[lead]]),
        LeadSource=Cat.of(LEAD_SOURCES, source[lead]),
        Company=Cat(company[lead], companies),
        Industry=Cat.of(INDUSTRIES, industry[lead]),
        IsConverted=converted.astype(np.int8),
        ConvertedDate=np.where(converted, np.floor(t), np.nan),
        ConvertedOpportunityId=np.where(converted, id_codes("Opportunity", np.maximum(opp[lead], 0)), -1),
        ConvertedAccountId=np.where(converted, id_codes("Account", np.maximum(account[lead], 0)), -1),
        IsDeleted=np.zeros(len(lead), np.int8),
        SystemModstamp=t,
    )


def _history_rows(
    names: tuple[str, ...], ev_lead: np.ndarray, ev_status: np.ndarray, ev_t: np.ndarray
) -> Frame:
    """A 'created' row per lead, then Field = 'Status' rows with the old and new status."""
    first = np.append(True, ev_lead[1:] != ev_lead[:-1])
    prev_status = np.append(-1, ev_status[:-1])
    old = np.where(first, -1, prev_status)
    field = np.where(first, 0, 1)
    counter = np.empty(len(ev_t), dtype=np.int64)
    counter[np.argsort(ev_t, kind="stable")] = np.arange(len(ev_t))
    return Frame.build(
        "LeadHistory",
        np.maximum(np.floor(ev_t), 0).astype(np.int64),
        entity=ev_lead,
        Id=id_codes("LeadHistory", counter),
        LeadId=id_codes("Lead", ev_lead),
        Field=Cat.of(["created", "Status"], field),
        CreatedDate=ev_t,
        OldValue=Cat.of(names, old),
        NewValue=Cat.of(names, np.where(first, -1, ev_status)),
    )
