"""``sales-wh metrics``: the MetricFlow metrics of models/semantic/ queried on the pipeline's warehouse.

MetricFlow (through dbt-metricflow, pinned with dbt-core) plans each query from the semantic manifest
that ``dbt parse`` writes (``<target>/semantic_manifest.json``) and renders it as DuckDB SQL; this module
runs that SQL itself on a **read-only** connection to the warehouse, instead of ``mf query``'s read-write
dbt adapter, so that:

- amounts come back exact (``Decimal``), not as floats;
- a query while a pipeline run holds the warehouse fails at once with one line, instead of waiting or
  taking a lock the run needs (DuckDB allows one writer process, and no reader beside it);
- the manifest comes from the orchestrator's target folder (``DBT_TARGET_PATH``), re-parsed only when a
  project file changed, where ``mf`` reads ``./target`` whatever the pipeline uses.

``mf`` itself works too (README, "Metrics"); ``sales-wh metrics validate`` is ``mf validate-configs``
without the warehouse checks.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metricflow.engine.metricflow_engine import MetricFlowEngine
    from metricflow_semantic_interfaces.protocols.semantic_manifest import SemanticManifest

    from orchestration.tooling.cli import SubParsers

#: Exit codes: a query MetricFlow cannot resolve (unknown metric or dimension); the warehouse or manifest
#: cannot be read (missing, or held by a running pipeline, as ``sales-wh run`` exits when busy).
EXIT_BAD_QUERY = 2
EXIT_UNAVAILABLE = 3
#: metric_time's standard granularities and the time spine's custom one (fiscal quarter).
METRIC_TIME_GRAINS = ("day", "week", "month", "quarter", "year", "fiscal_quarter")


class MetricsError(Exception):
    """A metrics query that cannot run, with a message a person can act on (one line)."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_QUERY) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class MetricsResult:
    """Rows of a metrics query, with the SQL MetricFlow generated for it."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    sql: str

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


# --- the semantic manifest ---------------------------------------------------------------------------------


def load_manifest(path: Path) -> SemanticManifest:
    """The semantic manifest ``dbt parse`` wrote at ``path``."""
    from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest

    if not path.exists():
        raise MetricsError(
            f"No semantic manifest at {path}: run `dbt parse` (or a pipeline run) first", EXIT_UNAVAILABLE
        )
    return parse_manifest_from_dbt_generated_manifest(path.read_text())


def validation_issues(manifest: SemanticManifest) -> tuple[bool, list[str]]:
    """MetricFlow's semantic validation of ``manifest`` (``mf validate-configs --skip-dw``): whether it
    has blocking issues, and every issue (errors, warnings, future errors) as a line."""
    from metricflow_semantic_interfaces.validations.semantic_manifest_validator import (
        SemanticManifestValidator,
    )

    result = SemanticManifestValidator[Any]().validate_semantic_manifest(manifest)
    return result.has_blocking_issues, [issue.as_readable_str() for issue in result.all_issues]


def current_manifest_path(target: str) -> Path:
    """The orchestrator's semantic manifest for dbt target ``target``, re-parsed first when a project file
    changed since the last parse (``orchestration.defs.dbt_assets.prepare_manifest``).

    The parse rewrites the pipeline's own ``target/`` files, so it happens only while holding the
    warehouse's run lock: while a pipeline runs, the manifest it parsed is used as it is."""
    import os

    from orchestration.dbt_parse import dbt_env
    from orchestration.defs.dbt_assets import dbt_target_path, prepare_manifest
    from orchestration.settings import Settings
    from orchestration.tooling.run_lock import WarehouseBusy, warehouse_run_lock

    settings = Settings.from_env()
    # The pipeline's profile values: a manifest parsed under others is not current for the next run.
    os.environ.update(dbt_env(settings))
    try:
        with warehouse_run_lock(settings.warehouse_path):
            project = prepare_manifest(target)
        return Path(project.manifest_path).with_name("semantic_manifest.json")
    except WarehouseBusy:
        return Path(dbt_target_path()) / "semantic_manifest.json"


# --- planning and running a query --------------------------------------------------------------------------


class _RenderOnlyClient:
    """The SQL client MetricFlow plans with: DuckDB's dialect, no connection (this module runs the SQL)."""

    @property
    def sql_engine_type(self) -> Any:
        from metricflow.protocols.sql_client import SqlEngine

        return SqlEngine.DUCKDB

    @property
    def sql_plan_renderer(self) -> Any:
        from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer

        return DuckDbSqlPlanRenderer()

    def _no_connection(self, *_: object, **__: object) -> Any:
        raise NotImplementedError("sales-wh metrics runs MetricFlow's SQL itself")

    query = execute = dry_run = _no_connection

    def close(self) -> None:
        return None

    def render_bind_parameter_key(self, bind_parameter_key: str) -> str:
        return f"${bind_parameter_key}"


def engine(manifest: SemanticManifest) -> MetricFlowEngine:
    from metricflow.engine.metricflow_engine import MetricFlowEngine
    from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

    return MetricFlowEngine(SemanticManifestLookup(manifest), _RenderOnlyClient())


def plan_sql(
    manifest: SemanticManifest,
    metrics: Sequence[str],
    group_by: Sequence[str] = (),
    *,
    where: Sequence[str] = (),
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> str:
    """The DuckDB SQL of a metrics query (``mf query --explain``)."""
    from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

    request = MetricFlowQueryRequest.create(
        metric_names=list(metrics),
        group_by_names=list(group_by) or None,
        where_constraints=list(where) or None,
        order_by_names=list(order_by) or list(group_by) or None,
        limit=limit,
    )
    try:
        return engine(manifest).explain(request).sql_statement.sql
    except Exception as e:  # MetricFlow's errors on unknown names are long and multi-line
        raise MetricsError(resolution_error(str(e)) or _first_line(e)) from e


def group_bys(manifest: SemanticManifest, metrics: Sequence[str]) -> list[str]:
    """What ``metrics`` can be grouped by together (``mf list dimensions --metrics``): metric_time and its
    granularities first, then the dimensions; entities (``rep``, ``territory``...) work too."""
    try:
        dimensions = engine(manifest).simple_dimensions_for_metrics(list(metrics))
    except Exception as e:
        raise MetricsError(_first_line(e)) from e
    names = {d.dunder_name for d in dimensions}
    if "metric_time__day" in names:
        names |= {f"metric_time__{grain}" for grain in METRIC_TIME_GRAINS}
    return sorted(names, key=lambda n: (not n.startswith("metric_time"), n))


def resolution_error(text: str) -> str | None:
    """One line from MetricFlow's query-resolution error: the input, the first message and suggestions."""
    message = re.search(r"Message:\s*\n(.+?)(?:\n\s*\n|$)", text, re.S)
    if message is None:
        return None
    line = " ".join(message.group(1).split()).removesuffix(" Common issues are:")
    given = re.search(r"Query Input:\s*\n\s*(\S+)", text)
    suggestions = re.search(r"Suggestions:\s*\[(.*?)\]", text, re.S)
    out = f"{given.group(1)}: {line}" if given else line
    if suggestions:
        out += " Did you mean: " + ", ".join(re.findall(r"'([^']+)'", suggestions.group(1))) + "?"
    return out


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return f"{type(e).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def database_name(manifest: SemanticManifest) -> str:
    """The catalog the manifest's tables are qualified with (dbt-duckdb: the warehouse file's stem)."""
    for model in manifest.semantic_models:
        if model.node_relation.database:
            return model.node_relation.database
    raise MetricsError("The semantic manifest has no semantic model with a database")


def open_read_only(warehouse: Path, catalog: str) -> Any:
    """An in-memory DuckDB with ``warehouse`` attached read-only as ``catalog`` (the name the manifest's
    SQL uses, whatever the file is called). One line when a running pipeline holds the file."""
    import duckdb

    if not warehouse.exists():
        raise MetricsError(
            f"No warehouse at {warehouse}: run `sales-wh run` (or `sales-wh demo`) first", EXIT_UNAVAILABLE
        )
    con = duckdb.connect()
    try:
        con.execute(f"attach '{_sql_string(str(warehouse))}' as \"{catalog}\" (read_only)")
        con.execute(f'use "{catalog}"')
        # A --where filter is SQL: no COPY ... TO, no ATTACH, no settings changed back, from here on.
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except duckdb.IOException as e:
        con.close()
        if "lock" in str(e).lower():
            raise MetricsError(
                f"The warehouse {warehouse} is being written by a running pipeline (DuckDB allows no reader "
                "beside its one writer): query again when the run has finished",
                EXIT_UNAVAILABLE,
            ) from e
        raise MetricsError(
            f"Cannot open the warehouse {warehouse}: {_first_line(e)}", EXIT_UNAVAILABLE
        ) from e
    return con


def _sql_string(text: str) -> str:
    return text.replace("'", "''")


def query(
    manifest: SemanticManifest,
    warehouse: Path,
    metrics: Sequence[str],
    group_by: Sequence[str] = (),
    *,
    where: Sequence[str] = (),
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> MetricsResult:
    """Run a metrics query on ``warehouse`` (read-only); rows ordered by the group-by columns by default."""
    import duckdb

    sql = plan_sql(manifest, metrics, group_by, where=where, order_by=order_by, limit=limit)
    con = open_read_only(warehouse, database_name(manifest))
    try:
        cursor = con.execute(sql)
        columns = tuple(d[0] for d in cursor.description)
        return MetricsResult(columns=columns, rows=cursor.fetchall(), sql=sql)
    except duckdb.Error as e:  # e.g. a warehouse built before the semantic layer: no time spine yet
        raise MetricsError(
            f"{_first_line(e)} (rebuild the warehouse: `sales-wh run`)", EXIT_UNAVAILABLE
        ) from e
    finally:
        con.close()


# --- the command -------------------------------------------------------------------------------------------


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime) and value.time() == time_of_day():
        return value.date().isoformat()
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def render_table(result: MetricsResult) -> str:
    """The rows as a plain text table, numbers right-aligned (amounts to the cent, ratios to 4 places)."""
    cells = [list(result.columns)] + [[_format(v) for v in row] for row in result.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(result.columns))]
    numeric = [
        all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in result.rows)
        for i in range(len(result.columns))
    ]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _manifest_for(args: argparse.Namespace) -> SemanticManifest:
    from orchestration.settings import Settings

    try:
        path = args.manifest or current_manifest_path(Settings.from_env().dbt_target)
    except Exception as e:  # dbt parse failed: a broken model or YAML
        raise MetricsError(f"dbt parse failed: {_first_line(e)}", EXIT_UNAVAILABLE) from e
    return load_manifest(path)


def _split(values: Sequence[str]) -> list[str]:
    return [v for value in values for v in re.split(r"[,\s]+", value) if v]


def _run(args: argparse.Namespace) -> int:
    from orchestration.settings import Settings

    settings = Settings.from_env()
    try:
        if settings.dbt_target != "duckdb":
            raise MetricsError(
                f"sales-wh metrics reads the DuckDB warehouse; target {settings.dbt_target!r}: use `mf query`"
            )
        manifest = _manifest_for(args)
        if args.action == "list":
            for metric in sorted(manifest.metrics, key=lambda m: m.name):
                print(f"{metric.name:<24} {metric.type.value:<8} {metric.description or ''}".rstrip())
            return 0
        if args.action == "dimensions":
            print("\n".join(group_bys(manifest, _split(args.metrics) or ["bookings"])))
            return 0
        if args.action == "validate":
            blocking, issues = validation_issues(manifest)
            print("\n".join(issues) or "No issues.")
            return 1 if blocking else 0
        if args.explain:
            print(plan_sql(manifest, _split(args.metrics), _split(args.by), where=args.where))
            return 0
        result = query(
            manifest,
            args.warehouse or settings.warehouse_path,
            _split(args.metrics),
            _split(args.by),
            where=args.where,
            limit=args.limit,
        )
    except MetricsError as e:
        print(f"sales-wh metrics: {e}", file=sys.stderr)
        return e.exit_code
    if args.json:
        print(json.dumps(result.records(), default=str, indent=2))
    else:
        print(render_table(result))
    return 0


def add_metrics(sub: SubParsers) -> None:
    p = sub.add_parser(
        "metrics",
        help="query the MetricFlow metrics (models/semantic) on the warehouse, read-only",
        description="MetricFlow metrics of models/semantic/ on the pipeline's warehouse "
        "(SALES_WH_WAREHOUSE). Examples: `sales-wh metrics list`; "
        "`sales-wh metrics query bookings,win_rate --by metric_time__quarter`.",
    )
    p.add_argument(
        "action",
        choices=["list", "dimensions", "query", "validate"],
        help="list: the metrics; dimensions METRIC...: what they can be grouped by; "
        "query METRIC... --by ...; validate: MetricFlow's semantic checks",
    )
    p.add_argument("metrics", nargs="*", default=[], help="metric names (commas or spaces)")
    p.add_argument(
        "--by",
        action="append",
        default=[],
        help="group by: metric_time__quarter, metric_time__fiscal_quarter, rep__rep_name, "
        "opportunity__segment, territory__territory_name, opportunity__lead_source, ...",
    )
    p.add_argument(
        "--where",
        action="append",
        default=[],
        help="e.g. \"{{ Dimension('opportunity__segment') }} = 'SMB'\"",
    )
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--explain", action="store_true", help="print the SQL instead of running it")
    p.add_argument("--warehouse", type=Path, default=None, help="DuckDB file (default SALES_WH_WAREHOUSE)")
    p.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="semantic_manifest.json to use (default: the orchestrator's, re-parsed when stale)",
    )
    p.set_defaults(func=_run)
