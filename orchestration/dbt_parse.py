"""``dbt parse`` without Dagster: when the manifest is stale, and the parse a command starts early.

A first run's parse is ~10 s of one core, and before it can start the command line used to import
Dagster and dagster-dbt (which imports dbt: ~4 s) and generate the demo's extracts (~2 s). This module
imports neither, so ``sales-wh demo`` and ``sales-wh run`` start the parse as their first act
(:func:`parse_early`) and do the rest on the other core while dbt parses; the pipeline then waits for
that parse instead of starting one (``orchestration.defs.dbt_assets.prepare_manifest``).

The parse runs as dagster-dbt runs dbt (the same executable, environment variables and target path),
so the manifest and dbt's partial-parse file are the same as if dagster-dbt had parsed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Protocol

from orchestration.settings import PROJECT_ROOT, Settings

DBT_PROFILES_DIR = PROJECT_ROOT / "dbt_project"

#: What the manifest is built from; a change to any of these makes it stale.
_DBT_SOURCES = ("models", "seeds", "dbt_project", "dbt_project.yml")
#: dbt's own files under them (``.user.yml``, ``target/``, ``logs/``) are not the project.
_NOT_SOURCES = ("target", "logs", "dbt_packages")


class DbtEnvSource(Protocol):
    """What dbt's profile reads from the environment: :class:`~orchestration.settings.Settings` and the
    Dagster warehouse resource both have these."""

    @property
    def warehouse_path(self) -> str | Path: ...
    @property
    def memory_limit(self) -> str: ...
    @property
    def dbt_threads(self) -> int: ...
    @property
    def pg_host(self) -> str: ...
    @property
    def pg_port(self) -> int: ...
    @property
    def pg_user(self) -> str: ...
    @property
    def pg_database(self) -> str: ...
    @property
    def spark_method(self) -> str: ...
    @property
    def spark_host(self) -> str: ...
    @property
    def spark_port(self) -> int: ...


def dbt_env(warehouse: DbtEnvSource) -> dict[str, str]:
    """Environment of the dbt subprocess: profiles.yml reads the warehouse path, the PostgreSQL server
    and the limits from it (the password stays in the environment it came from)."""
    return {
        "SALES_WH_WAREHOUSE": str(warehouse.warehouse_path),
        "SALES_WH_MEMORY_LIMIT": warehouse.memory_limit,
        "SALES_WH_DBT_THREADS": str(warehouse.dbt_threads),
        "SALES_WH_PG_HOST": warehouse.pg_host,
        "SALES_WH_PG_PORT": str(warehouse.pg_port),
        "SALES_WH_PG_USER": warehouse.pg_user,
        "SALES_WH_PG_DATABASE": warehouse.pg_database,
        "SALES_WH_SPARK_METHOD": warehouse.spark_method,
        "SALES_WH_SPARK_HOST": warehouse.spark_host,
        "SALES_WH_SPARK_PORT": str(warehouse.spark_port),
    }


def dbt_executable() -> str:
    """The dbt of this environment (next to its Python), whatever else ``PATH`` holds."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def dbt_target_path() -> Path:
    """dbt's target folder as given (``DBT_TARGET_PATH``, default ``target``: under the project)."""
    return Path(os.environ.get("DBT_TARGET_PATH", "target"))


def manifest_path(target_path: Path | None = None) -> Path:
    target_path = target_path or dbt_target_path()
    return (target_path if target_path.is_absolute() else PROJECT_ROOT / target_path) / "manifest.json"


def project_files(root: Path) -> list[Path]:
    """The files the dbt project is built from, sorted (what the manifest and the fingerprint follow)."""
    files: list[Path] = []
    for name in _DBT_SOURCES:
        path = root / name
        candidates = [path] if path.is_file() else path.rglob("*") if path.exists() else []
        for f in candidates:
            parts = f.relative_to(root).parts
            if f.is_file() and not any(p.startswith(".") or p in _NOT_SOURCES for p in parts):
                files.append(f)
    return sorted(files)


def target_stamp(manifest: Path) -> Path:
    """The file naming what the manifest beside it was parsed for; written after a parse ends."""
    return manifest.with_name("manifest.target")


#: The variables :func:`dbt_env` sets: dbt's profile renders them, and dbt parses the whole project
#: again in a ``dbt build`` whose rendered profile differs from its last parse's.
_PROFILE_VARIABLES = (
    "SALES_WH_WAREHOUSE",
    "SALES_WH_MEMORY_LIMIT",
    "SALES_WH_DBT_THREADS",
    "SALES_WH_PG_HOST",
    "SALES_WH_PG_PORT",
    "SALES_WH_PG_USER",
    "SALES_WH_PG_DATABASE",
    "SALES_WH_SPARK_METHOD",
    "SALES_WH_SPARK_HOST",
    "SALES_WH_SPARK_PORT",
)


def stamp_text(target: str, env: Mapping[str, str]) -> str:
    """What a parse for ``target`` under ``env`` writes into the stamp: the target and the profile's
    variables (a manifest parsed under other values, e.g. by a code-location load, is not current for a
    run: its build would parse everything again)."""
    profile = {name: env.get(name, "") for name in _PROFILE_VARIABLES}
    return f"{target}\n{json.dumps(profile, sort_keys=True)}"


def manifest_is_current(
    manifest: Path, project_dir: Path, target: str, env: Mapping[str, str] | None = None
) -> bool:
    """True when ``manifest`` was parsed for ``target`` under the profile's values of ``env`` (default:
    this process's environment) and is newer than every project file."""
    stamp = target_stamp(manifest)
    expected = stamp_text(target, os.environ if env is None else env)
    if not manifest.exists() or not stamp.exists() or stamp.read_text() != expected:
        return False
    built = manifest.stat().st_mtime
    return all(f.stat().st_mtime <= built for f in project_files(project_dir))


class DbtParseError(RuntimeError):
    """``dbt parse`` failed; the message holds dbt's error lines."""


class DbtParse:
    """``dbt parse --quiet`` running in its own process; :meth:`wait` for it. dbt's output goes to a
    temporary file (nobody has to read a pipe meanwhile), and into the error when the parse fails."""

    def __init__(self, target: str, target_path: Path, env: dict[str, str]) -> None:
        self.target = target
        self.target_path = target_path
        self.env = _dagster_dbt_env(target_path, env)
        # No stamp while the manifest is rewritten: a parse killed half-way is redone by the next run.
        target_stamp(manifest_path(target_path)).unlink(missing_ok=True)
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by wait or stop)
        self.process = subprocess.Popen(
            [dbt_executable(), "parse", "--quiet", "--target", target],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )

    def wait(self) -> None:
        """Wait for dbt; then stamp the manifest with the target, or raise :class:`DbtParseError`."""
        code = self.process.wait()
        self._output.seek(0)
        output = self._output.read().decode(errors="replace")
        self._output.close()
        if code != 0:
            errors = _error_lines(output)
            first = " ".join(errors.split())[:300]  # the console shows an error's first line only
            raise DbtParseError(
                f"dbt parse failed (exit code {code}) for target {self.target}: {first}\n{errors}"
            )

    def stamp(self) -> None:
        """Say the manifest is current for this parse's target and profile values."""
        target_stamp(manifest_path(self.target_path)).write_text(stamp_text(self.target, self.env))

    def stop(self) -> None:
        """End a parse nobody waited for (the command ended before the pipeline needed it): stopped
        when still running; stamped only when it had finished on its own and succeeded (the caller
        holds the run lock). A stopped dbt may still exit 0 (its exit code on SIGTERM depends on how
        far it got), and its manifest is then not known to be whole."""
        finished = self.process.poll() is not None
        if not finished:
            self.process.terminate()
        code = self.process.wait()
        self._output.close()
        if finished and code == 0:
            self.stamp()


def _dagster_dbt_env(target_path: Path, extra: dict[str, str]) -> dict[str, str]:
    """The variables dagster-dbt's ``DbtCliResource.cli`` sets for dbt (dagster-dbt 0.29), so a parse
    here leaves the partial-parse file a later ``dbt build`` through dagster-dbt can use."""
    return {
        **os.environ,
        **extra,
        "DAGSTER_DBT_CLI": "true",
        "PYTHONUNBUFFERED": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_FORMAT": "json",
        "DBT_TARGET_PATH": os.fspath(target_path),
        "DBT_LOG_PATH": os.fspath(target_path),
        "DBT_PROFILES_DIR": str(DBT_PROFILES_DIR),
        "DBT_PROJECT_DIR": str(PROJECT_ROOT),
    }


def _error_lines(output: str) -> str:
    """dbt's messages from its JSON log lines (the error ones when there are any), else the raw text."""
    messages: list[tuple[str, str]] = []
    for line in output.splitlines():
        try:
            info = json.loads(line)["info"]
            messages.append((info.get("level", ""), info.get("msg", "")))
        except (ValueError, KeyError, TypeError):
            if line.strip():
                messages.append(("", line))
    errors = [m for level, m in messages if level == "error"] or [m for _, m in messages]
    return "\n".join(errors[-20:]) or "(dbt wrote nothing)"


#: Parses started by :func:`parse_early`, by target, not yet taken by the pipeline.
_early: dict[str, DbtParse] = {}


def take_early_parse(target: str) -> DbtParse | None:
    """The parse :func:`parse_early` started for ``target`` in this process (None: none), handed over
    once: the caller waits for it."""
    parse = _early.get(target)
    if parse is None or parse.target_path != dbt_target_path():
        return None
    return _early.pop(target)


@contextmanager
def parse_early(settings: Settings | None = None) -> Iterator[None]:
    """Start ``dbt parse`` now when the manifest is stale and the warehouse's run lock is free, and
    hold the lock for the body (the run takes it again: it is re-entrant), so no other pipeline on
    this warehouse parses into the same target folder meanwhile. A held lock starts nothing: the run
    then waits or reports it as before. A parse the body did not take is stopped at the end (or kept,
    when it had already succeeded). Without ``settings``, they are read from the environment;
    settings that do not read start nothing (the run reports them)."""
    from orchestration.tooling.run_lock import WarehouseBusy, warehouse_run_lock

    if settings is None:
        try:
            settings = Settings.from_env()
        except Exception:  # noqa: BLE001 (the run reads them again and reports the error, with its log)
            yield
            return
    with ExitStack() as stack:
        try:
            stack.enter_context(warehouse_run_lock(settings.warehouse_path, on_stale=_say))
            locked = True
        except WarehouseBusy:
            locked = False
        except OSError:  # e.g. the warehouse's folder cannot be made: the run reports it, with its log
            locked = False
        target, target_path = settings.dbt_target, dbt_target_path()
        env = dbt_env(settings)
        current = manifest_is_current(manifest_path(target_path), PROJECT_ROOT, target, {**os.environ, **env})
        if locked and not current and target not in _early:
            try:
                _early[target] = DbtParse(target, target_path, env)
            except OSError:  # no dbt to run: the run starts dbt itself and reports that, with its log
                pass
            else:
                stack.callback(_stop_untaken, target)
        yield


def _stop_untaken(target: str) -> None:
    left = _early.pop(target, None)
    if left is not None:
        left.stop()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_now(settings: Settings | None = None) -> float | None:
    """Parse the project now for ``settings`` (default: from the environment) when its manifest is
    stale, as a deployment prepares it at build time; the seconds the parse took, or None when the
    manifest was current (or another pipeline holds the warehouse: it parses for itself). The
    benchmarks call it before the full run, so that run is measured as every later run finds the
    project: parsed (``python -m orchestration.dbt_parse``)."""
    settings = settings or Settings.from_env()
    started = time.perf_counter()
    with parse_early(settings):
        parse = take_early_parse(settings.dbt_target)
        if parse is None:
            return None
        parse.wait()
        parse.stamp()
    return time.perf_counter() - started


if __name__ == "__main__":
    took = parse_now()
    print("dbt manifest current" if took is None else f"dbt parse: {took:.1f} s", flush=True)
