"""The benchmark results as Markdown, and their sections in docs/BENCHMARKS.md (one per scale and part,
between ``<!-- bench:<name>:start/end -->`` markers, so a run replaces only its own)."""

from __future__ import annotations

from typing import Any

from orchestration.settings import DEFAULT_MEMORY_LIMIT, PROJECT_ROOT
from orchestration.tooling.bench_measure import fmt_mb
from orchestration.tooling.bench_steps import DIALECT_DATE_FORMATS

BENCH_DOC = PROJECT_ROOT / "docs" / "BENCHMARKS.md"


#: Issue 11's targets, printed next to the measured values.
TARGET_FULL_FLOOR = 2.0  # full run <= 2x the floor, at M and L
TARGET_DAILY_FULL = 0.10  # one-day (daily) run <= 10 % of the full run, at L
TARGET_PEAK_BYTES = 4 * 10**9  # peak RSS <= 4 GB with default settings
TARGET_OUTSIDE_S = 10.0  # full run's time outside any Dagster step <= 10 s


def _met(ok: bool, applies: bool = True) -> str:
    return ("yes" if ok else "**no**") if applies else "n/a at this scale"


def render(result: dict[str, Any]) -> str:
    floor, full, daily = result["floor"], result["full"], result["daily"]
    noop, plain = result.get("noop"), result.get("plain_dbt")
    rows, scale = result["rows"], result["scale"]
    lines = [
        f"### Scale {scale} ({result['days']} days of extracts), {result['date']}",
        "",
        f"Machine: {result['machine']}; DuckDB memory limit {result['memory_limit']}.{_load(result)}",
        "",
        "| object | landed rows |",
        "|---|---:|",
        *(f"| {k} | {v:,} |" for k, v in rows.items()),
        f"| **total** | **{sum(rows.values()):,}** |",
        "",
        "| measurement | wall time | peak RSS (process tree) |",
        "|---|---:|---:|",
        f"| floor: DuckDB reads every landing file into typed tables | {floor.seconds:,.1f} s | "
        f"{fmt_mb(floor.peak_rss_bytes)} |",
    ]
    if plain is not None:
        alt_s = floor.seconds + plain.seconds
        lines += [
            "| plain dbt: `dbt build --full-refresh` by dbt-duckdb alone over the full run's raw tables "
            f"(no Dagster, no landing checks, no publish) | {plain.seconds:,.1f} s | "
            f"{fmt_mb(plain.peak_rss_bytes)} |",
            f"| floor + plain dbt: the alternative (DuckDB reads, then dbt alone) | {alt_s:,.1f} s | "
            f"{fmt_mb(max(floor.peak_rss_bytes, plain.peak_rss_bytes))} |",
        ]
    lines += [
        f"| full run through Dagster (load, dbt build, checks, publish) | {full.seconds:,.1f} s | "
        f"{fmt_mb(full.peak_rss_bytes)} |",
        f"| one-day (daily) run: the last extract date on top of the history | {daily.seconds:,.1f} s | "
        f"{fmt_mb(daily.peak_rss_bytes)} |",
    ]
    if noop is not None:
        lines.append(
            "| no-op run: the last date again, files unchanged (nothing to load, build or publish) | "
            f"{noop.seconds:,.1f} s | {fmt_mb(noop.peak_rss_bytes)} |"
        )
    lines += [
        "",
        *_targets(result),
        f"Generating the demo data took {result['generate_s']:,.1f} s (not counted)."
        + (
            ""
            if "full_parse_s" not in result
            else " The dbt project was parsed before the full run (not counted, as plain dbt's parse is "
            "not; a daily run finds it parsed): "
            + (
                "its manifest was current."
                if result["full_parse_s"] is None
                else f"`dbt parse` took {result['full_parse_s']:,.1f} s."
            )
        ),
        "",
    ]
    if plain is not None and plain.stats:
        statuses = ", ".join(f"{n:,} {k}" for k, n in sorted(plain.stats.get("statuses", {}).items()))
        lines += [
            f"Plain dbt: dbt's own process took {plain.stats.get('dbt_seconds', 0):,.1f} s of the step's "
            f"{plain.seconds:,.1f} s ({statuses or 'no run results'}), with "
            f"{result.get('plain_dbt_threads', '?')} dbt thread(s), as the pipeline's dbt step on these raw "
            "tables (`SALES_WH_DBT_THREADS`, or `SALES_WH_DBT_THREADS_LARGE` for a large build). "
            "Not counted: copying the "
            f"{result.get('plain_dbt_raw_tables', '?')} raw tables into a fresh file "
            f"({result.get('plain_dbt_copy_s', 0):,.1f} s) and `dbt parse` beforehand "
            f"({result.get('plain_dbt_parse_s', 0):,.1f} s).",
            "",
        ]
    pipeline_runs = [("Full run", full), ("One-day (daily) run", daily)]
    if noop is not None:
        pipeline_runs.append(("No-op run", noop))
    for title, m in pipeline_runs:
        if m.stats:
            lines += [f"{title}, seconds per Dagster step:", "", "| step | seconds |", "|---|---:|"]
            lines += [f"| {k} | {v:,.1f} |" for k, v in sorted(m.stats.items(), key=lambda kv: -kv[1])]
            lines.append("")
    return "\n".join(lines)


def _load(result: dict[str, Any], first: str = "the floor") -> str:
    """The machine's load averages (1, 5, 15 min) when the measurements began and ended: other work on
    the machine slows every step, so compare only ratios of a quiet run."""
    if "load_average" not in result:
        return ""
    before, after = (", ".join(f"{x:.2f}" for x in la) for la in result["load_average"])
    return f" Load average (1, 5, 15 min): {before} before {first}, {after} after the last run."


def _targets(result: dict[str, Any]) -> list[str]:
    """The ratios and issue 11's targets next to them."""
    floor, full, daily = result["floor"], result["full"], result["daily"]
    noop, plain = result.get("noop"), result.get("plain_dbt")
    at_l = result["scale"] == "L"
    runs = [full, daily, *([noop] if noop is not None else [])]
    peak = max(m.peak_rss_bytes for m in runs)
    default_limit = result["memory_limit"] == DEFAULT_MEMORY_LIMIT
    full_floor = full.seconds / floor.seconds
    daily_full = daily.seconds / full.seconds
    lines = [
        "| measure | value | issue-11 target | met |",
        "|---|---:|---|---|",
        f"| full ÷ floor | {full_floor:.1f} | ≤ {TARGET_FULL_FLOOR:.0f} (at M and L) | "
        f"{_met(full_floor <= TARGET_FULL_FLOOR, result['scale'] in ('M', 'L'))} |",
    ]
    if plain is not None:
        lines.append(
            f"| full ÷ (floor + plain dbt) | {full.seconds / (floor.seconds + plain.seconds):.1f} | "
            "none: what Dagster, the landing checks and publish cost over DuckDB reads plus dbt alone | |"
        )
    lines.append(
        f"| one-day (daily) ÷ full | {daily_full:.2f} | ≤ {TARGET_DAILY_FULL:.2f} (at L) | "
        f"{_met(daily_full <= TARGET_DAILY_FULL, at_l)} |"
    )
    if noop is not None:
        lines.append(f"| no-op ÷ full | {noop.seconds / full.seconds:.2f} | none | |")
    lines.append(
        f"| peak RSS of the pipeline runs (process tree) | {fmt_mb(peak)} ({peak / 10**9:.1f} GB) | "
        f"≤ {TARGET_PEAK_BYTES / 10**9:.0f} GB with default settings | "
        + (
            _met(peak <= TARGET_PEAK_BYTES)
            if default_limit
            else f"n/a: memory limit {result['memory_limit']}, not the default {DEFAULT_MEMORY_LIMIT}"
        )
        + " |"
    )
    if full.stats:
        in_steps = sum(full.stats.values())
        outside = full.seconds - in_steps
        lines.append(
            f"| full run's time outside any Dagster step | {outside:,.1f} s | ≤ {TARGET_OUTSIDE_S:.0f} s | "
            f"{_met(outside <= TARGET_OUTSIDE_S)} |"
        )
        lines += [
            "",
            f"Outside the steps: the full run's wall time ({full.seconds:,.1f} s, process start to exit) "
            f"minus the sum of its {len(full.stats)} steps' seconds ({in_steps:,.1f} s).",
        ]
    return [*lines, ""]


def render_engines(result: dict[str, Any]) -> str:
    """The engines' section: full, one-day and no-op runs per engine, with DuckDB's as the reference."""
    runs = result["engines"]
    base = runs.get("duckdb")
    engine_list = result.get("engine_list", "")
    command = f"`make bench SCALE={result['scale']} PART=engines" + (
        f" ENGINES={engine_list}`" if engine_list and engine_list != "duckdb,postgres" else "`"
    )
    names = {"postgres": "the PostgreSQL server's", "spark": "the Spark Thrift server's"}
    present = [n for e, n in names.items() if e in runs]
    servers = f"{' and '.join(present)} own memory is not in it" if present else "no server ran"
    if "spark" in runs:
        servers += (
            " (Spark: a local Thrift server, `.ci/spark.sh`, `local[2]` with a 3 GiB driver, started with "
            "an empty catalog for these runs)"
        )
    lines = [
        f"### Engines at scale {result['scale']} ({result['days']} days of extracts), {result['date']}",
        "",
        f"Machine: {result['machine']}.{_load(result, 'the first run')} {command}: "
        "each engine from an empty warehouse (and database), one after the other on the same landing: "
        f"the full run ({result['days'] - 1} days as one run), the one-day run (the last day), the no-op "
        f"run (that day again). Peak RSS is the pipeline's process tree (dbt included); {servers}.",
        "",
        "| engine | full run | one-day run | no-op run | peak RSS | full vs DuckDB | one-day vs DuckDB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for engine, m in runs.items():
        peak = max(x.peak_rss_bytes for x in m.values())
        ratio = (
            (
                f"{m['full'].seconds / base['full'].seconds:.2f}×",
                f"{m['daily'].seconds / base['daily'].seconds:.2f}×",
            )
            if base
            else ("", "")
        )
        lines.append(
            f"| {engine} | {m['full'].seconds:,.1f} s | {m['daily'].seconds:,.1f} s | "
            f"{m['noop'].seconds:,.1f} s | {fmt_mb(peak)} | {ratio[0]} | {ratio[1]} |"
        )
    lines += ["", "Slowest steps of each run (Dagster step, seconds):", ""]
    for engine, m in runs.items():
        for name, x in m.items():
            top = sorted(x.stats.items(), key=lambda kv: -kv[1])[:4]
            lines.append(f"- {engine} {name}: " + (", ".join(f"{k} {v:.1f}" for k, v in top) or "n/a"))
    return "\n".join([*lines, ""])


def write_doc(section: str, scale: str) -> None:
    """Replace this scale's section in docs/BENCHMARKS.md (other scales' sections stay)."""
    text = BENCH_DOC.read_text() if BENCH_DOC.exists() else "# Benchmarks\n\n"
    marker_start, marker_end = f"<!-- bench:{scale}:start -->", f"<!-- bench:{scale}:end -->"
    block = f"{marker_start}\n{section}\n{marker_end}"
    if marker_start in text:
        head, _, rest = text.partition(marker_start)
        _, _, tail = rest.partition(marker_end)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    BENCH_DOC.write_text(text)


def render_dialects(result: dict[str, Any]) -> str:
    floor, loads = result["floor"], result["loads"]
    lines = [
        f"### Export dialects, scale {result['scale']} ({result['days']} days of extracts), {result['date']}",
        "",
        f"Machine: {result['machine']}; DuckDB memory limit {result['memory_limit']}. Load: every object's "
        "extract dates through `load_batches` in one call per object (as a one-run backfill), no landing "
        "checks, dbt or Dagster; the report dialect with the setting its users give "
        f"(`{DIALECT_DATE_FORMATS}`). Floor: DuckDB's typed read of the default files.",
        "",
        "| files | CSV size | wall time | × floor | peak RSS | rows loaded | rejected | objects failed |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| floor (default files, DuckDB typed read) | {result['csv_bytes']['default'] / 2**20:,.0f} MiB | "
        f"{floor.seconds:,.1f} s | 1.0 | {fmt_mb(floor.peak_rss_bytes)} | | | |",
    ]
    for dialect, m in loads.items():
        ok = {k: v for k, v in m.stats.items() if "error" not in v}
        loaded = sum(v["loaded_rows"] for v in ok.values())
        rejected = sum(v["rejected_rows"] for v in ok.values())
        failed = sorted(k for k, v in m.stats.items() if "error" in v)
        lines.append(
            f"| load: {dialect} | {result['csv_bytes'][dialect] / 2**20:,.0f} MiB | {m.seconds:,.1f} s | "
            f"{m.seconds / floor.seconds:.1f} | {fmt_mb(m.peak_rss_bytes)} | "
            f"{loaded:,} | {rejected:,} | "
            f"{', '.join(failed) or 'none'} |"
        )
    if any("error" in v for m in loads.values() for v in m.stats.values()):
        lines += ["", "Failures (a failed object loads nothing; its time is not comparable):", ""]
        for dialect, m in loads.items():
            for k, v in sorted(m.stats.items()):
                if "error" in v:
                    lines.append(f"- {dialect}, {k}: `{v['error'][:200]}`")
    lines.append("")
    return "\n".join(lines)
