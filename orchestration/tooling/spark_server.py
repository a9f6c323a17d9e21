"""A local Spark Thrift server with its own catalog, for the runs that need one on this machine: the
engines benchmark and the Spark end-to-end test. It is ``.ci/spark.sh`` (one JVM that owns an embedded
Derby metastore), started on a port that must be free and stopped afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestration.settings import PROJECT_ROOT

SPARK_SH = PROJECT_ROOT / ".ci" / "spark.sh"


def _answers(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


@contextmanager
def local_spark_server(base: Path, port: int) -> Iterator[dict[str, str]]:
    """Start a Thrift server whose catalog and tables live under ``base`` on ``port``; yield the
    ``SALES_WH_SPARK_*`` settings that reach it (method, host and port, as ``spark.sh`` prints them);
    stop it at the end. Refuses a port that already answers: that would be another catalog (e.g. a server a
    killed run left behind), which this one could neither start empty nor stop."""
    if _answers("127.0.0.1", port):
        raise RuntimeError(f"port {port} already answers: stop the server on it (.ci/spark.sh stop) first")
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "SALES_WH_SPARK_METASTORE": str(base / "spark-metastore"),
        "SALES_WH_SPARK_WAREHOUSE_DIR": str(base / "spark-warehouse"),
        "SALES_WH_SPARK_PORT": str(port),
    }
    started = subprocess.run(
        ["bash", str(SPARK_SH), "start"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    try:
        if started.returncode != 0:
            raise RuntimeError(f"the Spark Thrift server did not start: {started.stderr[-3000:]}")
        yield dict(kv.split("=", 1) for kv in started.stdout.split()[1:] if "=" in kv)
    finally:
        subprocess.run(
            ["bash", str(SPARK_SH), "stop"], env=env, capture_output=True, check=False, timeout=120
        )
