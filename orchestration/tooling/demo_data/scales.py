"""The one table of scale parameters of the demo data (volumes per 365 days)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    #: Account executives (managers and the VP come on top).
    reps: int
    accounts: int
    #: Opportunities created per 365 days (plus a backlog created before the first extract).
    opportunities: int
    #: Tasks + events per 365 days (approximate: the selling share calibration moves it a little).
    activities: int
    #: Malformed rows written per object behind ``--malformed``.
    malformed_per_object: int
    #: Reps per manager.
    team_size: int = 8


SCALES: dict[str, Scale] = {
    "S": Scale(reps=25, accounts=600, opportunities=4_000, activities=100_000, malformed_per_object=3),
    "M": Scale(
        reps=200, accounts=10_000, opportunities=100_000, activities=2_000_000, malformed_per_object=5
    ),
    "L": Scale(
        reps=2_000, accounts=100_000, opportunities=1_000_000, activities=20_000_000, malformed_per_object=10
    ),
}


def get_scale(name: str) -> Scale:
    try:
        return SCALES[name.upper()]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}") from None
