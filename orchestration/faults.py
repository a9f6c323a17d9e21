"""Fault injection for the reliability suite: SIGKILL the whole process group at a named point of a run.

``SALES_WH_FAULT_POINT=<name>[@<n>]`` makes the process kill its own process group with SIGKILL the
``n``-th time (default: the first) it reaches the point ``<name>``: the pipeline and its dbt subprocess
die together, as on a power cut or the OOM killer, with no ``finally`` block, no rollback and no
cleanup. ``tests/reliability/test_faults.py`` starts each run in a process group of its own
(``start_new_session``) and reruns after the kill. Unset, as everywhere outside that suite, a point
costs one environment lookup.

Do not set it in a shell: the process group of a command typed at a shell is that command's job
(``make``, the pipeline and their children), which the kill takes down whole.

The points, in the order a run reaches them (:data:`FAULT_POINTS`; ``<Object>`` is a landing object):

- ``dbt_parse``: the dbt project parsed (manifest written), before its stamp says the manifest is current;
- ``raw_load:<Object>``: inside the load transaction of ``<Object>``: its partitions replaced and audited,
  the landing checks about to run, nothing committed;
- ``dbt_build``: inside ``dbt build``, at each event dbt streams (``dbt_build@40``: the 40th; dbt is running
  the next models when it comes);
- ``mart_checks``: inside the mart checks step, after the first check (a read-only connection open);
- ``publish_copy``: inside publish, after each table copied into the temporary file (half written);
- ``publish_rename``: the temporary file complete and closed, just before it is renamed over the
  published file;
- ``publish_done``: just after the rename, before the run records the materialization.
"""

from __future__ import annotations

import os
import signal
import sys

#: The environment variable naming the point (and optionally the hit) at which to kill.
FAULT_POINT_ENV = "SALES_WH_FAULT_POINT"

#: The points the code calls :func:`fault_point` at (``raw_load:`` takes an object name).
FAULT_POINTS = (
    "dbt_parse",
    "raw_load:<Object>",
    "dbt_build",
    "mart_checks",
    "publish_copy",
    "publish_rename",
    "publish_done",
)

_hits: dict[str, int] = {}


def _wanted() -> tuple[str, int] | None:
    spec = os.environ.get(FAULT_POINT_ENV)
    if not spec:
        return None
    name, _, nth = spec.partition("@")
    return name, int(nth or 1)


def fault_point(name: str) -> None:
    """Kill this process's group with SIGKILL when ``SALES_WH_FAULT_POINT`` names ``name`` (at its
    ``n``-th hit); otherwise return at once."""
    if FAULT_POINT_ENV not in os.environ:
        return
    wanted = _wanted()
    if wanted is None or wanted[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] != wanted[1]:
        return
    group = os.getpgrp()
    print(
        f"{FAULT_POINT_ENV}: killing process group {group} at {name} (hit {_hits[name]})",
        file=sys.stderr,
        flush=True,
    )
    os.killpg(group, signal.SIGKILL)
