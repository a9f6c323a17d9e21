"""The dashboard page: header (reporting date, publish), headline tiles, data-quality findings and the
charts, as one self-contained HTML file (plotly.js inlined once by Plotly's ``to_html``)."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import plotly.io as pio

from orchestration.tooling.dashboard.charts import Chart, build_charts
from orchestration.tooling.dashboard.data import QUERIES, DashboardData

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    detail: str
    source: str


def _num(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return float(value)


def _pct(value: Any) -> str:
    v = _num(value)
    return "n/a" if v is None else f"{v:.1%}"


def _money(value: Any) -> str:
    v = _num(value)
    if v is None:
        return "n/a"
    for size, suffix in ((1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= size:
            return f"{v / size:,.2f}{suffix}"
    return f"{v:,.0f}"


def _quarter(day: date | None) -> str:
    return "n/a" if day is None else f"{day.year} Q{(day.month - 1) // 3 + 1}"


def _by(df: pd.DataFrame | None, key: str, when: Any, column: str) -> Any:
    """``column`` of the row whose ``key`` equals ``when`` (None when there is none)."""
    if df is None or df.empty or when is None:
        return None
    rows = df[pd.to_datetime(df[key]).dt.date == when]
    return None if rows.empty else rows.iloc[0][column]


def _change(now: Any, before: Any) -> str:
    a, b = _num(now), _num(before)
    if a is None or b is None or b == 0:
        return ""
    return f" ({(a - b) / abs(b):+.0%})"


def _coverage(row: Any) -> str:
    """A coverage multiple, or why it is undefined (no quota; quota already met)."""
    if row is None:
        return "n/a"
    if _num(row["coverage"]) is not None:
        return f"{row['coverage']:.2f}×"
    remaining = _num(row["remaining_quota"])
    return "n/a (no quota)" if remaining is None else "n/a (quota met)"


def tiles(data: DashboardData) -> list[Tile]:
    q0, q1 = data.quarters()
    f = data.frames
    this_q, last_q = _quarter(q0), _quarter(q1)
    b0 = _by(f.get("tile_bookings"), "close_quarter", q0, "bookings")
    b1 = _by(f.get("tile_bookings"), "close_quarter", q1, "bookings")
    w0 = _by(f.get("tile_win_rate"), "close_quarter", q0, "win_rate")
    w1 = _by(f.get("tile_win_rate"), "close_quarter", q1, "win_rate")
    s0 = _by(f.get("tile_selling_share"), "quarter_start", q0, "share")
    s1 = _by(f.get("tile_selling_share"), "quarter_start", q1, "share")

    def tile(query: str, label: str, value: str, detail: str) -> Tile:
        return Tile(label, value, detail, QUERIES[query][0])

    out = [
        tile(
            "tile_bookings",
            "Bookings this quarter",
            _money(b0),
            f"{this_q} to date; {last_q}: {_money(b1)}{_change(b0, b1)}",
        ),
        tile(
            "tile_win_rate",
            "Win rate (by count)",
            _pct(w0),
            f"deals closed in {this_q}; {last_q}: {_pct(w1)}",
        ),
    ]
    quota = f.get("tile_at_quota")
    if quota is not None and not quota.empty:
        cur = quota.iloc[0]
        prev = f"; previous period: {_pct(quota.iloc[1]['share'])}" if len(quota) > 1 else ""
        detail = (
            f"{int(cur['at_quota'])} of {int(cur['with_quota'])} reps with a quota, period from "
            f"{pd.Timestamp(cur['period_start']).date()} (to date){prev}"
        )
        out.append(tile("tile_at_quota", "Reps at quota", _pct(cur["share"]), detail))
    else:
        out.append(tile("tile_at_quota", "Reps at quota", "n/a", "no rep with a quota"))
    selling = f"of logged minutes, weeks starting in {this_q}; {last_q}: {_pct(s1)}"
    out.append(tile("tile_selling_share", "Selling-time share", _pct(s0), selling))
    cov = f.get("tile_coverage")
    if cov is not None and not cov.empty:
        rows = {int(r["period_offset"]): r for _, r in cov.iterrows()}
        now, nxt = rows.get(0), rows.get(1)
        value, nxt_text = _coverage(now), _coverage(nxt)
        detail = (
            "open pipeline ÷ remaining quota, current period"
            + ("" if now is None else f" ({_money(now['open_pipeline'])} ÷ {_money(now['remaining_quota'])})")
            + f"; next period: {nxt_text}"
        )
        out.append(tile("tile_coverage", "Pipeline coverage", value, detail))
    else:
        out.append(tile("tile_coverage", "Pipeline coverage", "n/a", "no data"))
    if q0 is None:  # no mart carries a reporting date: there is no "this quarter" to compare
        why = "no data: no KPI mart carries a reporting date"
        out = [Tile(t.label, "n/a", why, t.source) if t.value == "n/a" else t for t in out]
    return out


def _table(df: pd.DataFrame, columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape('' if pd.isna(r[c]) else str(r[c]))}</td>" for c in columns)
        + "</tr>"
        for _, r in df.iterrows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _frame_section(data: DashboardData, query: str, title: str, columns: list[str], none: str) -> str:
    df = data.frames.get(query)
    table = QUERIES[query][0]
    if df is None:
        body = f"<p class='missing'>{html.escape(table)} is not in the published file.</p>"
    elif df.empty:
        body = f"<p>{html.escape(none)}</p>"
    else:
        body = _table(df, columns)
    return f"<h3>{html.escape(title)} <span class='src'>{html.escape(table)}</span></h3>{body}"


def _int(df: pd.DataFrame, column: str) -> int:
    return int(df[column].sum()) if not df.empty else 0


def rejects_section(data: DashboardData) -> str:
    """Rows read, loaded and rejected per object, and the top reject reasons with an example."""
    objects, reasons = data.frames.get("dq_load_objects"), data.frames.get("dq_reject_reasons")
    sources = f"{QUERIES['dq_load_objects'][0]}, {QUERIES['dq_reject_reasons'][0]}"
    head = f"<h3>Rejected rows <span class='src'>{html.escape(sources)}</span></h3>"
    if objects is None or reasons is None:
        return head + (
            "<p class='missing'>Not in the published file (published before the loader's rejects were): "
            "rejected rows are in <code>raw._rejects</code> of the working warehouse.</p>"
        )
    body = (
        f"<p><b>{_int(objects, 'rejected_rows'):,}</b> source rows rejected of "
        f"{_int(objects, 'source_rows'):,} read ({_int(objects, 'loaded_rows'):,} loaded): every row of a "
        "loaded batch is loaded or rejected.</p>"
    )
    # Objects with rejects only: the line above already says the others loaded every row.
    rejecting = objects[objects["rejected_rows"] > 0]
    if not rejecting.empty:
        counts = ["batches", "source_rows", "loaded_rows", "rejected_rows"]
        shown = rejecting.assign(**{c: rejecting[c].map(lambda n: f"{int(n):,}") for c in counts})
        others = len(objects) - len(rejecting)
        body += _table(shown, ["object", *counts]) + (
            f"<p>The other {others} object{'s' if others > 1 else ''} loaded every row.</p>" if others else ""
        )
    if reasons.empty:
        return head + body + "<p>No rejects.</p>"
    shown = reasons.assign(
        batch=reasons["is_committed"].map(lambda c: "loaded" if c else "refused (not loaded)")
    )
    return (
        head
        + body
        + "<p>Top reasons (rejected cells, or whole rows):</p>"
        + _table(shown, ["object", "reason", "rejects", "batch", "example"])
    )


def data_quality(data: DashboardData) -> str:
    parts = [rejects_section(data)]
    parts.append(
        _frame_section(
            data,
            "dq_unmapped",
            "Unmapped values",
            ["object", "field", "value", "row_count", "suggested_seed_line"],
            "None: every stage, lead status and activity type maps.",
        )
    )
    parts.append(
        _frame_section(
            data,
            "dq_findings",
            "Odd source data (findings with rows)",
            ["check_name", "object", "row_count", "severity", "treatment"],
            "None: no finding has rows.",
        )
    )
    parts.append(
        _frame_section(
            data,
            "failed_checks",
            "Checks that failed without blocking this publish",
            ["asset_key", "check_name", "severity", "description"],
            "None: every check of the publishing run passed.",
        )
    )
    if data.publish is not None and data.publish.objects_not_found:
        missing = ", ".join(data.publish.objects_not_found)
        parts.append(
            f"<h3>Objects not landed</h3><p>{html.escape(missing)} (optional; only the KPIs that need them "
            "are empty, see README)</p>"
        )
    return "".join(parts)


def _count(data: DashboardData, query: str, column: str | None = None) -> str:
    df = data.frames.get(query)
    if df is None:
        return "not published"
    return f"{len(df) if column is None else int(df[column].sum()):,}"


def dq_summary(data: DashboardData) -> str:
    objects = data.frames.get("dq_load_objects")
    rejected = (
        "not published"
        if objects is None
        else f"{_int(objects, 'rejected_rows'):,} of {_int(objects, 'source_rows'):,} source rows"
    )
    return (
        f"rejected rows {rejected}; unmapped values {_count(data, 'dq_unmapped')} "
        f"({_count(data, 'dq_unmapped', 'row_count')} rows); findings with rows "
        f"{_count(data, 'dq_findings')}; checks failed without blocking {_count(data, 'failed_checks')}"
    )


def _header(data: DashboardData) -> str:
    pub = data.publish
    as_of = "n/a" if data.as_of is None else data.as_of.isoformat()
    published = (
        "no run history in the published file"
        if pub is None
        else (
            f"published {pub.published_at:%Y-%m-%d %H:%M:%S} UTC by run {pub.run_id[:8]} (extract dates "
            f"{pub.partition_range}; checks {pub.checks_passed} passed, {pub.checks_failed} failed)"
        )
    )
    return (
        "<header><h1>Sales KPI dashboard</h1>"
        f"<p class='meta'>As of <b id='as-of'>{html.escape(as_of)}</b> "
        f"<span class='src'>({html.escape(data.as_of_source)})</span> · "
        f"<span id='published-at'>{html.escape(published)}</span></p>"
        f"<p class='meta' id='dq-summary'>Data quality: {html.escape(dq_summary(data))} "
        "(<a href='#data-quality'>details</a>)</p>"
        f"<p class='meta'>Source: <code>{html.escape(str(data.published_path))}</code> (read-only). Amounts "
        "in the corporate currency. Definitions: docs/KPI_DEFINITIONS.md.</p></header>"
    )


def _tile_html(t: Tile) -> str:
    return (
        f"<div class='tile'><div class='label'>{html.escape(t.label)}</div>"
        f"<div class='value'>{html.escape(t.value)}</div><div class='detail'>{html.escape(t.detail)}</div>"
        f"<div class='src'>{html.escape(t.source)}</div></div>"
    )


def _chart_html(c: Chart, first: bool) -> str:
    div = pio.to_html(
        c.figure,
        include_plotlyjs=first,  # plotly.js inlined once, in the first chart: the file opens offline
        full_html=False,
        config=PLOTLY_CONFIG,
        div_id=f"chart-{c.key}",
    )
    empty = f"<p class='no-data'>No data: {html.escape(c.no_data)}</p>" if c.no_data else ""
    return (
        f"<section class='card' id='card-{c.key}' data-no-data='{'true' if c.no_data else 'false'}'>"
        f"<h3>{html.escape(c.title)}</h3><p class='note'>{html.escape(c.note)} "
        f"<span class='src'>{html.escape(c.source)}</span></p>{empty}{div}</section>"
    )


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f5f7;color:#222}
header,main{max-width:1500px;margin:0 auto;padding:12px 24px}
h1{margin:8px 0 4px;font-size:24px} h2{font-size:18px;margin:18px 0 8px} h3{font-size:15px;margin:10px 0 4px}
.meta{margin:2px 0;color:#444;font-size:13px} .src{color:#888;font-size:11px;font-weight:normal}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px}
.tile{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px #0002}
.tile .label{font-size:13px;color:#555} .tile .value{font-size:28px;font-weight:600;margin:4px 0}
.tile .detail{font-size:12px;color:#444}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(620px,1fr));gap:14px}
.card{background:#fff;border-radius:8px;padding:8px 12px;box-shadow:0 1px 2px #0002;min-width:0}
.note{font-size:12px;color:#555;margin:0 0 4px} .no-data,.missing{color:#a33;font-weight:600}
.dq{background:#fff;border-radius:8px;padding:4px 16px 12px;box-shadow:0 1px 2px #0002;font-size:13px}
table{border-collapse:collapse;margin:4px 0}
td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}
"""


def render(data: DashboardData) -> str:
    charts = build_charts(data)
    tile_html = "".join(_tile_html(t) for t in tiles(data))
    chart_html = "".join(_chart_html(c, first=i == 0) for i, c in enumerate(charts))
    title = "Sales KPI dashboard" + ("" if data.as_of is None else f", as of {data.as_of.isoformat()}")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>{_header(data)}<main>"
        f"<section class='tiles'>{tile_html}</section>"
        f"<h2>Charts</h2><div class='charts'>{chart_html}</div>"
        f"<h2>Data quality</h2><section class='dq' id='data-quality'>{data_quality(data)}</section>"
        "</main></body></html>"
    )
