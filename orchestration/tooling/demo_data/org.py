"""The sales organisation: roles, users, territories, accounts, currencies and their rates.

Reps sit in teams under managers under one VP. Each team owns a few territories; accounts are spread
over territories with lognormal weights, so some territories carry many more accounts per rep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.contract import CORPORATE_CURRENCY

from .calendar import OPEN_END, Calendar
from .frame import Cat, Frame, as_array
from .ids import id_codes
from .scales import Scale

FIRST = np.array(
    [
        "Alex",
        "Sam",
        "Jordan",
        "Taylor",
        "Morgan",
        "Casey",
        "Jamie",
        "Riley",
        "Avery",
        "Quinn",
        "Maria",
        "Jonas",
        "Lena",
        "Noah",
        "Emma",
        "Liam",
        "Olivia",
        "Lucas",
        "Mia",
        "Ethan",
        "Sofia",
        "Hiro",
        "Yuki",
        "Aiko",
        "Kenji",
        "Priya",
        "Arjun",
        "Chloe",
        "Oliver",
        "Amelia",
        "Leon",
        "Clara",
    ]
)
LAST = np.array(
    [
        "Smith",
        "Johnson",
        "Brown",
        "Miller",
        "Garcia",
        "Davis",
        "Wilson",
        "Moore",
        "Clark",
        "Lewis",
        "Walker",
        "Young",
        "King",
        "Wright",
        "Scott",
        "Green",
        "Baker",
        "Adams",
        "Nelson",
        "Hill",
        "Mueller",
        "Schmidt",
        "Weber",
        "Dubois",
        "Martin",
        "Tanaka",
        "Sato",
        "Suzuki",
        "Evans",
        "Hughes",
        "Patel",
    ]
)
WORD_A = np.array(
    [
        "Blue",
        "Red",
        "North",
        "South",
        "Silver",
        "Bright",
        "Summit",
        "Prime",
        "Global",
        "Pacific",
        "Atlantic",
        "Alpine",
        "Golden",
        "Swift",
        "Clear",
        "Nova",
        "Apex",
        "Vertex",
        "Iron",
        "Green",
        "Urban",
        "Polar",
        "Solar",
        "Lunar",
        "Rapid",
        "Quantum",
        "Vital",
        "Grand",
        "Royal",
        "United",
    ]
)
WORD_B = np.array(
    [
        "Harbor",
        "River",
        "Peak",
        "Bridge",
        "Stone",
        "Forge",
        "Field",
        "Wave",
        "Point",
        "Ridge",
        "Works",
        "Labs",
        "Systems",
        "Logistics",
        "Foods",
        "Health",
        "Energy",
        "Capital",
        "Metals",
        "Motors",
        "Media",
        "Robotics",
        "Textiles",
        "Pharma",
        "Analytics",
        "Networks",
        "Retail",
        "Foundry",
    ]
)
SUFFIX = np.array(["Inc", "Ltd", "GmbH", "SA", "LLC", "Corp", "KK", "plc", "BV", "Group"])
INDUSTRIES = np.array(
    [
        "Technology",
        "Manufacturing",
        "Retail",
        "Healthcare",
        "Finance",
        "Energy",
        "Media",
        "Transportation",
        "Education",
        "Consulting",
    ]
)
SEGMENTS = np.array(["SMB", "Mid-Market", "Enterprise"])
SEGMENT_SHARE = np.array([0.6, 0.3, 0.1])
ACCOUNT_TYPES = np.array(["Prospect", "Customer - Direct", "Customer - Channel"])

REGIONS = ("AMER", "EMEA", "APAC")
#: Countries per region with their share and billing currency.
COUNTRIES = {
    "AMER": (("United States", 0.8, "USD"), ("Canada", 0.2, "USD")),
    "EMEA": (
        ("Germany", 0.35, "EUR"),
        ("France", 0.2, "EUR"),
        ("Netherlands", 0.1, "EUR"),
        ("United Kingdom", 0.35, "GBP"),
    ),
    "APAC": (("Japan", 0.5, "JPY"), ("Australia", 0.25, "USD"), ("Singapore", 0.25, "USD")),
}
#: Currency -> (units per USD at the start of history, monthly drift, monthly volatility).
CURRENCIES = {
    CORPORATE_CURRENCY: (1.0, 0.0, 0.0),
    "EUR": (0.92, 0.002, 0.015),
    "GBP": (0.79, -0.001, 0.012),
    "JPY": (148.0, 0.004, 0.02),
}
CURRENCY_CODES = np.array(list(CURRENCIES))
#: Days of history before the first extract (opportunity backlog, account ages, rate history).
HISTORY_DAYS = 240


@dataclass
class Org:
    n_teams: int
    rep_user: np.ndarray  # user index of each rep
    rep_team: np.ndarray
    rep_territory: np.ndarray
    rep_skill: np.ndarray  # log-scale ability: better conversion and slightly larger deals
    acc_owner: np.ndarray  # rep index
    acc_territory: np.ndarray
    acc_segment: np.ndarray
    acc_currency: np.ndarray  # index into CURRENCY_CODES
    acc_created: np.ndarray
    acc_names: pa.Array
    acc_industry: np.ndarray
    rate_month_start: np.ndarray  # days since start, ascending
    rates: np.ndarray  # [month, currency] units per USD
    frames: list[Frame]

    def rate_at(self, currency: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Dated rate in force at time t (the month's rate, as DatedConversionRate says)."""
        m = np.clip(np.searchsorted(self.rate_month_start, np.floor(t), side="right") - 1, 0, None)
        return self.rates[m, currency]


def _join(*parts: np.ndarray | str) -> pa.Array:
    arrays = [pa.array(p) if isinstance(p, np.ndarray) else p for p in parts]
    return as_array(pc.binary_join_element_wise(*arrays, ""))


def _pick(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    return rng.choice(len(p), size=n, p=p / p.sum())


def build_org(rng: np.random.Generator, scale: Scale, cal: Calendar) -> Org:
    n_reps = scale.reps
    n_teams = max(1, round(n_reps / scale.team_size))
    rep_team = np.arange(n_reps) % n_teams
    rep_user = 1 + n_teams + np.arange(n_reps)  # user 0 is the VP, then managers, then reps
    n_users = 1 + n_teams + n_reps

    # Territories: 0 root, 1..3 regions, then per team about one territory per two reps.
    reps_per_team = np.bincount(rep_team, minlength=n_teams)
    terr_per_team = np.maximum(1, reps_per_team // 2)
    first_terr = 4 + np.concatenate([[0], np.cumsum(terr_per_team)[:-1]])
    n_terr = 4 + int(terr_per_team.sum())
    terr_team = np.repeat(np.arange(n_teams), terr_per_team)
    team_region = np.arange(n_teams) % len(REGIONS)
    rep_territory = first_terr[rep_team] + (np.arange(n_reps) // n_teams) % terr_per_team[rep_team]
    rep_skill = rng.normal(0.0, 0.35, n_reps)

    # Accounts, spread unevenly over the team territories.
    n_acc = scale.accounts
    terr_weight = rng.lognormal(0.0, 0.9, n_terr - 4)
    acc_territory = 4 + _pick(rng, terr_weight, n_acc)
    order = np.argsort(rep_territory, kind="stable")
    counts = np.bincount(rep_territory, minlength=n_terr)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    acc_owner = order[starts[acc_territory] + (rng.random(n_acc) * counts[acc_territory]).astype(np.int64)]
    acc_region = team_region[terr_team[acc_territory - 4]]
    acc_segment = _pick(rng, SEGMENT_SHARE, n_acc)
    country_names: list[str] = []
    country_currency: list[int] = []
    country_idx = np.zeros(n_acc, dtype=np.int64)
    for r, region in enumerate(REGIONS):  # three regions, not rows
        base = len(country_names)
        share = np.array([c[1] for c in COUNTRIES[region]])
        in_region = acc_region == r
        country_idx[in_region] = base + _pick(rng, share, int(in_region.sum()))
        country_names += [c[0] for c in COUNTRIES[region]]
        country_currency += [int(np.flatnonzero(c[2] == CURRENCY_CODES)[0]) for c in COUNTRIES[region]]
    acc_currency = np.array(country_currency)[country_idx]
    acc_created = np.where(
        rng.random(n_acc) < 0.85,
        rng.uniform(-1500, -HISTORY_DAYS - 5, n_acc),
        rng.uniform(0, cal.days, n_acc),
    )
    acc_names = _join(
        WORD_A[rng.integers(0, len(WORD_A), n_acc)],
        " ",
        WORD_B[rng.integers(0, len(WORD_B), n_acc)],
        " ",
        SUFFIX[rng.integers(0, len(SUFFIX), n_acc)],
    )
    acc_industry = rng.integers(0, len(INDUSTRIES), n_acc)

    months, rates = _rates(rng, cal)
    org = Org(
        n_teams,
        rep_user,
        rep_team,
        rep_territory,
        rep_skill,
        acc_owner,
        acc_territory,
        acc_segment,
        acc_currency,
        acc_created,
        acc_names,
        acc_industry,
        months,
        rates,
        [],
    )
    org.frames = [
        _roles(n_teams, team_region),
        *_users(rng, cal, n_users, n_teams, rep_team, team_region),
        _territories(n_terr, n_teams, terr_per_team, terr_team, team_region),
        _user_territories(n_reps, rep_user, rep_territory),
        _account_territories(acc_territory, acc_created),
        *_accounts(rng, org, np.array(country_names)[country_idx]),
        *_currency_frames(cal, months, rates),
    ]
    return org


def _team_names(n_teams: int, team_region: np.ndarray) -> np.ndarray:
    return np.array([f"{REGIONS[team_region[k]]} {k // len(REGIONS) + 1}" for k in range(n_teams)])


def _roles(n_teams: int, team_region: np.ndarray) -> Frame:
    teams = _team_names(n_teams, team_region)
    names = ["VP Sales", *[f"Sales Manager {t}" for t in teams], *[f"Account Executive {t}" for t in teams]]
    n = len(names)
    parent = np.concatenate([[-1], np.zeros(n_teams, np.int64), 1 + np.arange(n_teams)])
    return Frame.build(
        "UserRole",
        np.zeros(n, np.int64),
        Id=id_codes("UserRole", np.arange(n)),
        Name=Cat.of(names, np.arange(n)),
        ParentRoleId=np.where(parent < 0, -1, id_codes("UserRole", np.maximum(parent, 0))),
    )


def _users(
    rng: np.random.Generator,
    cal: Calendar,
    n: int,
    n_teams: int,
    rep_team: np.ndarray,
    team_region: np.ndarray,
) -> list[Frame]:
    first = FIRST[rng.integers(0, len(FIRST), n)]
    last = LAST[rng.integers(0, len(LAST), n)]
    names = _join(first, " ", last)
    emails = pc.utf8_lower(_join(first, ".", last, np.arange(n).astype(str), "@example.com"))
    is_manager = (np.arange(n) >= 1) & (np.arange(n) <= n_teams)
    team = np.concatenate([[0], np.arange(n_teams), rep_team])
    role = np.where(np.arange(n) == 0, 0, np.where(is_manager, 1 + team, 1 + n_teams + team))
    manager = np.where(np.arange(n) == 0, -1, np.where(is_manager, 0, 1 + team))
    titles = np.array(["VP Sales", "Sales Manager", "Account Executive", "Senior Account Executive"])
    title = np.where(np.arange(n) == 0, 0, np.where(is_manager, 1, 2 + (rng.random(n) < 0.25)))
    created = rng.uniform(-1800, -HISTORY_DAYS, n)
    modstamp = created + rng.uniform(0, 30, n)

    def frame(day: np.ndarray, idx: np.ndarray, title_code: np.ndarray, stamp: np.ndarray) -> Frame:
        return Frame.build(
            "User",
            day,
            entity=idx,
            Id=id_codes("User", idx),
            Name=Cat(idx, names),
            Email=Cat(idx, emails),
            IsActive=np.ones(len(idx), np.int8),
            UserRoleId=id_codes("UserRole", role[idx]),
            ManagerId=np.where(manager[idx] < 0, -1, id_codes("User", np.maximum(manager[idx], 0))),
            Title=Cat.of(titles, title_code),
            Department=Cat.const("Sales", len(idx)),
            CreatedDate=created[idx],
            SystemModstamp=stamp,
        )

    everyone = np.arange(n)
    # Later change: some account executives are promoted during the year.
    promoted = np.flatnonzero((title == 2) & (rng.random(n) < 0.12))
    when = rng.uniform(1, max(cal.days - 1, 1.5), len(promoted))
    return [
        frame(np.zeros(n, np.int64), everyone, title, modstamp),
        frame(np.floor(when).astype(np.int64), promoted, np.full(len(promoted), 3), when),
    ]


def _territories(
    n: int, n_teams: int, terr_per_team: np.ndarray, terr_team: np.ndarray, team_region: np.ndarray
) -> Frame:
    teams = _team_names(n_teams, team_region)
    local = np.arange(n - 4) - np.repeat(np.concatenate([[0], np.cumsum(terr_per_team)[:-1]]), terr_per_team)
    names = [
        "Global Sales",
        *REGIONS,
        *[f"{teams[t]} - T{j + 1}" for t, j in zip(terr_team, local, strict=True)],
    ]
    parent = np.concatenate([[-1], [0, 0, 0], 1 + team_region[terr_team]])
    return Frame.build(
        "Territory2",
        np.zeros(n, np.int64),
        Id=id_codes("Territory2", np.arange(n)),
        Name=Cat.of(names, np.arange(n)),
        ParentTerritory2Id=np.where(parent < 0, -1, id_codes("Territory2", np.maximum(parent, 0))),
    )


def _user_territories(n_reps: int, rep_user: np.ndarray, rep_territory: np.ndarray) -> Frame:
    return Frame.build(
        "UserTerritory2Association",
        np.zeros(n_reps, np.int64),
        Id=id_codes("UserTerritory2Association", np.arange(n_reps)),
        UserId=id_codes("User", rep_user),
        Territory2Id=id_codes("Territory2", rep_territory),
    )


def _account_territories(acc_territory: np.ndarray, acc_created: np.ndarray) -> Frame:
    n = len(acc_territory)
    return Frame.build(
        "ObjectTerritory2Association",
        np.maximum(np.floor(acc_created), 0).astype(np.int64),
        Id=id_codes("ObjectTerritory2Association", np.arange(n)),
        ObjectId=id_codes("Account", np.arange(n)),
        Territory2Id=id_codes("Territory2", acc_territory),
    )


def _accounts(rng: np.random.Generator, org: Org, country: np.ndarray) -> list[Frame]:
    n = len(org.acc_owner)
    emp_median = np.array([40.0, 600.0, 6000.0])[org.acc_segment]
    employees = np.clip(
        np.round(rng.lognormal(np.log(emp_median), 0.6)),
        np.array([5, 200, 2000])[org.acc_segment],
        np.array([199, 1999, 300000])[org.acc_segment],
    )
    revenue = np.round(employees * rng.lognormal(np.log(180_000), 0.4, n), -3)
    acc_type = _pick(rng, np.array([0.5, 0.4, 0.1]), n)
    created = org.acc_created
    stamp = created + rng.uniform(0, 20, n) * (created < 0)
    countries = np.unique(country)

    def frame(day: np.ndarray, idx: np.ndarray, emp: np.ndarray, stamp_: np.ndarray) -> Frame:
        return Frame.build(
            "Account",
            day,
            entity=idx,
            Id=id_codes("Account", idx),
            Name=Cat(idx, org.acc_names),
            OwnerId=id_codes("User", org.rep_user[org.acc_owner[idx]]),
            Industry=Cat.of(INDUSTRIES, org.acc_industry[idx]),
            Type=Cat.of(ACCOUNT_TYPES, acc_type[idx]),
            BillingCountry=Cat.of(countries, np.searchsorted(countries, country[idx])),
            NumberOfEmployees=emp,
            AnnualRevenue=revenue[idx],
            Segment__c=Cat.of(SEGMENTS, org.acc_segment[idx]),
            CreatedDate=created[idx],
            IsDeleted=np.zeros(len(idx), np.int8),
            SystemModstamp=stamp_,
        )

    everyone = np.arange(n)
    changed = np.flatnonzero(rng.random(n) < 0.06)
    when = np.maximum(created[changed], 0) + rng.uniform(1, 200, len(changed))
    grown = np.round(employees[changed] * rng.uniform(1.0, 1.2, len(changed)))
    return [
        frame(np.maximum(np.floor(created), 0).astype(np.int64), everyone, employees, stamp),
        frame(np.floor(when).astype(np.int64), changed, grown, when),
    ]


def _rates(rng: np.random.Generator, cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    months = cal.month_starts(-HISTORY_DAYS - 31)
    base = np.array([v[0] for v in CURRENCIES.values()])
    drift = np.array([v[1] for v in CURRENCIES.values()])
    vol = np.array([v[2] for v in CURRENCIES.values()])
    steps = rng.normal(drift, vol, (len(months), len(base)))
    steps[0] = 0.0
    rates = base * np.exp(np.cumsum(steps, axis=0))
    rates = np.where(base >= 10, np.round(rates, 2), np.round(rates, 6))
    return months, rates


def _currency_frames(cal: Calendar, months: np.ndarray, rates: np.ndarray) -> list[Frame]:
    n_m, n_c = rates.shape
    m = np.repeat(np.arange(n_m), n_c)
    c = np.tile(np.arange(n_c), n_m)
    open_end = float(cal.rel(OPEN_END))
    next_start = np.append(months[1:], open_end)[m]
    arrives = np.maximum(months[m], 0)
    # The month in force on an arrival day is open-ended until the next month's rate arrives.
    current = (months[m] > 0) | (m == np.searchsorted(months, 0, side="right") - 1)
    base = Frame.build(
        "DatedConversionRate",
        arrives.astype(np.int64),
        IsoCode=Cat.of(CURRENCY_CODES, c),
        ConversionRate=rates[m, c],
        StartDate=months[m],
        NextStartDate=np.where(current, open_end, next_start),
    )
    # When a month's rate arrives, Salesforce closes the previous month's range (NextStartDate).
    upd = np.flatnonzero(months[m] > 0) - n_c
    closing = Frame.build(
        "DatedConversionRate",
        arrives[upd + n_c].astype(np.int64),
        IsoCode=Cat.of(CURRENCY_CODES, c[upd]),
        ConversionRate=rates[m[upd], c[upd]],
        StartDate=months[m[upd]],
        NextStartDate=months[m[upd] + 1],
    )
    in_force = np.searchsorted(months, 0, side="right") - 1
    later = np.flatnonzero(months > 0)
    cm = np.concatenate([[in_force], later]).repeat(n_c)
    cc = np.tile(np.arange(n_c), len(cm) // n_c)
    keep = (cm == in_force) | (cc != 0)  # the corporate currency never changes
    currency = Frame.build(
        "CurrencyType",
        np.maximum(months[cm[keep]], 0).astype(np.int64),
        IsoCode=Cat.of(CURRENCY_CODES, cc[keep]),
        ConversionRate=rates[cm[keep], cc[keep]],
        IsCorporate=(cc[keep] == 0).astype(np.int8),
    )
    return [base, closing, currency]
