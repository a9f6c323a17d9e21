"""Faults: the pipeline killed with SIGKILL at every stage, a full disk, an unwritable published folder.

Each run is a real ``sales-wh run`` process (S-scale demo extracts, two days) in a process group of its
own; ``SALES_WH_FAULT_POINT`` (:mod:`orchestration.faults`) makes it kill that whole group, dbt's
subprocess included, at a named point. After every kill: the published file is the one from before,
byte for byte, and opens read-only; raw holds no half batch (every partition is exactly what its audit
row says one load loaded). The next run needs no manual step: it says it takes over the killed run's
lock, removes a killed publish's temporary file and says so, and publishes marts and core tables equal,
table by table and row by row (:mod:`tests.reliability.digest`), to those of a clean uninterrupted run.

A reader loops over the published file (read-only, a new connection each time) for the whole sequence
and must never fail or miss the file once it exists.

Reduced set (CI, ``make test``): three kill points one after the other (each killed run starts from the
state the previous one left), then one rerun; publish and the lock on a full or read-only folder are
tested without a run in ``test_publish_faults.py``. Full set (``make reliability``,
``SALES_WH_RELIABILITY=full``): every point of :data:`FULL_POINTS`, each followed by its own rerun,
starting from an empty warehouse and dbt target; a full warehouse folder, a full published folder and an
unwritable published folder, each through ``sales-wh run``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import DemoLanding
from tests.reliability.digest import differences, table_digests
from tests.reliability.harness import (
    STALE_LOCK_TEXT,
    STALE_TEMP_TEXT,
    Base,
    Run,
    cannot_mount_reason,
    fill,
    leftovers,
    published_run_count,
    raw_batch_problems,
    read_only_dir,
    run_cli,
    sha256,
    size_limited_dir,
)
from tests.reliability.record import full, put

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

START = date(2025, 1, 1)
DAYS = 2
END = START + timedelta(days=DAYS - 1)

#: Every stage of a run, in the order a run reaches them (raw: the first object loaded, two in the
#: middle, the last). ``dbt_build@150``: the 150th dbt event, half-way through the build.
FULL_POINTS = [
    "dbt_parse",
    "raw_load:Account",
    "raw_load:Lead",
    "raw_load:Opportunity",
    "raw_load:User",
    "dbt_build",
    "dbt_build@150",
    "mart_checks",
    "publish_copy",
    "publish_rename",
    "publish_done",
]
#: CI: one kill in a raw load, one inside dbt build, one between publish's write and its rename.
REDUCED_POINTS = ["raw_load:Opportunity", "dbt_build@150", "publish_rename"]
#: Points after which the killed publish leaves its temporary file.
LEAVES_TEMP_FILE = ("publish_copy", "publish_rename")


@dataclass(frozen=True)
class Clean:
    base: Base
    digests: dict[str, tuple[int, str]]
    run: Run


@pytest.fixture(scope="module")
def landing(demo_landing: DemoLanding) -> Path:
    return demo_landing(days=DAYS, seed=7, start=START)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def clean(work: Path, landing: Path) -> Clean:
    """One uninterrupted run: the marts every recovered run must equal."""
    base = Base(work / "clean", landing, work / "dbt_target")
    base.root.mkdir()
    run = run_cli(base, START, END)
    assert run.returncode == 0, run.tail()
    put("runs", "clean_run_seconds", round(run.seconds, 1))
    return Clean(base, table_digests(base.published), run)


def copy_of(clean: Clean, root: Path, *, published_dir: Path | None = None) -> Base:
    """A warehouse in ``root`` in the state the clean run left (its published file, its dbt stamp)."""
    base = Base(root, clean.base.landing, clean.base.dbt_target, published_dir)
    root.mkdir(parents=True, exist_ok=True)
    for name in ("warehouse.duckdb", "warehouse.duckdb.dbt-project"):
        shutil.copy2(clean.base.root / name, root / name)
    base.published.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(clean.base.published, base.published)
    return base


# --- a reader of the published file for the whole sequence ----------------------------------------------

READER = """
import json, os, sys, time, duckdb
path, stop = sys.argv[1], sys.argv[2]
reads = errors = mixes = missing_after_seen = 0
seen = False
runs = set()
while not os.path.exists(stop):
    if not os.path.exists(path):
        missing_after_seen += seen
        time.sleep(0.05)
        continue
    seen = True
    try:
        con = duckdb.connect(path, read_only=True)
        try:
            run_id, counts = con.execute(
                "select run_id, row_counts from main.run_history order by published_at desc limit 1"
            ).fetchone()
            counts = json.loads(counts)
            for table in ("marts.kpi_bookings", "marts.kpi_win_rate", "core.fct_opportunities"):
                (n,) = con.execute(f"select count(*) from {table}").fetchone()
                mixes += n != counts[table]
            runs.add(run_id)
        finally:
            con.close()
        reads += 1
    except Exception as exc:
        errors += 1
        print(repr(exc), file=sys.stderr, flush=True)
    time.sleep(0.05)
print(json.dumps({"reads": reads, "errors": errors, "mixes": mixes,
                  "missing_after_seen": missing_after_seen, "publishes_seen": len(runs)}))
"""


StopReader = Callable[[], tuple[dict[str, int], str]]
StartReader = Callable[[Path], StopReader]


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[StartReader]:
    """``start(published)`` a reader loop; the test calls the returned ``stop()`` for its figures."""
    started: list[subprocess.Popen[str]] = []
    stop_file = tmp_path / "stop-reader"

    def start(published: Path) -> StopReader:
        process = subprocess.Popen(
            [sys.executable, "-c", READER, str(published), str(stop_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)

        def stop() -> tuple[dict[str, int], str]:
            stop_file.touch()
            out, err = process.communicate(timeout=60)
            return json.loads(out), err

        return stop

    yield start
    stop_file.touch()
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- kills ----------------------------------------------------------------------------------------------


def check_killed(
    point: str, run: Run, base: Base, before: str | None, clean: Clean, scratch: Path
) -> dict[str, object]:
    """What a kill at ``point`` left: the published file as it was (after the rename: the new one,
    complete), raw batches whole."""
    assert run.killed, f"{point}: the run was not killed at its fault point\n{run.tail()}"
    assert f"at {point.split('@')[0]} (hit " in run.stderr, run.tail()
    if before is None:
        if point == "publish_done":
            assert base.published.exists()
        else:
            assert not base.published.exists(), f"{point}: a published file appeared from a killed run"
    else:
        assert base.published.exists(), f"{point}: the published file is gone"
        if point != "publish_done":
            assert sha256(base.published) == before, f"{point}: the published file changed"
    if base.published.exists():
        published_run_count(base.published)  # opens and reads
    if point == "publish_done":
        assert differences(table_digests(base.published), clean.digests) == []
    checked, problems = raw_batch_problems(base.warehouse, scratch)
    assert problems == [], f"{point}: raw holds half batches: {problems}"
    temp = leftovers(base)
    if point.startswith(LEAVES_TEMP_FILE):
        assert temp, f"{point}: expected the killed publish's temporary file"
    return {"seconds": round(run.seconds, 1), "raw_batches_checked": checked, "temp_files_left": len(temp)}


def check_rerun(
    point: str, rerun: Run, base: Base, clean: Clean, scratch: Path, *, temp_left: bool
) -> dict[str, object]:
    """The rerun after a kill: succeeds without a manual step, says what it took over or removed,
    publishes what a clean run publishes."""
    assert rerun.returncode == 0, f"rerun after {point} failed\n{rerun.tail()}"
    assert STALE_LOCK_TEXT in rerun.stderr, f"rerun after {point} did not name the killed run\n{rerun.tail()}"
    if temp_left:
        assert STALE_TEMP_TEXT in rerun.stderr + rerun.stdout, rerun.tail()
    assert leftovers(base) == [], f"after {point}: {leftovers(base)}"
    diff = differences(table_digests(base.published), clean.digests)
    assert diff == [], f"after {point} the published marts differ from a clean run's: {diff}"
    checked, problems = raw_batch_problems(base.warehouse, scratch)
    assert problems == []
    return {"rerun_seconds": round(rerun.seconds, 1), "tables_equal": len(clean.digests)}


def test_killed_at_every_stage_the_rerun_recovers(
    clean: Clean, work: Path, tmp_path: Path, reader: StartReader
) -> None:
    points = FULL_POINTS if full() else REDUCED_POINTS
    if full():
        # From nothing: an empty warehouse and a dbt target never parsed (so dbt_parse is reached).
        base = Base(work / "killed", clean.base.landing, work / "killed_dbt_target")
        base.root.mkdir()
    else:
        base = copy_of(clean, work / "killed")
    put("kill_plan", "points", points)
    stop_reader = reader(base.published)
    survived: dict[str, dict[str, object]] = {}
    publishes = 0
    for i, point in enumerate(points):
        before = sha256(base.published) if base.published.exists() else None
        killed = run_cli(base, START, END, fault=point)
        if i > 0 and not full():  # a run right after a kill takes over the killed run's lock, saying so
            assert STALE_LOCK_TEXT in killed.stderr, killed.tail()
        outcome = check_killed(point, killed, base, before, clean, tmp_path / "scratch")
        publishes += point == "publish_done"
        if full() or i == len(points) - 1:  # the reduced set reruns once, after its last kill
            rerun = run_cli(base, START, END)
            temp_left = outcome["temp_files_left"] != 0
            outcome |= check_rerun(point, rerun, base, clean, tmp_path / "scratch", temp_left=temp_left)
            publishes += 1
        survived[point] = outcome
        put("kill_points", point, {**outcome, "survived": True, "rerun_each": full()})
    figures, errors = stop_reader()
    put("readers", "during_kills", {**figures, "publishes": publishes, "kills": len(points)})
    assert (figures["errors"], figures["mixes"], figures["missing_after_seen"]) == (0, 0, 0), errors
    assert figures["reads"] > 0
    assert len(survived) == len(points)


# --- a full disk ----------------------------------------------------------------------------------------


def _needs_mount() -> None:
    reason = cannot_mount_reason()
    if reason:
        put("disk", "skipped", reason)
        pytest.skip(reason)


def _mib(*paths: Path) -> int:
    return sum(p.stat().st_size for p in paths if p.exists()) // (1 << 20) + 1


@pytest.mark.skipif(not full(), reason="full set only (make reliability); CI: test_publish_faults.py")
def test_full_disk_under_the_warehouse_fails_clearly_and_the_rerun_recovers(clean: Clean, work: Path) -> None:
    """The warehouse's folder (warehouse and published file, the default layout) on a small tmpfs that
    the test fills: the run fails with the system's reason, the published file is untouched and raw is
    whole; after freeing space the next run succeeds."""
    _needs_mount()
    root = work / "full_disk"
    size = 3 * _mib(clean.base.warehouse, clean.base.published) + 16
    with size_limited_dir(root, size):
        base = copy_of(clean, root)
        before = sha256(base.published)
        ballast = fill(root)
        failed = run_cli(base, START, END)
        assert failed.returncode == 1, failed.tail()
        assert "No space left on device" in failed.stderr, failed.tail()
        assert "failed step: " in failed.stderr and "nothing was published" in failed.stderr, failed.tail()
        assert sha256(base.published) == before
        published_run_count(base.published)
        ballast.unlink()
        checked, problems = raw_batch_problems(base.warehouse, work / "scratch_full_disk")
        assert problems == []
        rerun = run_cli(base, START, END)
        assert rerun.returncode == 0, rerun.tail()
        assert differences(table_digests(base.published), clean.digests) == []
        message = next(line.strip() for line in failed.stderr.splitlines() if "failed step: " in line)
        put(
            "disk",
            "warehouse_folder_full",
            {
                "tmpfs_mib": size,
                "failed_rc": failed.returncode,
                "message": message[:1000],
                "published_intact": True,
                "raw_batches_checked": checked,
                "rerun_ok": True,
                "seconds": round(failed.seconds + rerun.seconds, 1),
            },
        )


@pytest.mark.skipif(not full(), reason="full set only (make reliability): a whole run before it fails")
def test_full_published_folder_fails_clearly_and_keeps_the_previous_file(clean: Clean, work: Path) -> None:
    """The published file on its own small tmpfs, filled: publish fails saying so, nothing of it is
    left, the previous file is byte-identical; after freeing space the next run publishes."""
    _needs_mount()
    pub = work / "full_published"
    with size_limited_dir(pub, 2 * _mib(clean.base.published) + 4):
        base = copy_of(clean, work / "full_published_wh", published_dir=pub)
        before = sha256(base.published)
        ballast = fill(pub)
        failed = run_cli(base, START, END)
        assert failed.returncode == 1, failed.tail()
        line = next((x for x in failed.stderr.splitlines() if "failed step: published" in x), "")
        assert "Could not publish to" in line and "No space left on device" in line, failed.tail()
        assert "is unchanged" in line
        assert sha256(base.published) == before
        assert leftovers(base) == []
        ballast.unlink()
        rerun = run_cli(base, START, END)
        assert rerun.returncode == 0, rerun.tail()
        assert differences(table_digests(base.published), clean.digests) == []
        put(
            "disk",
            "published_folder_full",
            {
                "failed_rc": failed.returncode,
                "message": line.strip()[:1000],
                "published_intact": True,
                "rerun_ok": True,
            },
        )


@pytest.mark.skipif(not full(), reason="full set only (make reliability): a whole run before it fails")
def test_unwritable_published_folder_fails_clearly_and_keeps_the_previous_file(
    clean: Clean, work: Path
) -> None:
    """The published folder read-only (a read-only bind mount as root, who ignores mode bits; chmod 555
    otherwise): publish fails saying so; the previous file is byte-identical and still opens."""
    pub = work / "unwritable_published"
    base = copy_of(clean, work / "unwritable_wh", published_dir=pub)
    before = sha256(base.published)
    try:
        with read_only_dir(pub):
            failed = run_cli(base, START, END)
    except OSError as exc:
        put("disk", "skipped_unwritable", str(exc))
        pytest.skip(str(exc))
    assert failed.returncode == 1, failed.tail()
    line = next((x for x in failed.stderr.splitlines() if "failed step: published" in x), "")
    assert "Could not publish to" in line and ("Read-only file system" in line or "ermission denied" in line)
    assert "Traceback" not in line
    assert sha256(base.published) == before
    published_run_count(base.published)
    put(
        "disk",
        "published_folder_unwritable",
        {"failed_rc": failed.returncode, "message": line.strip()[:1000], "published_intact": True},
    )
