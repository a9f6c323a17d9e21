"""A dbt step that fails while dbt is still running stops dbt (it would otherwise hold the warehouse).

Seen in a real run: dagster-dbt raised on an event of a model the manifest did not have; its reader of
dbt's stdout swallowed the ``GeneratorExit``, dbt went on, unread, blocked on a full pipe, and the next
step waited for the warehouse's lock for minutes. Here a real child process stands in for dbt: it writes
without end (as dbt streams events) and only stops on a signal.
"""

import subprocess
import sys
from collections.abc import Iterator

import pytest

from orchestration.defs.dbt_assets import stopped_on_error

CHATTY = "import sys\nwhile True:\n    sys.stdout.write('x' * 1000 + '\\n')\n"


@pytest.fixture
def chatty() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", CHATTY], stdout=subprocess.PIPE)
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
