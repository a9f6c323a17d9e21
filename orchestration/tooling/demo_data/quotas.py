"""Quarterly ForecastingQuota per rep.

Quotas are planned from territory potential (what the rep's accounts are worth), not from the rep's
skill, so attainment spreads with skill and territory richness. The plan's level is calibrated so that
about half the reps reach quota in a typical quarter (bookings = won amount in USD at the dated rate on
the close date, dated by close date).
"""

from __future__ import annotations

import numpy as np

from orchestration.contract import CORPORATE_CURRENCY

from .calendar import Calendar
from .frame import Cat, Frame, concat
from .ids import id_codes
from .opportunities import SEG_MEDIAN_USD, SEG_OPP_WEIGHT, Opps
from .org import Org

#: Share of quotas re-sent mid-quarter with quota relief (a later change of a reference object).
RELIEF_SHARE = 0.05


def quarterly_bookings(cal: Calendar, org: Org, opps: Opps, q_starts: np.ndarray) -> np.ndarray:
    """[rep, quarter] won USD, dated by close date."""
    won = np.flatnonzero(opps.won)
    close = np.floor(opps.close_t[won])
    usd = opps.amount_end[won] / org.rate_at(opps.currency[won], close)
    q = np.searchsorted(q_starts, close, side="right") - 1
    ok = (q >= 0) & (close < cal.days)
    n_reps, n_q = len(org.rep_user), len(q_starts)
    cell = opps.owner[won[ok]] * n_q + q[ok]
    return np.bincount(cell, weights=usd[ok], minlength=n_reps * n_q).reshape(n_reps, n_q)


def build_quotas(rng: np.random.Generator, cal: Calendar, org: Org, opps: Opps) -> Frame:
    q_starts = cal.quarter_starts()
    _, q_ends = cal.quarter_bounds(q_starts)
    n_reps, n_q = len(org.rep_user), len(q_starts)
    value = SEG_OPP_WEIGHT[org.acc_segment] * SEG_MEDIAN_USD[org.acc_segment]
    potential = (np.bincount(org.acc_owner, weights=value, minlength=n_reps) + 1.0) ** 0.6

    bookings = quarterly_bookings(cal, org, opps, q_starts)
    full = (q_starts >= 0) & (q_ends <= cal.days)
    if not full.any():
        full[:] = True
    ratio = bookings[:, full] / potential[:, None]
    level = float(np.median(ratio)) or float(ratio.mean()) or 1.0
    quota = np.maximum(np.round(level * potential / 1000.0) * 1000.0, 1000.0)

    rep = np.repeat(np.arange(n_reps), n_q)
    q = np.tile(np.arange(n_q), n_reps)
    n = len(rep)
    amount = quota[rep]

    def rows(idx: np.ndarray, day: np.ndarray, amt: np.ndarray) -> Frame:
        return Frame.build(
            "ForecastingQuota",
            day,
            entity=idx,
            Id=id_codes("ForecastingQuota", idx),
            QuotaOwnerId=id_codes("User", org.rep_user[rep[idx]]),
            StartDate=q_starts[q[idx]],
            QuotaAmount=amt,
            CurrencyIsoCode=Cat.const(CORPORATE_CURRENCY, len(idx)),
        )

    relief = np.flatnonzero(rng.random(n) < RELIEF_SHARE)
    relief_day = (q_starts[q[relief]] + 45).astype(np.int64)
    relief = relief[(relief_day > 0) & (relief_day < cal.days)]
    relief_day = (q_starts[q[relief]] + 45).astype(np.int64)
    return concat(
        [
            rows(np.arange(n), np.zeros(n, np.int64), amount),
            rows(relief, relief_day, np.round(amount[relief] * 0.9 / 1000.0) * 1000.0),
        ]
    )
