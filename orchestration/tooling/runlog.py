"""The full log of one ``sales-wh run``/``demo``: ``<SALES_WH_DATA_DIR>/logs/<UTC time>-<run id>.log``.

It holds what the console no longer shows: one line per Dagster event and log message of the run,
dbt's own output (dagster-dbt writes it to ``sys.stdout``, which :meth:`RunLog.capture` sends here), the
demo generator's progress, and the traceback of an error. With ``verbose`` the same lines also go to
the console, as before this log existed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from orchestration.settings import DEFAULT_DATA_DIR

#: Dagster's bookkeeping events: thousands for a backfill (one per asset and partition), no information.
_NOISE = frozenset(
    {
        "ASSET_MATERIALIZATION_PLANNED",
        "ASSET_CHECK_EVALUATION_PLANNED",
        "STEP_OUTPUT",
        "HANDLED_OUTPUT",
        "LOADED_INPUT",
        "STEP_INPUT",
    }
)


def logs_dir() -> Path:
    """``<SALES_WH_DATA_DIR>/logs`` (``data/logs`` by default): this log and dbt's ``dbt.log``."""
    data_dir = os.environ.get("SALES_WH_DATA_DIR", "").strip() or DEFAULT_DATA_DIR
    return (Path(data_dir) / "logs").absolute()


def log_file_name(run_id: str | None, at: datetime) -> str:
    """``20261201T004424Z-<run id>.log``: sorted by time, named by the run it holds."""
    return f"{at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{run_id or 'run'}.log"


def event_line(entry: Any) -> str | None:
    """One line for a Dagster ``EventLogEntry`` (None for bookkeeping events), in the shape of Dagster's
    console logger: ``time - LEVEL - step - EVENT_TYPE - message``; a failure adds its error."""
    event = entry.dagster_event
    kind = event.event_type_value if event is not None else None
    if kind in _NOISE:
        return None
    at = datetime.fromtimestamp(entry.timestamp, UTC)
    parts = [f"{at:%Y-%m-%d %H:%M:%S} +0000", logging.getLevelName(entry.level), entry.step_key or "run"]
    if kind:
        parts.append(kind)
    line = " - ".join([*parts, (entry.user_message or "").strip()])
    error = _event_error(event)
    return f"{line}\n{error.rstrip()}" if error else line


def _event_error(event: Any) -> str | None:
    if event is None:
        return None
    for attr in ("step_failure_data", "job_failure_data"):
        with contextlib.suppress(Exception):  # the attribute asserts the event's type
            data = getattr(event, attr)
            if data is not None and getattr(data, "error", None) is not None:
                return data.error.to_string()
    return None


class _Guarded:
    """A stream whose writes never raise. The run log is written from inside Dagster's event listener and
    from dbt's output stream (dagster-dbt writes it to ``sys.stdout``): an error there (a full disk, a
    console closed by ``| head``) would end dagster-dbt's reading of dbt's pipe and leave dbt blocked on
    it, holding the warehouse. So the first error stops writing to that stream and says so once."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self._stream, self._name, self._broken = stream, name, False

    def _failed(self, exc: BaseException) -> None:
        self._broken = True
        with contextlib.suppress(Exception):
            console = sys.__stderr__ or sys.stderr
            console.write(f"warning: no longer writing the run's output to {self._name}: {exc}\n")

    def write(self, text: str) -> int:
        if not self._broken:
            try:
                self._stream.write(text)
            except (OSError, ValueError) as exc:
                self._failed(exc)
        return len(text)

    def flush(self) -> None:
        if not self._broken:
            try:
                self._stream.flush()
            except (OSError, ValueError) as exc:
                self._failed(exc)

    def isatty(self) -> bool:
        return False


class _Tee:
    """A text stream writing to several streams (the log, and the console with ``--verbose``)."""

    def __init__(self, *streams: IO[str]) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for s in self._streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self._streams:
            s.flush()

    def isatty(self) -> bool:
        return False


class RunLog:
    """The log file of one run. ``console`` is where ``verbose`` copies go (stdout by default)."""

    def __init__(self, run_id: str | None, *, verbose: bool = False, console: IO[str] | None = None) -> None:
        self.run_id = run_id
        self.verbose = verbose
        self.path = logs_dir() / log_file_name(run_id, datetime.now(UTC))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = self.path.open("a", encoding="utf-8", buffering=1)
        self._file: IO[str] = _Guarded(self._handle, str(self.path))  # type: ignore[assignment]
        console_stream = _Guarded(console if console is not None else sys.stdout, "the console")
        self.stream: IO[str] = (
            _Tee(self._file, console_stream) if verbose else self._file  # type: ignore[arg-type,assignment]
        )

    def write(self, line: str) -> None:
        """One line into the log (and onto the console with ``verbose``)."""
        self.stream.write(line.rstrip("\n") + "\n")

    def file_only(self, line: str) -> None:
        self._file.write(line.rstrip("\n") + "\n")

    def on_event(self, entry: Any) -> None:
        """A Dagster event listener: the event's line into the log only (with ``verbose`` Dagster's own
        console logger prints it)."""
        line = event_line(entry)
        if line is not None:
            self._file.write(line + "\n")

    def exception(self, exc: BaseException) -> None:
        """The traceback of ``exc``, into the log only."""
        self._file.write("".join(traceback.format_exception(exc)))

    @contextlib.contextmanager
    def capture(self, *, stderr: bool = False) -> Iterator[None]:
        """Send what the run writes to ``sys.stdout`` (dbt's output through dagster-dbt) and, with
        ``stderr``, to ``sys.stderr`` into the log. Not stderr during the pipeline itself: a fault point
        (``orchestration/faults.py``) and the run lock speak there, to the console."""
        with contextlib.redirect_stdout(self.stream):
            if stderr:
                with contextlib.redirect_stderr(self.stream):
                    yield
            else:
                yield

    def close(self) -> None:
        self._handle.close()

    def discard(self) -> None:
        """Close and remove the log: the command ended before anything ran (a busy warehouse, a landing
        folder the demo did not write), and its message on the console says all there is."""
        self.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
