"""A dbt step that fails while dbt is still running stops dbt (it would otherwise hold the warehouse).

Seen in a real run: dagster-dbt raised on an event of a model the manifest did not have; its reader of
dbt's stdout swallowed the ``GeneratorExit``, dbt went on, unread, blocked on a full pipe, and the next
step waited for the warehouse's lock for minutes. Here a real child process stands in for dbt: it writes
without end (as dbt streams events) and only stops on a signal.
"""

import resource
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from orchestration.defs.dbt_assets import stopped_on_error

CHATTY = "import sys\nwhile True:\n    sys.stdout.write('x' * 1000 + '\\n')\n"


def _default_sigint() -> None:
    """In the child: SIGINT stops it, even when this test runs where SIGINT is ignored (a background
    job of a script), which a child would inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def chatty() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-c", CHATTY], stdout=subprocess.PIPE, preexec_fn=_default_sigint
    )
    yield process
    process.kill()  # a failed test does not leave it running
    process.wait()


def test_an_error_while_reading_dbt_stops_dbt(chatty: subprocess.Popen[bytes]) -> None:
    process = chatty
    assert process.stdout is not None
    with pytest.raises(KeyError), stopped_on_error(process):
        process.stdout.readline()  # dbt's first event was read ...
        raise KeyError("model.sales_wh.not_in_the_manifest")  # ... and the next one raised
    assert process.poll() is not None, "dbt is still running after the step failed"


def test_a_closed_pipe_still_stops_dbt(chatty: subprocess.Popen[bytes]) -> None:
    process = chatty
    assert process.stdout is not None
    with pytest.raises(RuntimeError), stopped_on_error(process):
        process.stdout.close()
        raise RuntimeError("generator ignored GeneratorExit")
    assert process.poll() is not None


def test_a_successful_step_leaves_the_finished_process_alone() -> None:
    process = subprocess.Popen([sys.executable, "-c", "print('done')"], stdout=subprocess.PIPE)
    with stopped_on_error(process):
        out, _ = process.communicate(timeout=30)
    assert out.strip() == b"done"
    assert process.returncode == 0


def test_a_process_that_ignores_sigint_is_killed_and_its_output_not_kept() -> None:
    """dbt started where SIGINT is ignored writes on after it: it is killed after the stop time, and what
    it wrote meanwhile was read and dropped. Kept in memory (``communicate``), a writer like this one grew
    a test worker to 23 GB in the 30 s, and the machine's OOM killer ended it."""
    ignoring = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n" + CHATTY
    process = subprocess.Popen([sys.executable, "-c", ignoring], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        process.stdout.readline()  # it is running and writing
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
        with pytest.raises(KeyError), stopped_on_error(process, stop_seconds=2.0):
            raise KeyError("model.sales_wh.not_in_the_manifest")
        assert process.returncode == -signal.SIGKILL, "SIGINT was ignored: only SIGKILL stops it"
        grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
        assert grown_mib < 256, f"the output written while it stopped was kept: +{grown_mib:.0f} MiB"
    finally:
        process.kill()
        process.wait()
