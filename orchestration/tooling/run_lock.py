"""One pipeline per warehouse: a process-level lock taken for a whole run before anything opens the
warehouse (or the Dagster instance).

The lock is an ``fcntl.flock`` on ``<warehouse>.lock``. The file holds the holder's pid, command and
start time so a second run can say which run it met; the *lock* is the flock, not the file: the kernel
releases it when the holding process exits or is killed, so a lock file left by a killed run never
blocks the next one (and is not deleted either: deleting a flock'ed file races with a waiter).

The lock is re-entrant within one process (the CLI takes it, then :func:`run_pipeline` takes it again),
so a caller may take it early, e.g. before ``DagsterInstance.get()`` creates a new instance's SQLite
tables, which two processes must not do at once. Runs Dagster launches itself (the UI, the schedule, the
sensor, backfills) take it in their executor (:data:`orchestration.defs.jobs.one_writer_executor`), for
the whole run.

A finished run empties the file; a run that finds it still naming a holder while the lock is free knows
that holder was killed (or crashed) and says so (``on_stale``), then takes over: nothing else is left
to clean, the warehouse rolls back what that run had not committed when it is next opened.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

#: Exit code of ``sales-wh run`` when another pipeline holds the warehouse.
EXIT_BUSY = 3
#: ``--wait`` without a value waits this long for the running pipeline, then gives up with EXIT_BUSY.
DEFAULT_WAIT_SECONDS = 3600.0
_POLL_SECONDS = 0.2

#: Locks held by this process: resolved lock path -> (pid that took it, open file descriptor, depth).
_held: dict[Path, tuple[int, int, int]] = {}

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockHolder:
    """What the process holding the lock wrote into the lock file (any field may be unknown)."""

    pid: int | None
    started_at: str | None
    command: str | None

    def describe(self) -> str:
        pid = self.pid if self.pid is not None else "unknown"
        started = self.started_at or "an unknown time"
        command = self.command or "unknown"
        return f"pid {pid}, started at {started}, command `{command}`"


class WarehouseBusy(RuntimeError):
    """Another process runs a pipeline on this warehouse (raised at once, or after ``wait`` seconds)."""

    def __init__(self, warehouse: Path, lock_path: Path, holder: LockHolder, waited: float | None) -> None:
        self.warehouse = warehouse
        self.lock_path = lock_path
        self.holder = holder
        self.waited = waited
        super().__init__(self.message())

    def message(self) -> str:
        waited = f" and did not finish within the {self.waited:.0f} s this run waited" if self.waited else ""
        return (
            f"Another pipeline is already running on the warehouse {self.warehouse} "
            f"({self.holder.describe()}){waited}. Only one pipeline may write a warehouse at a time, so "
            "this run stopped before touching anything; nothing was loaded or published. Wait for the "
            "running one to finish, or start this one with --wait to queue behind it "
            f"(lock file: {self.lock_path}; it is released when the holding process exits, so a file "
            "left behind by a killed run never blocks)."
        )


def lock_path_for(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


def current_command() -> str:
    """This process's command line, as a user would type it."""
    argv = list(sys.argv) or [sys.executable]
    return shlex.join([Path(argv[0]).name, *argv[1:]])


def read_holder(lock_path: Path) -> LockHolder:
    """The holder written in ``lock_path`` (fields ``None`` when unreadable)."""
    try:
        data = json.loads(lock_path.read_text() or "{}")
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    pid = data.get("pid")
    return LockHolder(
        pid=pid if isinstance(pid, int) else None,
        started_at=data.get("started_at"),
        command=data.get("command"),
    )


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write_holder(fd: int, text: bytes) -> None:
    """Replace the lock file's text. Best effort: the lock is the flock, so a full disk (or a
    read-only folder) costs the name of the holder, never the run."""
    try:
        os.ftruncate(fd, 0)
        if text:
            os.pwrite(fd, text, 0)
    except OSError as exc:
        _log.warning("could not write the run lock file (%s); the lock itself is held", exc.strerror)


def _read_holder_settled(lock_path: Path) -> LockHolder:
    # The holder writes its details right after taking the lock: give it a moment if we read too early.
    for _ in range(10):
        holder = read_holder(lock_path)
        if holder.pid is not None:
            return holder
        time.sleep(0.02)
    return holder


@contextmanager
def warehouse_run_lock(
    warehouse: Path | str,
    *,
    wait: float | None = None,
    command: str | None = None,
    on_wait: Callable[[LockHolder], None] | None = None,
    on_stale: Callable[[str], object] | None = None,
) -> Iterator[Path]:
    """Hold the run lock of ``warehouse`` for the body; yields the lock file's path.

    Without ``wait`` (or with 0) a held lock raises :class:`WarehouseBusy` at once; with ``wait`` the
    call polls for up to that many seconds first. ``on_wait`` is called once with the holder when this
    call starts waiting. ``on_stale`` (default: this module's logger, as a warning) gets the message
    that the previous holder ended without releasing the lock (it was killed), when that is so.
    """
    warehouse = Path(warehouse)
    lock_path = lock_path_for(warehouse)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    key = lock_path.resolve()
    held = _held.get(key)
    if held is not None and held[0] == os.getpid():
        _held[key] = (held[0], held[1], held[2] + 1)
        try:
            yield lock_path
        finally:
            pid, fd, depth = _held[key]
            _held[key] = (pid, fd, depth - 1)
        return

    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if not _try_flock(fd):
            holder = _read_holder_settled(lock_path)
            if not wait:
                raise WarehouseBusy(warehouse, lock_path, holder, None)
            if on_wait is not None:
                on_wait(holder)
            deadline = time.monotonic() + wait
            while not _try_flock(fd):
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(warehouse, lock_path, read_holder(lock_path), wait)
                time.sleep(_POLL_SECONDS)
        stale = read_holder(lock_path)
        if stale.pid is not None:
            (on_stale or _log.warning)(stale_message(warehouse, stale))
        info = {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "command": command or current_command(),
        }
        _write_holder(fd, (json.dumps(info) + "\n").encode())
        _held[key] = (os.getpid(), fd, 1)
        try:
            yield lock_path
        finally:
            del _held[key]
            _write_holder(fd, b"")  # a finished run leaves an empty file: nobody to name
    finally:
        os.close(fd)  # releases the flock


def stale_message(warehouse: Path, holder: LockHolder) -> str:
    """What a run says when the lock file still names a holder that is gone."""
    return (
        f"The previous pipeline on {warehouse} ({holder.describe()}) ended without finishing: it was "
        "killed or crashed. Its lock file is taken over; what it had not committed is rolled back, and "
        "this run loads, builds and publishes again from the start."
    )


def holds_run_lock(warehouse: Path | str) -> bool:
    """Whether this process holds the run lock of ``warehouse``."""
    held = _held.get(lock_path_for(Path(warehouse)).resolve())
    return held is not None and held[0] == os.getpid()


@contextmanager
def instance_lock(dagster_home: Path | str, *, timeout: float = 120.0) -> Iterator[None]:
    """Serialise ``DagsterInstance.get()`` on one ``DAGSTER_HOME`` across processes (pipelines on
    different warehouses may share it): creating a new instance's SQLite tables is not concurrency-safe.
    """
    home = Path(dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / ".sales-wh-instance.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while not _try_flock(fd):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"another process is setting up the Dagster instance in {home}")
            time.sleep(_POLL_SECONDS)
        yield
    finally:
        os.close(fd)
