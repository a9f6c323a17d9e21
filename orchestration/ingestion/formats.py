"""Date, timestamp and boolean formats as real exports write them, as SQL over trimmed text.

A date or timestamp column is read in one *date format* per file: the order of day, month and year
and their separator. The year may have two or four digits and a time part may follow (``08:55 PM``,
``20:55``, ``20:55:13``, ISO's ``T16:14:25.000+0000``); neither changes the format. A date field
holding a timestamp takes its date (``2018-12-19 00:00:00`` is 2018-12-19), and a timestamp field
holding a date is midnight UTC.

The loader picks each file's format per column: the one candidate that parses every non-empty value
(:func:`choose`). US (``MM/DD``) and day-first (``DD/MM``) both parse a column whose days are all
12 or less; then the setting (``SALES_WH_DATE_FORMATS``) decides, or another column of the same
file that is not ambiguous, or the batch fails naming file, column, samples and the setting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from orchestration.sql import lit

#: Time parts after a date in report forms (12-hour first: ``%H`` would accept ``08:55`` and leave
#: ``PM``, which then fails the whole value anyway).
_TIMES = (
    "",
    " %I:%M %p",
    " %I:%M:%S %p",
    ", %I:%M %p",
    " %H:%M",
    " %H:%M:%S",
    ", %H:%M",
)


@dataclass(frozen=True)
class DateFormat:
    name: str  # setting value and key
    label: str  # how people write it, in messages
    shape: str  # regex the date part matches (guards DuckDB's lenient parsing)
    date_parts: tuple[str, ...] = ()  # strptime date parts, 2-digit year first (``%Y`` would take "26")

    def parse_sql(self, v: str) -> str:
        """SQL: trimmed text ``v`` -> TIMESTAMP (UTC), NULL when it is not in this format."""
        if self.name == "iso":
            # With TimeZone = UTC, a naive value is UTC and an offset converts to UTC. DuckDB's cast
            # is lenient ('02/01/24' would become year 2), so only ISO-shaped text goes to it.
            ts = f"CAST(try_cast({v} AS TIMESTAMPTZ) AS TIMESTAMP)"
        else:
            forms = [d + t for d in self.date_parts for t in _TIMES]
            ts = f"try_strptime({v}, [{', '.join(lit(f) for f in forms)}])"
        return f"CASE WHEN regexp_matches({v}, {lit(self.shape)}) AND isfinite({ts}) THEN {ts} END"


ISO = DateFormat("iso", "ISO 8601 (YYYY-MM-DD)", r"^\d{4}-\d\d?-\d\d?([T ]|$)")
US = DateFormat("mdy", "MM/DD/YYYY", r"^\d\d?/\d\d?/(\d\d|\d{4})([ ,T]|$)", ("%m/%d/%y", "%m/%d/%Y"))
DAY_FIRST = DateFormat("dmy", "DD/MM/YYYY", r"^\d\d?/\d\d?/(\d\d|\d{4})([ ,T]|$)", ("%d/%m/%y", "%d/%m/%Y"))
DOTTED = DateFormat("dmy.", "DD.MM.YYYY", r"^\d\d?\.\d\d?\.(\d\d|\d{4})([ ,T]|$)", ("%d.%m.%y", "%d.%m.%Y"))
DASHED = DateFormat("dmy-", "DD-MM-YYYY", r"^\d\d?-\d\d?-\d{4}([ ,T]|$)", ("%d-%m-%Y",))

#: Candidates in order of preference (a tie between them is the ambiguity handled by :func:`choose`).
DATE_FORMATS: tuple[DateFormat, ...] = (ISO, US, DAY_FIRST, DOTTED, DASHED)
BY_NAME = {f.name: f for f in DATE_FORMATS}


def from_setting(text: str) -> DateFormat:
    """A format named in settings: ``MDY``/``DMY``/``ISO``, a label (``DD.MM.YYYY``) or a strptime
    pattern (``%m/%d/%y``, the older per-object setting)."""
    t = text.strip()
    if t.lower() in BY_NAME:
        return BY_NAME[t.lower()]
    upper = t.upper()
    for f in DATE_FORMATS:
        if upper == f.label.upper() or upper.replace("YYYY", "YY") == f.label.upper().replace("YYYY", "YY"):
            return f
    if not re.fullmatch(r"%[dmyY]([./-])%[dmyY]\1%[dmyY]( .*)?", t):
        raise ValueError(
            f"unknown date format {text!r}: use MDY, DMY, ISO, a label such as DD.MM.YYYY, or a strptime "
            "pattern such as %m/%d/%Y"
        )
    letters = re.sub(r"[^ymd]", "", t.lower().replace("%", ""))[:3]
    sep = "." if "." in t else "-" if "-" in t else "/"
    if letters.startswith("y"):
        return ISO
    if letters.startswith("m"):
        return US
    if letters.startswith("d"):
        return {".": DOTTED, "-": DASHED}.get(sep, DAY_FIRST)
    raise ValueError(
        f"unknown date format {text!r}: use MDY, DMY, ISO, a label such as DD.MM.YYYY, or a strptime "
        "pattern such as %m/%d/%Y"
    )


@dataclass(frozen=True)
class ColumnStats:
    """Counts over one column of one file: non-empty values, values each format parses, and values
    that US and day-first both parse to different dates."""

    values: int
    parsed: dict[str, int]
    us_day_first_differ: int = 0


@dataclass(frozen=True)
class Choice:
    format: DateFormat
    ambiguous: bool = False  # US and day-first both parse every value, to different dates
    complete: bool = True  # the format parses every non-empty value (else the rest is rejected)


def choose(stats: ColumnStats) -> Choice:
    """The format of one column of one file. Ambiguity (US vs day-first) is left to the caller."""
    if stats.values == 0:
        return Choice(ISO)
    full = [f for f in DATE_FORMATS if stats.parsed.get(f.name, 0) == stats.values]
    if not full:
        best = max(DATE_FORMATS, key=lambda f: stats.parsed.get(f.name, 0))
        us, day_first = stats.parsed.get(US.name, 0), stats.parsed.get(DAY_FIRST.name, 0)
        # A bad value among ambiguous dates leaves the day order as open as without it.
        tie = best in (US, DAY_FIRST) and us == day_first and stats.us_day_first_differ > 0
        return Choice(best, ambiguous=tie, complete=False)
    if US in full and DAY_FIRST in full and stats.us_day_first_differ:
        return Choice(US, ambiguous=True)
    return Choice(full[0])


def shape_sql(v: str) -> str:
    """SQL: the shape class of trimmed text ``v`` (1 ISO, 2 slashed, 3 dotted, 4 dashed, NULL other).

    Plain character tests, no regular expression (this runs on every date value of a load): the
    class only picks the candidate format; the cast then checks each value in full (``parse_sql``)."""
    return (
        f"CASE WHEN {v}[5] = '-' THEN 1 WHEN contains({v}, '/') THEN 2 "
        f"WHEN contains({v}, '.') THEN 3 WHEN contains({v}, '-') THEN 4 END"
    )


def stats_query(table: str, columns: Sequence[str]) -> str:
    """SQL over ``table`` (with ``_file_id``): one row per file, column (index into ``columns``) and
    shape with the counts :func:`stats_from_rows` turns into :class:`ColumnStats`.

    Counted by shape, not by parsing every value in every format (five parses per value cost five
    times a load's casting): the shapes of ISO, slashed, dotted and dashed dates are disjoint, and
    within the slashed shape US needs its first number to be a month, day-first its second. A value of
    the right shape that is still no date (``2025-02-30``) is rejected by the cast, with the column's
    format. The columns are stacked (UNION ALL) so each value's shape is computed once.
    """
    stacked = " UNION ALL ".join(
        f"SELECT _file_id, {i} AS col, nullif(trim({c}), '') AS v FROM {table}" for i, c in enumerate(columns)
    )
    first, second = "try_cast(split_part(v, '/', 1) AS INTEGER)", "try_cast(split_part(v, '/', 2) AS INTEGER)"
    return f"""
        SELECT _file_id, col, s, count(v), count(*) FILTER (WHERE m <= 12), count(*) FILTER (WHERE d <= 12),
               count(*) FILTER (WHERE m <= 12 AND d <= 12 AND m <> d)
        FROM (
            SELECT _file_id, col, v, s,
                   CASE WHEN s = 2 THEN {first} END AS m, CASE WHEN s = 2 THEN {second} END AS d
            FROM (SELECT *, {shape_sql("v")} AS s FROM ({stacked}) WHERE v IS NOT NULL)
        )
        GROUP BY ALL"""


def stats_from_rows(rows: Sequence[tuple]) -> dict[tuple[int, int], ColumnStats]:
    """(file id, column index) -> :class:`ColumnStats`, from the rows of :func:`stats_query`."""
    acc: dict[tuple[int, int], list[int]] = {}
    for file_id, col, shape, n, month_first, day_first, differ in rows:
        # values, iso, mdy, dmy, dmy., dmy-, differ
        a = acc.setdefault((file_id, col), [0] * 7)
        a[0] += n
        if shape == 1:
            a[1] += n
        elif shape == 2:
            a[2] += month_first
            a[3] += day_first
            a[6] += differ
        elif shape == 3:
            a[4] += n
        elif shape == 4:
            a[5] += n
    return {
        key: ColumnStats(a[0], {f.name: n for f, n in zip(DATE_FORMATS, a[1:6], strict=True)}, a[6])
        for key, a in acc.items()
    }


#: Boolean spellings (lower case) of real exports; empty is NULL.
TRUE_WORDS = ("true", "1", "yes", "y", "t")
FALSE_WORDS = ("false", "0", "no", "n", "f")


def boolean_sql(v: str) -> str:
    """SQL: trimmed text -> BOOLEAN, NULL when it is no boolean spelling."""
    t = ", ".join(lit(w) for w in TRUE_WORDS)
    f = ", ".join(lit(w) for w in FALSE_WORDS)
    return f"CASE WHEN lower({v}) IN ({t}) THEN true WHEN lower({v}) IN ({f}) THEN false END"
