"""The benchmark results as Markdown, and their sections in docs/BENCHMARKS.md (one per scale and part,
between ``<!-- bench:<name>:start/end -->`` markers, so a run replaces only its own)."""

from __future__ import annotations

from typing import Any

from orchestration.settings import PROJECT_ROOT
from orchestration.tooling.bench_measure import fmt_mb
from orchestration.tooling.bench_steps import DIALECT_DATE_FORMATS

BENCH_DOC = PROJECT_ROOT / "docs" / "BENCHMARKS.md"


def render(result: dict[str, Any]) -> str:
    floor, full, daily = result["floor"], result["full"], result["daily"]
    rows = result["rows"]
    lines = [
        f"### Scale {result['scale']} ({result['days']} days of extracts), {result['date']}",
        "",
        f"Machine: {result['machine']}; DuckDB memory limit {result['memory_limit']}.",
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
        f"| full run through Dagster (load, dbt build, checks, publish) | {full.seconds:,.1f} s | "
        f"{fmt_mb(full.peak_rss_bytes)} |",
        f"| daily run (one more day on top of the history) | {daily.seconds:,.1f} s | "
        f"{fmt_mb(daily.peak_rss_bytes)} |",
        "",
        f"Ratios: full ÷ floor = {full.seconds / floor.seconds:.1f}; daily ÷ full = "
        f"{daily.seconds / full.seconds:.2f}. "
        f"Generating the demo data took {result['generate_s']:,.1f} s (not counted).",
        "",
    ]
    for title, m in (("Full run", full), ("Daily run", daily)):
        if m.stats:
            lines += [f"{title}, seconds per Dagster step:", "", "| step | seconds |", "|---|---:|"]
            lines += [f"| {k} | {v:,.1f} |" for k, v in sorted(m.stats.items(), key=lambda kv: -kv[1])]
            lines.append("")
    return "\n".join(lines)


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
