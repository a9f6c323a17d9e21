"""The KPI dashboard: one self-contained HTML file drawn from the PUBLISHED warehouse.

``sales-wh dashboard`` writes it on demand, and ``sales-wh run``/``demo`` (so ``make run``) after every
successful publish, to ``<SALES_WH_DATA_DIR>/dashboard.html`` (``data/dashboard.html``). It reads only
the published file, read-only and briefly (:mod:`.data`), draws every chart with Plotly's figure API
(:mod:`.charts`) and inlines plotly.js once, so the file opens from disk without a network
(:mod:`.page`). The file is written beside its final path and renamed over it, so a browser reloading it
never sees half a page.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from orchestration.settings import DEFAULT_DATA_DIR, Settings

DASHBOARD_FILE = "dashboard.html"


def default_out() -> Path:
    """``<SALES_WH_DATA_DIR>/dashboard.html`` (``data/dashboard.html`` by default)."""
    data_dir = os.environ.get("SALES_WH_DATA_DIR", "").strip() or DEFAULT_DATA_DIR
    return (Path(data_dir) / DASHBOARD_FILE).absolute()


def render_dashboard(published: Path) -> str:
    """The dashboard's HTML for the published file ``published``."""
    from orchestration.tooling.dashboard.data import read_published
    from orchestration.tooling.dashboard.page import render

    return render(read_published(published))


def write_dashboard(published: Path | None = None, out: Path | None = None) -> Path:
    """Write the dashboard of ``published`` (default SALES_WH_PUBLISHED) to ``out`` (default
    :func:`default_out`) atomically; returns the path written."""
    published = Path(published or Settings.from_env().published_path)
    out = Path(out or default_out()).absolute()
    text = render_dashboard(published)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def write_after_publish(published: Path, warn: Callable[[str], object] | None = None) -> Path | None:
    """After a successful publish (the publish asset calls it): write the dashboard to its default path.
    A dashboard that cannot be drawn is reported through ``warn`` and does not fail the run (the
    publish stands)."""
    try:
        return write_dashboard(published)
    except Exception as exc:  # a broken dashboard must not turn a published run into a failed one
        (warn or _stderr)(f"Dashboard not written: {type(exc).__name__}: {exc}")
        return None


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)
