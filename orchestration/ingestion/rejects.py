"""What the rejects of a load say, in a form a person reads: the top reasons with counts and examples.

Used by the raw assets (check metadata), ``sales-wh run`` (a blocked run prints why) and
``sales-wh validate``. An example is ``file:line column=value reason``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import duckdb

from orchestration.contract import RAW_SCHEMA, REJECTS_TABLE

#: Longest value shown in an example (a 5 MB field is not printed whole).
EXAMPLE_VALUE_CHARS = 80


@dataclass(frozen=True)
class RejectReason:
    object: str
    reason: str
    rows: int
    examples: tuple[str, ...]

    def line(self) -> str:
        return f"{self.object}: {self.rows} x {self.reason}"


def example(
    source_file: str | None, line: int | None, column: str | None, value: str | None, reason: str
) -> str:
    where = f"{source_file or '?'}:{line}" if line is not None else (source_file or "?")
    shown = (
        value if value is None or len(value) <= EXAMPLE_VALUE_CHARS else value[:EXAMPLE_VALUE_CHARS] + "..."
    )
    cell = f" {column}={shown!r}" if column else (f" {shown!r}" if shown else "")
    return f"{where}{cell} {reason}"


def top_reasons(
    con: duckdb.DuckDBPyConnection,
    *,
    objects: Sequence[str] | None = None,
    dates: Sequence[date] | None = None,
    committed: bool | None = None,
    limit: int = 5,
    examples: int = 5,
) -> list[RejectReason]:
    """The ``limit`` most frequent reject reasons (per object), each with up to ``examples`` examples in
    file and line order. Filters: objects, extract dates, committed (None: both)."""
    where: list[str] = ["true"]
    params: dict[str, object] = {}
    if objects is not None:
        where.append("object IN (SELECT unnest(CAST($objects AS VARCHAR[])))")
        params["objects"] = list(objects)
    if dates is not None:
        where.append("extract_date IN (SELECT unnest(CAST($dates AS DATE[])))")
        params["dates"] = list(dates)
    if committed is not None:
        where.append("committed IS NOT FALSE" if committed else "committed = false")
    rows = con.execute(
        f"""WITH r AS (SELECT * FROM {RAW_SCHEMA}.{REJECTS_TABLE} WHERE {" AND ".join(where)}),
            top AS (
                SELECT object, reason, count(*) AS n FROM r GROUP BY ALL ORDER BY n DESC, object, reason
                LIMIT {int(limit)}
            )
            SELECT t.object, t.reason, t.n,
                   list([r.source_file, CAST(r.source_line AS VARCHAR), r.column_name, r.value]
                        ORDER BY r.source_file, r.source_line)[1:{int(examples)}]
            FROM top AS t JOIN r USING (object, reason)
            GROUP BY t.object, t.reason, t.n ORDER BY t.n DESC, t.object, t.reason""",
        params,
    ).fetchall()
    return [
        RejectReason(
            obj,
            reason,
            n,
            tuple(example(f, int(ln) if ln is not None else None, c, v, reason) for f, ln, c, v in ex),
        )
        for obj, reason, n, ex in rows
    ]


def markdown(reasons: Sequence[RejectReason]) -> str:
    lines = ["| rows | reason | examples |", "|---:|---|---|"]
    for r in reasons:
        shown = "<br>".join(e.replace("|", "/") for e in r.examples)
        lines.append(f"| {r.rows} | {r.reason.replace('|', '/')} | {shown} |")
    return "\n".join(lines)
