"""Time helpers. Simulation time is float days since the first extract date (day 0, 00:00 UTC)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import overload

import numpy as np

#: Far-future end of the open-ended dated conversion rate, as Salesforce writes it.
OPEN_END = date(9999, 12, 31)


@dataclass(frozen=True)
class Calendar:
    start: date
    days: int

    @property
    def start_epoch_day(self) -> int:
        return (self.start - date(1970, 1, 1)).days

    @overload
    def rel(self, d: date) -> int: ...
    @overload
    def rel(self, d: np.ndarray) -> np.ndarray: ...
    def rel(self, d: date | np.ndarray) -> np.ndarray | int:
        """Date(s) -> days since the start."""
        if isinstance(d, date):
            return (d - self.start).days
        return (d.astype("datetime64[D]").astype(np.int64) - self.start_epoch_day).astype(np.float64)

    def weekday(self, day: np.ndarray) -> np.ndarray:
        """Monday = 0 .. Sunday = 6 of (integer) days since the start."""
        return (np.floor(day).astype(np.int64) + self.start.weekday()) % 7

    def working_days(self) -> np.ndarray:
        days = np.arange(self.days)
        return days[self.weekday(days) < 5]

    def _as_datetime64(self, day: np.ndarray) -> np.ndarray:
        return (np.floor(day).astype(np.int64) + self.start_epoch_day).astype("datetime64[D]")

    def month_start(self, day: np.ndarray) -> np.ndarray:
        months = self._as_datetime64(day).astype("datetime64[M]")
        return self.rel(months.astype("datetime64[D]"))

    def quarter_bounds(self, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(quarter start, next quarter start) in days since the start, for each day."""
        months = self._as_datetime64(day).astype("datetime64[M]").astype(np.int64)
        q0 = months - months % 3
        q_start = self.rel(q0.astype("datetime64[M]").astype("datetime64[D]"))
        q_end = self.rel((q0 + 3).astype("datetime64[M]").astype("datetime64[D]"))
        return q_start, q_end

    def quarter_starts(self) -> np.ndarray:
        """Quarter starts (days since the start) of every quarter overlapping the window."""
        first, _ = self.quarter_bounds(np.array([0.0]))
        starts = [first[0]]
        while True:
            _, nxt = self.quarter_bounds(np.array([starts[-1]]))
            if nxt[0] >= self.days:
                return np.array(starts)
            starts.append(nxt[0])

    def month_starts(self, from_day: float) -> np.ndarray:
        """Month starts from the month containing ``from_day`` to the last month of the window."""
        first = self._as_datetime64(np.array([from_day])).astype("datetime64[M]")[0]
        last = self._as_datetime64(np.array([self.days - 1])).astype("datetime64[M]")[0]
        months = np.arange(first, last + 1)
        return self.rel(months.astype("datetime64[D]"))


def work_hours(t: np.ndarray) -> np.ndarray:
    """Squeeze each time into 13:00-22:00 UTC of its own day (order within a day is kept)."""
    day = np.floor(t)
    return day + (13.0 + 9.0 * (t - day)) / 24.0


def to_epoch_ms(cal: Calendar, t: np.ndarray) -> np.ndarray:
    """Days since the start -> int64 epoch milliseconds, whole seconds (NaN stays a null mask)."""
    secs = np.round((np.nan_to_num(t) + cal.start_epoch_day) * 86400.0)
    return secs.astype(np.int64) * 1000
