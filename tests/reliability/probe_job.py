"""A one-asset job on the project's executor (:data:`orchestration.defs.jobs.one_writer_executor`), for
``dg.execute_job``: the way Dagster runs a launched run (UI, schedule, sensor), not ``execute_in_process``.

Its asset writes what it saw of the run lock, and what another process got when it tried the lock, to
the JSON file named by ``SALES_WH_PROBE_OUT``.
"""

import json
import os
import subprocess
import sys
import time

import dagster as dg

from orchestration.defs.jobs import one_writer_executor
from orchestration.settings import PROJECT_ROOT, Settings
from orchestration.tooling.run_lock import lock_path_for, read_holder

PROBE_OUT_ENV = "SALES_WH_PROBE_OUT"

TRY_LOCK = """
import sys
from orchestration.tooling.run_lock import WarehouseBusy, warehouse_run_lock
try:
    with warehouse_run_lock(sys.argv[1]):
        print("acquired")
except WarehouseBusy as busy:
    print(busy.message())
"""


def try_lock_elsewhere(warehouse: os.PathLike[str] | str) -> str:
    """What another process gets when it tries the run lock of ``warehouse`` now."""
    done = subprocess.run(
        [sys.executable, "-c", TRY_LOCK, str(warehouse)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@dg.asset
def probe(context: dg.AssetExecutionContext) -> None:
    warehouse = Settings.from_env().warehouse_path
    holder = read_holder(lock_path_for(warehouse))
    seen = {
        "at": time.monotonic(),
        "run_id": context.run.run_id,
        "holder_pid": holder.pid,
        "holder_command": holder.command,
        "other_process": try_lock_elsewhere(warehouse),
    }
    with open(os.environ[PROBE_OUT_ENV], "w") as out:
        json.dump(seen, out)


_DEFS = dg.Definitions(
    assets=[probe], jobs=[dg.define_asset_job("probe_job", [probe], executor_def=one_writer_executor)]
)


def probe_job() -> dg.JobDefinition:
    return _DEFS.resolve_job_def("probe_job")
