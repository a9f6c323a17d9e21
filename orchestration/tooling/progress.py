"""One line per stage of a ``sales-wh run``/``demo``, counted from the run's Dagster events.

The stages (:data:`STAGES`) are what a reader of the run cares about: the demo data, the dbt parse, the
raw loads, their landing checks, ``dbt build``, the mart checks, the publish. :class:`StageTracker`
maps every step of the job onto a stage (by the group of its assets, see :func:`step_stages`), takes
each totals from the job and the dbt manifest, and counts Dagster's events as they come
(``DagsterInstance.add_event_listener``, called synchronously by the executing thread). A stage ends
when every step of it has ended; stages are shown in their fixed order, so a stage that ends early
(the freshness checks may run after dbt) waits for the ones before it.

On a terminal the stages are live ``rich`` progress bars, each left as one finished line; otherwise
(CI, a pipe, a test's subprocess) each stage prints one plain line as it ends, without ANSI codes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import dagster as dg

from orchestration.defs.tags import NOTHING_NEW

GENERATE = "generate demo data"
PARSE = "parse dbt project"
LOAD = "load raw"
LANDING = "landing checks"
DBT = "dbt build"
MARTS = "mart checks"
PUBLISH = "publish"
STAGES = (GENERATE, PARSE, LOAD, LANDING, DBT, MARTS, PUBLISH)
#: Stages the job's steps make (the others run before the job).
JOB_STAGES = (LOAD, LANDING, DBT, MARTS, PUBLISH)

#: dagster-dbt's notice about singular tests it reports as observations: about dagster-dbt, not the data.
_DBT_NOTICE = "Logging an `AssetObservation` instead of an `AssetCheckResult`"
#: What the stages a run with nothing new does not need say instead of their counts.
_UP_TO_DATE = {
    DBT: "nothing new since the last publish: same batches, same dbt project",
    MARTS: "not needed: the marts did not change",
    PUBLISH: "not needed: the published file is current",
}


@dataclass
class Stage:
    name: str
    total: int = 1
    done: int = 0
    status: str = "waiting"  # waiting, running, ok, FAILED, skipped
    detail: str = ""
    #: Said instead of the counts when the stage had nothing to do (a run with nothing new).
    note: str = ""
    started: float | None = None
    ended: float | None = None
    steps: set[str] = field(default_factory=set)
    steps_ended: set[str] = field(default_factory=set)
    steps_skipped: set[str] = field(default_factory=set)
    #: A step of it failed: the stage shows FAILED once every step of it has ended.
    failed: bool = False

    @property
    def finished(self) -> bool:
        return self.status in ("ok", "FAILED", "skipped")

    def line(self) -> str:
        seconds = (self.ended or 0) - self.started if self.started is not None else None
        # The landing checks run with the loads and (freshness) later: their span is not their time.
        timed = seconds is not None and self.status != "skipped" and self.name != LANDING
        took = f" ({seconds:.0f} s)" if timed else ""
        detail = self.note or ("not run" if self.status == "skipped" else self.detail)
        return f"{self.name:<19} {self.status:<7} {detail}{took}".rstrip()


def step_stages(job: dg.JobDefinition, raw_group: str, publish_group: str) -> dict[str, str]:
    """Stage of each step of ``job``: raw assets load, the publish asset publishes, other assets are
    dbt's; a step of checks only checks the landing when it checks raw assets, else the marts."""
    stages: dict[str, str] = {}
    graph = job.asset_layer.asset_graph
    for ad in graph.assets_defs:
        if not ad.is_executable:
            continue
        groups = set(ad.group_names_by_key.values())
        if ad.keys:
            stage = LOAD if raw_group in groups else PUBLISH if publish_group in groups else DBT
        else:
            raw = all(graph.get(k.asset_key).group_name == raw_group for k in ad.check_keys)
            stage = LANDING if raw else MARTS
        stages[ad.node_def.name] = stage
    return stages


@dataclass
class _Counts:
    objects_found: set[dg.AssetKey] = field(default_factory=set)
    objects_seen: set[dg.AssetKey] = field(default_factory=set)
    loaded_rows: int = 0
    rejected_rows: int = 0
    #: Batches (object and extract date) not reloaded: their files are those of their last load.
    unchanged_batches: int = 0
    refused: set[dg.AssetKey] = field(default_factory=set)
    #: (asset key, check name) -> (passed, severity is WARN)
    checks: dict[str, dict[tuple[dg.AssetKey, str], tuple[bool, bool]]] = field(default_factory=dict)
    models: set[dg.AssetKey] = field(default_factory=set)
    seeds: set[dg.AssetKey] = field(default_factory=set)
    published_tables: int | None = None


class StageTracker:
    """The stages of one run and their counts; ``out`` gets the plain lines, ``live`` the bars."""

    def __init__(self, out: IO[str], *, live: bool | None = None, demo: bool = False) -> None:
        self.out = out
        self.live = out.isatty() if live is None else live
        self.stages = {name: Stage(name) for name in STAGES if demo or name != GENERATE}
        self.step_stage: dict[str, str] = {}
        self.model_keys: set[dg.AssetKey] = set()
        self.seed_keys: set[dg.AssetKey] = set()
        self.check_totals: dict[str, int] = {}
        self.counts = _Counts()
        #: Dagster log messages of WARNING and above, per step, in order (dagster-dbt's notices left out).
        self.warnings: list[tuple[str, str]] = []
        #: The dbt step found nothing new to build (same raw batches and project as the last publish).
        self.up_to_date = False
        self._printed: list[str] = []
        self._bars: Any = None

    # --- stages run outside Dagster (demo data, dbt parse) ----------------------------------------------

    def begin(self, name: str, total: int = 1) -> None:
        stage = self.stages[name]
        stage.status, stage.started, stage.total = "running", time.monotonic(), total
        self._refresh()

    def end(self, name: str, detail: str, *, status: str = "ok") -> None:
        stage = self.stages[name]
        if stage.started is None:
            stage.started = time.monotonic()
        stage.status, stage.detail, stage.ended, stage.done = status, detail, time.monotonic(), stage.total
        self._refresh()

    # --- the job's stages -------------------------------------------------------------------------------

    def plan(
        self, job: dg.JobDefinition, manifest: Mapping[str, Any], raw_group: str, publish_group: str
    ) -> None:
        """Totals from the job (steps, checks per stage) and the dbt manifest (models, seeds)."""
        from orchestration.defs.dbt_assets import TRANSLATOR

        self.step_stage = step_stages(job, raw_group, publish_group)
        nodes = manifest.get("nodes", {}).values()
        self.model_keys = {TRANSLATOR.get_asset_key(n) for n in nodes if n.get("resource_type") == "model"}
        self.seed_keys = {TRANSLATOR.get_asset_key(n) for n in nodes if n.get("resource_type") == "seed"}
        for ad in job.asset_layer.asset_graph.assets_defs:
            if ad.is_executable:
                stage = self.step_stage[ad.node_def.name]
                self.check_totals[stage] = self.check_totals.get(stage, 0) + len(ad.check_keys)
        for step, stage in self.step_stage.items():
            self.stages[stage].steps.add(step)
        self.stages[LOAD].total = len(self.stages[LOAD].steps)
        self.stages[LANDING].total = self.check_totals.get(LOAD, 0) + self.check_totals.get(LANDING, 0)
        self.stages[DBT].total = len(self.model_keys) + self.check_totals.get(DBT, 0)
        self.stages[MARTS].total = self.check_totals.get(MARTS, 0)
        self.stages[PUBLISH].total = 1
        self._refresh()

    def on_event(self, entry: Any) -> None:
        """A Dagster event listener. Never raises: a progress line is not worth failing the run for."""
        try:
            self._on_event(entry)
        except Exception:  # noqa: BLE001
            logging.getLogger(__name__).debug("progress: event not counted", exc_info=True)

    def _on_event(self, entry: Any) -> None:
        event = entry.dagster_event
        step = entry.step_key or ""
        if event is None:
            message = (entry.user_message or "").strip()
            if message.startswith(NOTHING_NEW):
                self.up_to_date = True
            if entry.level >= logging.WARNING and not message.startswith(_DBT_NOTICE):
                self.warnings.append((step, message))
            return
        kind = event.event_type_value
        stage = self.stages.get(self.step_stage.get(step, ""))
        if kind == "STEP_START" and stage is not None:
            if stage.started is None:
                stage.started, stage.status = time.monotonic(), "running"
            if stage.name == LOAD and self.stages[LANDING].started is None:
                self.stages[LANDING].started, self.stages[LANDING].status = time.monotonic(), "running"
        elif kind == "ASSET_MATERIALIZATION":
            self._materialized(event)
        elif kind == "ASSET_CHECK_EVALUATION" and stage is not None:
            check = event.asset_check_evaluation_data
            bucket = LANDING if stage.name in (LOAD, LANDING) else stage.name
            warn = check.severity == dg.AssetCheckSeverity.WARN
            self.counts.checks.setdefault(bucket, {})[(check.asset_key, check.check_name)] = (
                check.passed,
                warn,
            )
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED") and stage is not None:
            stage.steps_ended.add(step)
            if kind == "STEP_FAILURE":
                stage.failed = True
            elif kind == "STEP_SKIPPED":
                stage.steps_skipped.add(step)
        self._update_counts()
        self._settle()
        self._refresh()

    def _materialized(self, event: Any) -> None:
        key = event.asset_key
        step = self.step_stage.get(event.step_key or "")
        metadata = event.step_materialization_data.materialization.metadata
        if step == LOAD and key not in self.counts.objects_seen:  # once per object, not per partition
            self.counts.objects_seen.add(key)
            if _number(metadata.get("object_found")):
                self.counts.objects_found.add(key)
            self.counts.loaded_rows += _number(metadata.get("loaded_rows"))
            self.counts.rejected_rows += _number(metadata.get("rejected_rows"))
            self.counts.unchanged_batches += _number(metadata.get("extract_dates_unchanged"))
            if not _number(metadata.get("committed"), default=1):
                self.counts.refused.add(key)
        elif key in self.model_keys:
            self.counts.models.add(key)
        elif key in self.seed_keys:
            self.counts.seeds.add(key)
        elif step == PUBLISH:
            self.counts.published_tables = _number(metadata.get("tables"))

    def _update_counts(self) -> None:
        c, s = self.counts, self.stages
        s[LOAD].done = len(s[LOAD].steps_ended)
        s[LOAD].detail = (
            f"{len(c.objects_found)}/{len(s[LOAD].steps)} objects found, {c.loaded_rows:,} rows loaded, "
            f"{c.rejected_rows:,} rejected"
            + (f", {len(c.refused)} load(s) refused" if c.refused else "")
            + (f", {c.unchanged_batches:,} unchanged batch(es) not reloaded" if c.unchanged_batches else "")
        )
        landing = c.checks.get(LANDING, {})
        s[LANDING].done = len(landing)
        s[LANDING].detail = _checks_detail(landing.values(), s[LANDING].total)
        tests = c.checks.get(DBT, {})
        s[DBT].done = len(c.models) + len(tests)
        s[DBT].detail = (
            f"{len(c.models)}/{len(self.model_keys)} models, {len(c.seeds)}/{len(self.seed_keys)} seeds, "
            f"{len(tests)}/{self.check_totals.get(DBT, 0)} tests" + _problems(tests.values())
        )
        marts = c.checks.get(MARTS, {})
        s[MARTS].done = len(marts)
        s[MARTS].detail = _checks_detail(marts.values(), s[MARTS].total)
        s[PUBLISH].done = 1 if c.published_tables is not None else 0
        s[PUBLISH].detail = f"{c.published_tables} tables" if c.published_tables is not None else ""
        if self.up_to_date:
            for name, note in _UP_TO_DATE.items():
                s[name].note = note

    def _settle(self) -> None:
        """Mark the job's stages whose steps have all ended (the landing checks end with the loads)."""
        for name in JOB_STAGES:
            stage = self.stages[name]
            steps = stage.steps | (self.stages[LOAD].steps if name == LANDING else set())
            ended = (
                self.stages[LOAD].steps_ended | stage.steps_ended if name == LANDING else stage.steps_ended
            )
            if stage.finished or not steps or not steps <= ended:
                continue
            stage.ended = time.monotonic()
            if stage.failed or (name == LANDING and self._blocking_failed(LANDING)):
                stage.status = "FAILED"
            elif stage.steps and stage.steps <= stage.steps_skipped:
                stage.status = "skipped"
            else:
                stage.status = "ok"

    def _blocking_failed(self, bucket: str) -> bool:
        return any(not passed and not warn for passed, warn in self.counts.checks.get(bucket, {}).values())

    def finish(self, success: bool) -> None:
        """The run is over: stages not reached are skipped (or failed, when the run failed in them).
        When no stage started (an error before the first), nothing is shown."""
        if not any(s.started is not None for s in self.stages.values()):
            self.stop()
            return
        self._update_counts()
        self._settle()
        for stage in self.stages.values():
            if stage.finished:
                continue
            stage.ended = time.monotonic()
            if stage.started is None:
                stage.status, stage.detail = (
                    "skipped",
                    ("" if success else "not run: an earlier stage failed"),
                )
            else:
                stage.status = "ok" if success else "FAILED"
        self._refresh()
        self.stop()

    # --- output -----------------------------------------------------------------------------------------

    def _refresh(self) -> None:
        if self.live:
            self._refresh_bars()
            return
        for stage in self.stages.values():  # in order: a stage waits for the ones before it
            if not stage.finished:
                break
            if stage.name not in self._printed:
                self._printed.append(stage.name)
                self.out.write(stage.line() + "\n")
                self.out.flush()

    def _refresh_bars(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self._bars is None:
            console = Console(file=self.out)
            self._bars = Progress(
                TextColumn("{task.description:<19}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]:<7} {task.fields[detail]}"),
                TimeElapsedColumn(),
                console=console,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._ids = {
                s.name: self._bars.add_task(s.name, total=s.total, status=s.status, detail="", start=False)
                for s in self.stages.values()
            }
            self._bars.start()
        for s in self.stages.values():
            task = self._ids[s.name]
            if s.started is not None and not self._bars.tasks[task].started:
                self._bars.start_task(task)
            done = s.total if s.status == "ok" else min(s.done, s.total)
            self._bars.update(task, total=max(s.total, 1), completed=done, status=s.status, detail=s.detail)
            if s.finished and not self._bars.tasks[task].finished:
                self._bars.stop_task(task)

    def stop(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None


def _number(value: Any, default: int = 0) -> int:
    value = getattr(value, "value", value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _problems(results: Iterable[tuple[bool, bool]]) -> str:
    results = list(results)
    warned = sum(1 for passed, warn in results if not passed and warn)
    failed = sum(1 for passed, warn in results if not passed and not warn)
    parts = [f"{failed} failed"] * bool(failed) + [f"{warned} warned"] * bool(warned)
    return f" ({', '.join(parts)})" if parts else ""


def _checks_detail(results: Iterable[tuple[bool, bool]], total: int) -> str:
    results = list(results)
    passed = sum(1 for ok, _ in results if ok)
    return f"{passed}/{total} passed" + _problems(results)
