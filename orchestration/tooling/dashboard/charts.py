"""The dashboard's charts: Plotly figures built with Plotly's own API from the frames of ``data``.

Each builder takes the read data and returns a :class:`Chart`. A chart whose mart is missing or has no
rows (or whose rows hold no defined value) gets an explicit "no data" figure and note, never a blank.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio
import yaml
from plotly.subplots import make_subplots

from orchestration.tooling.dashboard.data import QUERIES, DashboardData

HEIGHT = 380
PCT = ".0%"


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    source: str  # the mart(s) it reads
    note: str  # how to read it
    figure: go.Figure
    no_data: str | None = None  # why it shows no data, when it does not


#: plotly_white's layout (white background, light grid, fonts, colour sequence) without its defaults
#: for every trace type. Every figure deep-copies its template: with the whole plotly_white (and
#: Plotly's default template first, replaced later) that was most of the dashboard's time: the 18
#: charts of the S demo took 5.5 s, 3.5 s with this one (2-core machine, busy with CI beside it).
TEMPLATE = "sales_wh_white"
pio.templates[TEMPLATE] = go.layout.Template(layout=pio.templates["plotly_white"].layout)


@contextmanager
def _figures_in_template() -> Iterator[None]:
    """Figures made meanwhile (by Plotly Express or ``go.Figure``) start from :data:`TEMPLATE`."""
    before = pio.templates.default
    pio.templates.default = TEMPLATE
    try:
        yield
    finally:
        pio.templates.default = before


def _layout(fig: go.Figure, **kwargs: object) -> go.Figure:
    fig.update_layout(
        height=fig.layout.height or HEIGHT,
        margin={"l": 60, "r": 20, "t": 20, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "title": None},
        **kwargs,
    )
    return fig


def no_data_figure(reason: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=f"No data: {reason}",
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        font={"size": 15, "color": "#a33"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig)


def _why_empty(data: DashboardData, query: str, df: pd.DataFrame | None, column: str | None) -> str | None:
    """Why ``query`` has nothing to draw, or None when it has."""
    table = QUERIES[query][0]
    if df is None:
        return f"{table} is not in the published file"
    if data.table_rows.get(table, 0) == 0:
        return f"{table} has no rows"
    if df.empty or (column is not None and not df[column].notna().any()):
        return f"{table} has no defined value to show"
    return None


Builder = Callable[[DashboardData], Chart]
BUILDERS: list[Builder] = []
_BUILT_KEYS: list[str] = []
#: Title, query, reading note and defining column of each chart (charts.yml, in page order).
SPECS: dict[str, dict[str, str]] = yaml.safe_load((Path(__file__).parent / "charts.yml").read_text("utf-8"))


def chart(key: str) -> Callable:
    """Register a builder ``fn(df, data) -> figure`` for the chart ``key`` of charts.yml; the registry
    adds the no-data case."""
    spec = SPECS[key]
    title, query, note, column = spec["title"], spec["query"], spec["note"], spec.get("column")

    def register(fn: Callable[[pd.DataFrame, DashboardData], go.Figure]) -> Builder:
        def build(data: DashboardData) -> Chart:
            df = data.frames.get(query)
            source = QUERIES[query][0]
            reason = _why_empty(data, query, df, column)
            if reason is not None or df is None:
                reason = reason or "no rows"
                return Chart(key, title, source, note, no_data_figure(reason), reason)
            return Chart(key, title, source, note, _layout(fn(df, data)))

        BUILDERS.append(build)
        _BUILT_KEYS.append(key)
        return build

    return register


def _monthly(fig: go.Figure) -> go.Figure:
    """One tick a month on the x axis."""
    return fig.update_xaxes(title=None, dtick="M1", tickformat="%b %Y")


def _monthly_stack(df: pd.DataFrame, x: str, y: str, color: str, hover: list[str]) -> go.Figure:
    """Bars of ``y`` per month ``x``, stacked by ``color``."""
    return _monthly(px.bar(df, x=x, y=y, color=color, hover_data=hover)).update_yaxes(title=y)


def _grouped(df: pd.DataFrame, x: str, y: str, color: str, hover: list[str], **style: object) -> go.Figure:
    """Bars of ``y`` per ``x``, one beside the other per ``color`` (``style``: more px.bar options)."""
    return px.bar(df, x=x, y=y, color=color, barmode="group", hover_data=hover, **style)


def _rates(df: pd.DataFrame, x: str, measures: dict[str, str], hover: list[str], title: str) -> go.Figure:
    """One line per rate column of ``measures`` (column -> legend label) over the months ``x``."""
    long = df.melt(id_vars=[x, *hover], value_vars=list(measures), var_name="measure", value_name="rate")
    long["measure"] = long["measure"].map(measures)
    fig = px.line(long, x=x, y="rate", color="measure", markers=True, hover_data=hover)
    return _monthly(fig).update_yaxes(title=title, tickformat=PCT, rangemode="tozero")


@chart("bookings-month")
def _bookings_month(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    return _monthly_stack(df, "close_month", "bookings", "segment", ["won_deals"])


@chart("bookings-quarter")
def _bookings_quarter(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    fig = px.bar(df, x="quarter", y="bookings", color="segment", hover_data=["won_deals"], text_auto=".3s")
    return fig.update_xaxes(title=None).update_yaxes(title="bookings")


@chart("win-rate")
def _win_rate(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    measures = {"win_rate_by_count": "by count", "win_rate_by_amount": "by amount"}
    return _rates(df, "close_month", measures, ["won", "closed"], "win rate")


@chart("quota-attainment")
def _quota_attainment(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    fig = px.box(
        df, x="period", y="quota_attainment", points="all", hover_data=["rep_name", "bookings", "quota"]
    )
    fig.add_hline(y=1, line_dash="dash", line_color="#2a7", annotation_text="quota")
    return fig.update_xaxes(title="quota period").update_yaxes(title="attainment", tickformat=PCT)


@chart("deal-size")
def _deal_size(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    long = df.melt(
        id_vars=["quarter", "segment", "won_deal_count"], value_vars=["mean", "median"], var_name="measure"
    )
    fig = px.line(
        long,
        x="quarter",
        y="value",
        color="segment",
        line_dash="measure",
        markers=True,
        hover_data=["won_deal_count"],
        log_y=bool((long["value"] > 0).all()),  # segments differ by orders of magnitude; credits can't
    )
    return fig.update_xaxes(title=None).update_yaxes(title="deal size")


@chart("lead-funnel")
def _lead_funnel(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    row = df.iloc[0]
    stages = ["created", "mql", "sql", "converted"]
    labels = ["Leads created", "Reached MQL", "Reached SQL", "Converted"]
    return go.Figure(go.Funnel(y=labels, x=[row[s] for s in stages], textinfo="value+percent initial"))


@chart("lead-rates")
def _lead_rates(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    measures = {"mql_to_sql_rate": "MQL → SQL", "lead_conversion_rate": "conversion"}
    return _rates(df, "month_start", measures, ["reached_mql"], "rate")


@chart("pipeline-funnel")
def _pipeline_funnel(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    fig = go.Figure()
    colors = {"moved_on": "#9ab", "lost": "#d55", "open": "#fb5", "won": "#2a7"}
    for part, color in colors.items():
        fig.add_bar(
            x=df["stage_name"],
            y=df[part],
            name=part.replace("_", " "),
            marker_color=color,
            text=[f"{r:.0%} lost" for r in df["stage_loss_rate"].fillna(0)] if part == "lost" else None,
            customdata=df[["reached"]],
            hovertemplate="%{x}<br>" + part + ": %{y}<br>reached: %{customdata[0]}<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    return fig.update_yaxes(title="opportunities")


@chart("stage-days")
def _stage_days(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    hover = ["avg_days_in_stage", "p90_days_in_stage", "completed_stay_count", "is_longest_dwell_stage"]
    fig = _grouped(df, "stage_name", "median_days_in_stage", "quarter", hover)
    return fig.update_xaxes(title=None).update_yaxes(title="median days in stage")


@chart("coverage")
def _coverage(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    fig = _grouped(df, "rep_name", "pipeline_coverage_ratio", "period", ["open_pipeline", "remaining_quota"])
    fig.add_hline(y=1, line_dash="dash", line_color="#555")
    return fig.update_xaxes(title=None, tickangle=-45).update_yaxes(title="coverage (×)")


@chart("velocity")
def _velocity(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    hover = ["open_deals", "win_rate", "avg_deal_size", "avg_sales_cycle_days"]
    fig = _grouped(df, "rep_name", "velocity", "segment", hover)
    return fig.update_xaxes(title=None, tickangle=-45).update_yaxes(title="per day")


@chart("activity-hours")
def _activity_hours(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    return _monthly_stack(df, "month", "hours", "category", ["activities"])


@chart("selling-share")
def _selling_share(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    fig = px.bar(df, x="selling_share", y="rep_name", orientation="h", hover_data=["hours"], text_auto=PCT)
    fig.update_layout(height=max(HEIGHT, 18 * len(df) + 80))
    return fig.update_xaxes(title="selling share", tickformat=PCT).update_yaxes(title=None)


@chart("effectiveness")
def _effectiveness(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=df["touch_bucket"], y=df["won"], name="won deals", marker_color="#2a7")
    fig.add_bar(x=df["touch_bucket"], y=df["lost"], name="lost deals", marker_color="#d55")
    fig.add_scatter(
        x=df["touch_bucket"], y=df["win_rate"], name="win rate", mode="lines+markers", secondary_y=True
    )
    fig.update_xaxes(title="touches in the window")
    fig.update_yaxes(title="closed deals", secondary_y=False)
    return fig.update_yaxes(title="win rate", tickformat=PCT, rangemode="tozero", secondary_y=True)


@chart("touches-per-deal")
def _touches_per_deal(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    colors = {"won": "#2a7", "lost": "#d55"}
    order = {"outcome": ["won", "lost"]}
    fig = _grouped(
        df, "category", "per_deal", "outcome", ["touches"], color_discrete_map=colors, category_orders=order
    )
    return fig.update_xaxes(title=None).update_yaxes(title="touches per deal")


_INDEXES = {
    "accounts_per_rep_index": ("accounts", "is_accounts_out_of_band"),
    "open_pipeline_per_rep_index": ("open pipeline", "is_open_pipeline_out_of_band"),
    "bookings_per_rep_index": ("bookings", "is_bookings_out_of_band"),
    "quota_per_rep_index": ("quota", "is_quota_out_of_band"),
}


@chart("territory")
def _territory(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    label = df["territory_name"] + df["is_out_of_band"].map({True: " ⚠", False: ""}).fillna("")
    parts = [
        pd.DataFrame(
            {
                "territory": label,
                "measure": measure,
                "index": df[column],
                "band": df[flag].map({True: "out of band", False: "in band"}).fillna("in band"),
                "reps": df["rep_count"],
            }
        )
        for column, (measure, flag) in _INDEXES.items()
    ]
    long = pd.concat(parts, ignore_index=True)
    fig = px.bar(
        long,
        x="territory",
        y="index",
        color="measure",
        pattern_shape="band",
        pattern_shape_map={"in band": "", "out of band": "x"},
        barmode="group",
        hover_data=["reps"],
        category_orders={"territory": list(label), "measure": [m for m, _ in _INDEXES.values()]},
    )
    fig.add_hline(y=1, line_dash="dash", line_color="#555")
    quarter = df["quarter"].iloc[0]
    return fig.update_xaxes(title=f"territory ({quarter})", tickangle=-45).update_yaxes(title="index")


_METHODS = {"learned": "#2a7", "probability": "#36c", "commit": "#d55"}


@chart("forecast")
def _forecast(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    fig = go.Figure()
    learned = df[df["method"] == "learned"].dropna(subset=["forecast"])
    errors = data.frames.get("forecast_error")
    if errors is not None and not learned.empty:
        mape = errors[errors["method"] == "learned"].set_index("week_of_quarter")["mape"]
        band = learned.assign(mape=learned["week_of_quarter"].map(mape)).dropna(subset=["mape"])
        if not band.empty:
            fig.add_scatter(
                x=list(band["as_of_date"]) + list(band["as_of_date"])[::-1],
                y=list(band["forecast"] * (1 + band["mape"]))
                + list(band["forecast"] * (1 - band["mape"]))[::-1],
                fill="toself",
                fillcolor="rgba(34, 170, 119, 0.15)",
                line={"width": 0},
                name="learned ± backtested MAPE",
                hoverinfo="skip",
            )
    for method, color in _METHODS.items():
        rows = df[df["method"] == method]
        fig.add_scatter(
            x=rows["as_of_date"], y=rows["forecast"], name=method, mode="lines+markers", line={"color": color}
        )
    won = df.drop_duplicates("week_of_quarter")
    fig.add_bar(
        x=won["as_of_date"], y=won["won_to_date"], name="won so far", marker_color="#bbb", opacity=0.6
    )
    quarter = df["quarter"].iloc[0]
    return fig.update_xaxes(title=f"end of week ({quarter})").update_yaxes(
        title="bookings", rangemode="tozero"
    )


#: The waterfall's steps: (column of pipeline_waterfall, label, sign); opening and closing are totals.
_WATERFALL = [
    ("new", "new", 1),
    ("pulled_in", "pulled in", 1),
    ("reopened", "reopened", 1),
    ("restored", "restored", 1),
    ("increased", "increased", 1),
    ("decreased", "decreased", -1),
    ("currency_change", "currency", 1),
    ("pushed_out", "pushed out", -1),
    ("won", "won", -1),
    ("lost", "lost", -1),
    ("deleted", "deleted", -1),
]


@chart("pipeline-waterfall")
def _pipeline_waterfall(df: pd.DataFrame, data: DashboardData) -> go.Figure:
    row = df.iloc[0]
    labels = ["opening"] + [label for _, label, _ in _WATERFALL] + ["closing"]
    values = [row["opening"]] + [sign * row[column] for column, _, sign in _WATERFALL] + [row["closing"]]
    fig = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=["absolute"] + ["relative"] * len(_WATERFALL) + ["total"],
            increasing={"marker": {"color": "#2a7"}},
            decreasing={"marker": {"color": "#d55"}},
            totals={"marker": {"color": "#36c"}},
            connector={"line": {"color": "#999"}},
        )
    )
    title = f"{row['quarter']}, as of {pd.Timestamp(row['closing_as_of_date']):%Y-%m-%d}"
    return fig.update_xaxes(title=title).update_yaxes(title="pipeline (corporate currency)")


def build_charts(data: DashboardData) -> list[Chart]:
    """Every chart of charts.yml, in its order."""
    if sorted(c for c in SPECS) != sorted(_BUILT_KEYS):
        raise RuntimeError(
            f"charts.yml and the builders of charts.py differ: {sorted(SPECS)} vs {_BUILT_KEYS}"
        )
    order = list(SPECS)
    with _figures_in_template():
        charts = [build(data) for build in BUILDERS]
    return sorted(charts, key=lambda c: order.index(c.key))
