"""The pieces of the fault suite: a pipeline run as a real ``sales-wh run`` process in its own process
group, the state checks made after it (published file, raw batches, leftovers), and size-limited or
read-only folders made with the kernel's own means (tmpfs, a read-only bind mount)."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from orchestration.contract import LOAD_AUDIT_TABLE, OBJECTS, RAW_SCHEMA
from orchestration.faults import FAULT_POINT_ENV
from orchestration.settings import PROJECT_ROOT

#: What a run prints when it takes over the lock of a killed run (run_lock.stale_message).
STALE_LOCK_TEXT = "ended without finishing"
#: What publish logs when it removes the temporary files of a killed publish.
STALE_TEMP_TEXT = "temporary file(s) a killed publish left"


@dataclass(frozen=True)
class Run:
    """One finished ``sales-wh run`` process."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def tail(self, chars: int = 4000) -> str:
        return f"rc={self.returncode}\n--- stdout\n{self.stdout[-chars:]}\n--- stderr\n{self.stderr[-chars:]}"


@dataclass(frozen=True)
class Base:
    """The files of one warehouse: landing (shared, read-only), warehouse, published, dbt target."""

    root: Path
    landing: Path
    dbt_target: Path
    published_dir: Path | None = None

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def published(self) -> Path:
        return (self.published_dir or self.root) / "published.duckdb"

    def env(self, start: date, fault: str | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SALES_WH_") and k not in ("DAGSTER_HOME", "DBT_TARGET_PATH")
        }
        env.update(
            SALES_WH_LANDING_DIR=str(self.landing),
            SALES_WH_WAREHOUSE=str(self.warehouse),
            SALES_WH_PUBLISHED=str(self.published),
            SALES_WH_PARTITION_START=start.isoformat(),
            DBT_TARGET_PATH=str(self.dbt_target),
            # The suites run the same landing again and again on copies of a built warehouse: every run
            # loads and builds it as a new delivery (otherwise an unchanged batch is not loaded again and
            # a kill point in the load, dbt or publish would not be reached).
            SALES_WH_RELOAD="1",
        )
        if fault:
            env[FAULT_POINT_ENV] = fault
        return env


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def run_cli(base: Base, start: date, end: date, *, fault: str | None = None, timeout: float = 900) -> Run:
    """``sales-wh run --start START --end END`` on ``base`` in a new process group, to its end (or its
    kill at ``fault``). The group is gone when this returns: nothing of the run holds a file."""
    log_dir = base.root.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{time.monotonic_ns()}"
    out_path, err_path = log_dir / f"{stamp}.out", log_dir / f"{stamp}.err"
    t0 = time.monotonic()
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestration.tooling.cli",
                "run",
                "--start",
                start.isoformat(),
                "--end",
                end.isoformat(),
            ],
            env=base.env(start, fault),
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group: the fault kills it, dbt included, not us
        )
        try:
            returncode = process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    deadline = time.monotonic() + 30
    while group_members(process.pid):
        assert time.monotonic() < deadline, f"processes of the run still alive: {group_members(process.pid)}"
        time.sleep(0.1)
    return Run(returncode, out_path.read_text(), err_path.read_text(), time.monotonic() - t0)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def published_run_count(path: Path) -> int:
    """Rows of ``main.run_history`` in the published file (it opens read-only, and reads)."""
    with duckdb.connect(str(path), read_only=True) as con:
        (n,) = con.execute("SELECT count(*) FROM main.run_history").fetchone() or (0,)
        con.execute("SELECT count(*) FROM marts.kpi_bookings").fetchone()
    return int(n)


def leftovers(base: Base) -> list[str]:
    """Temporary files of publishes beside the published file (a killed publish leaves one)."""
    pattern = re.compile(rf"\.{re.escape(base.published.name)}\..+\.tmp.*")
    return sorted(p.name for p in base.published.parent.iterdir() if pattern.fullmatch(p.name))


def copy_database(path: Path, into: Path) -> Path:
    """A copy of a DuckDB file with its write-ahead log, as a killed writer left them: opening the
    copy replays (or discards) the log without touching the original, which the rerun will open."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, into / path.name)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        shutil.copy2(wal, into / wal.name)
    return into / path.name


def raw_batch_problems(warehouse: Path, scratch: Path) -> tuple[int, list[str]]:
    """Batches of raw that are not whole: for every object and extract date, the raw partition must be
    exactly the rows the audit says that load loaded (same count, all from that one load), and the audit
    must account for every source row (loaded + rejected). Returns (batches checked, problems)."""
    if not warehouse.exists():
        return 0, []
    shutil.rmtree(scratch, ignore_errors=True)
    copy = copy_database(warehouse, scratch)
    problems: list[str] = []
    checked = 0
    with duckdb.connect(str(copy)) as con:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [RAW_SCHEMA]
            ).fetchall()
        }
        if LOAD_AUDIT_TABLE not in tables:
            return 0, []
        audit = {
            (o, d): (s, lo, rj, at)
            for o, d, s, lo, rj, at in con.execute(
                f"SELECT object, extract_date, source_rows, loaded_rows, rejected_rows, loaded_at "
                f"FROM {RAW_SCHEMA}.{LOAD_AUDIT_TABLE}"
            ).fetchall()
        }
        for (obj_name, day), (source, loaded, rejected, _) in audit.items():
            if source != loaded + rejected:
                problems.append(
                    f"{obj_name} {day}: {source} source rows != {loaded} loaded + {rejected} rejected"
                )
        for obj in OBJECTS:
            if obj.table not in tables:
                continue
            partitions = con.execute(
                f"SELECT _extract_date, count(*), count(DISTINCT _loaded_at), max(_loaded_at) "
                f"FROM {RAW_SCHEMA}.{obj.table} GROUP BY 1"
            ).fetchall()
            present = {day for day, *_ in partitions}
            for day, rows, loads, loaded_at in partitions:
                checked += 1
                entry = audit.get((obj.name, day))
                if entry is None:
                    problems.append(f"{obj.name} {day}: {rows} raw rows without an audit row")
                elif (rows, loads, loaded_at) != (entry[1], 1, entry[3]):
                    problems.append(
                        f"{obj.name} {day}: raw holds {rows} rows of {loads} load(s) (last {loaded_at}); "
                        f"the audit says {entry[1]} rows loaded at {entry[3]}"
                    )
            for (obj_name, day), entry in audit.items():
                if obj_name == obj.name and entry[1] > 0 and day not in present:
                    checked += 1
                    problems.append(f"{obj.name} {day}: the audit says {entry[1]} rows, raw holds none")
    shutil.rmtree(scratch, ignore_errors=True)
    return checked, problems


# --- folders the kernel limits --------------------------------------------------------------------------


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


def cannot_mount_reason() -> str | None:
    """Why this process cannot mount a tmpfs (None when it can)."""
    if shutil.which("mount") is None:
        return "no `mount` command on this machine"
    if os.geteuid() != 0:
        return (
            f"mounting a size-limited tmpfs needs root (CAP_SYS_ADMIN); the tests run as uid {os.geteuid()}"
        )
    return None


@contextmanager
def size_limited_dir(path: Path, size_mb: int) -> Iterator[Path]:
    """``path`` as a tmpfs of ``size_mb`` MiB for the body (a full disk the test can free again)."""
    path.mkdir(parents=True, exist_ok=True)
    done = _mount("-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path))
    if done.returncode != 0:
        raise OSError(errno.EPERM, f"mount -t tmpfs on {path} failed: {done.stderr.strip()}")
    try:
        yield path
    finally:
        _mount_undo(path)


@contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """``path`` read-only for the body: a read-only bind mount of itself as root (root ignores mode
    bits), ``chmod 555`` otherwise. Files in it stay readable."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(mode)
        return
    for args in (("--bind", str(path), str(path)), ("-o", "remount,bind,ro", str(path))):
        done = _mount(*args)
        if done.returncode != 0:
            _mount_undo(path)
            raise OSError(errno.EPERM, f"mount {' '.join(args)} failed: {done.stderr.strip()}")
    try:
        yield path
    finally:
        _mount_undo(path)


def _mount_undo(path: Path) -> None:
    for _ in range(50):
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.2)  # a process of the run may still be closing a file there
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(folder: Path, leave_bytes: int = 0) -> Path:
    """Write a ballast file into ``folder`` until its file system has ``leave_bytes`` (or less) free."""
    ballast = folder / "ballast.bin"
    chunk = b"\0" * (1 << 20)
    with ballast.open("wb", buffering=0) as f:
        try:
            while True:
                free = shutil.disk_usage(folder).free
                if free <= leave_bytes:
                    break
                f.write(chunk[: min(len(chunk), max(4096, free - leave_bytes))])
                f.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return ballast
