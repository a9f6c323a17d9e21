"""The benchmark section of docs/BENCHMARKS.md from a hand-made result (no benchmark runs here): the
plain-dbt, one-day and no-op rows, the ratios and issue 11's targets next to them. Expected ratio strings
are computed by hand from the inputs."""

from __future__ import annotations

from typing import Any

from orchestration.tooling.bench_doc import render
from orchestration.tooling.bench_measure import Measurement

MIB = 2**20


def _result(scale: str = "M", memory_limit: str = "4GB", daily_s: float = 35.0) -> dict[str, Any]:
    return {
        "date": "2026-12-01 05:00 UTC",
        "machine": "2 cores, 24 GiB, Linux x86_64",
        "scale": scale,
        "days": 365,
        "memory_limit": memory_limit,
        "rows": {"Opportunity": 1_000, "Task": 2_000},
        "generate_s": 9.6,
        "floor": Measurement(40.0, 500 * MIB),
        # dbt_models 60 + raw__task 20 + published 5 = 85 s in steps: 140 - 85 = 55 s outside.
        "full": Measurement(140.0, 2_000 * MIB, {"dbt_models": 60.0, "raw__task": 20.0, "published": 5.0}),
        "plain_dbt": Measurement(
            30.0, 1_000 * MIB, {"dbt_seconds": 28.4, "statuses": {"pass": 250, "success": 100}}
        ),
        "daily": Measurement(daily_s, 1_500 * MIB, {"dbt_models": 20.0}),
        "noop": Measurement(28.0, 1_400 * MIB, {"dbt_models": 18.0, "raw__task": 0.2}),
        "plain_dbt_copy_s": 3.2,
        "plain_dbt_parse_s": 8.5,
        "plain_dbt_raw_tables": 16,
        "load_average": ((0.5, 1.25, 2.0), (3.0, 2.5, 2.125)),
    }


def test_render_rows_ratios_and_targets() -> None:
    text = render(_result())
    assert "Load average (1, 5, 15 min): 0.50, 1.25, 2.00 before the floor, 3.00, 2.50, 2.12 after" in text
    # the measured steps, with their names
    assert "| floor: DuckDB reads every landing file into typed tables | 40.0 s | 500 MiB |" in text
    assert "| plain dbt: `dbt build --full-refresh` by dbt-duckdb alone" in text
    assert "(no Dagster, no landing checks, no publish) | 30.0 s | 1,000 MiB |" in text
    # floor + plain dbt = 40 + 30 = 70 s; its peak is the larger of the two
    assert (
        "| floor + plain dbt: the alternative (DuckDB reads, then dbt alone) | 70.0 s | 1,000 MiB |" in text
    )
    assert "| full run through Dagster (load, dbt build, checks, publish) | 140.0 s | 2,000 MiB |" in text
    assert "| one-day (daily) run: the last extract date on top of the history | 35.0 s | 1,500 MiB |" in text
    assert (
        "| no-op run: the last date again, files unchanged (nothing to load, build or publish) | "
        "28.0 s | 1,400 MiB |" in text
    )
    # ratios: 140/40 = 3.5, 140/70 = 2.0, 35/140 = 0.25, 28/140 = 0.20
    assert "| full ÷ floor | 3.5 | ≤ 2 (at M and L) | **no** |" in text
    assert "| full ÷ (floor + plain dbt) | 2.0 |" in text
    assert "| one-day (daily) ÷ full | 0.25 | ≤ 0.10 (at L) | n/a at this scale |" in text
    assert "| no-op ÷ full | 0.20 | none | |" in text
    # peak of the pipeline runs: the full run's 2,000 MiB = 2,097,152,000 bytes = 2.1 GB
    assert (
        "| peak RSS of the pipeline runs (process tree) | 2,000 MiB (2.1 GB) | "
        "≤ 4 GB with default settings | yes |" in text
    )
    # 140 s wall - 85 s in 3 steps = 55 s outside
    assert "| full run's time outside any Dagster step | 55.0 s | ≤ 10 s | **no** |" in text
    assert "minus the sum of its 3 steps' seconds (85.0 s)" in text
    assert "dbt's own process took 28.4 s of the step's 30.0 s (250 pass, 100 success)" in text
    assert "copying the 16 raw tables into a fresh file (3.2 s) and `dbt parse` beforehand (8.5 s)" in text
    # the per-step tables, the no-op run's included
    for title in ("Full run", "One-day (daily) run", "No-op run"):
        assert f"{title}, seconds per Dagster step:" in text
    assert (
        text.index("Full run, seconds")
        < text.index("One-day (daily) run, seconds")
        < text.index("No-op run, seconds")
    )


def test_render_targets_at_l_and_a_non_default_memory_limit() -> None:
    text = render(_result(scale="L", memory_limit="3GB", daily_s=14.0))
    # 14/140 = 0.10: at the target, which applies at L
    assert "| one-day (daily) ÷ full | 0.10 | ≤ 0.10 (at L) | yes |" in text
    assert "| n/a: memory limit 3GB, not the default 4GB |" in text


def test_render_without_the_new_measurements() -> None:
    """A result of the older shape (no plain dbt, no no-op run) still renders its rows and ratios."""
    result = _result()
    del result["plain_dbt"], result["noop"]
    text = render(result)
    assert "plain dbt" not in text and "no-op" not in text
    assert "| full ÷ floor | 3.5 |" in text
    assert "| one-day (daily) ÷ full | 0.25 |" in text


def test_render_engines_compares_each_engine_with_duckdb() -> None:
    from orchestration.tooling.bench_doc import render_engines

    def runs(full: float, daily: float, noop: float, peak_mib: int) -> dict[str, Measurement]:
        return {
            "full": Measurement(full, 100 * MIB, {"dbt_models": full / 2, "raw__task": 1.0}),
            "daily": Measurement(daily, peak_mib * MIB, {"dbt_models": daily / 2}),
            "noop": Measurement(noop, 50 * MIB, {}),
        }

    text = render_engines(
        {
            "date": "2026-12-01 10:00 UTC",
            "machine": "2 cores",
            "scale": "S",
            "days": 365,
            "load_average": ((1.0, 1.0, 1.0), (2.0, 2.0, 2.0)),
            "engines": {"duckdb": runs(80.0, 40.0, 10.0, 900), "postgres": runs(120.0, 50.0, 12.5, 700)},
        }
    )
    # 120 / 80 = 1.50, 50 / 40 = 1.25; the peak is the largest of the engine's three runs.
    assert "| postgres | 120.0 s | 50.0 s | 12.5 s | 700 MiB | 1.50× | 1.25× |" in text
    assert "| duckdb | 80.0 s | 40.0 s | 10.0 s | 900 MiB | 1.00× | 1.00× |" in text
    assert "- postgres full: dbt_models 60.0, raw__task 1.0" in text
    assert "before the first run" in text and "364 days as one run" in text
    assert "`make bench SCALE=S PART=engines`:" in text and "Spark" not in text


def test_render_engines_names_the_engines_run_and_the_spark_server() -> None:
    from orchestration.tooling.bench_doc import render_engines

    def runs(full: float, daily: float) -> dict[str, Measurement]:
        return {
            "full": Measurement(full, 100 * MIB, {}),
            "daily": Measurement(daily, 100 * MIB, {}),
            "noop": Measurement(20.0, 100 * MIB, {}),
        }

    text = render_engines(
        {
            "date": "2026-12-01 10:00 UTC",
            "machine": "2 cores",
            "scale": "M",
            "days": 365,
            "engine_list": "duckdb,spark",
            "engines": {"duckdb": runs(200.0, 80.0), "spark": runs(1470.0, 1300.0)},
        }
    )
    # 1470 / 200 = 7.35, 1300 / 80 = 16.25 (shown with two decimals: 16.25)
    assert "| spark | 1,470.0 s | 1,300.0 s | 20.0 s | 100 MiB | 7.35× | 16.25× |" in text
    assert "`make bench SCALE=M PART=engines ENGINES=duckdb,spark`:" in text
    assert "the Spark Thrift server's own memory is not in it" in text and "PostgreSQL" not in text
