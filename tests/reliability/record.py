"""Figures of the reliability suites, for docs/RELIABILITY.md (``make reliability``).

Tests call :func:`put` with what they measured (kill points and their outcome, reader loops, disk
outcomes); it costs nothing when nobody records. Loaded as a pytest plugin
(``pytest -p tests.reliability.record``) with ``SALES_WH_RELIABILITY_RECORD=<file.json>``, this module
also keeps every test's outcome and duration and writes both to that file when the session ends;
``orchestration.tooling.reliability`` turns it into the document.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

RECORD_ENV = "SALES_WH_RELIABILITY_RECORD"
#: ``full`` runs the full sets (every kill point, more publishes); anything else the reduced CI sets.
LEVEL_ENV = "SALES_WH_RELIABILITY"

FIGURES: dict[str, dict[str, Any]] = {}
OUTCOMES: dict[str, dict[str, Any]] = {}


def full() -> bool:
    """Whether the full sets run (``SALES_WH_RELIABILITY=full``), not the reduced ones CI runs."""
    return os.environ.get(LEVEL_ENV) == "full"


def put(section: str, key: str, value: Any) -> None:
    """Record ``value`` as figure ``key`` of ``section`` (JSON-serialisable)."""
    FIGURES.setdefault(section, {})[key] = value


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = OUTCOMES.setdefault(report.nodeid, {"outcome": "passed", "seconds": 0.0})
    entry["seconds"] = round(entry["seconds"] + report.duration, 2)
    if report.when == "call" and hasattr(report, "wasxfail"):
        entry["outcome"] = "xfailed" if report.skipped else "xpassed"
    elif report.skipped:
        entry["outcome"] = "skipped"
        entry["reason"] = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
    elif report.failed:
        entry["outcome"] = "failed" if report.when == "call" else "error"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(RECORD_ENV)
    if not target:
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {"level": "full" if full() else "reduced", "figures": FIGURES, "tests": OUTCOMES},
            indent=2,
            default=str,
            sort_keys=True,
        )
    )
