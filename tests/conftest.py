"""Shared pytest fixtures (small and generic; add yours below)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from orchestration.warehouse import connect_warehouse

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    """Path of a fresh, not yet created DuckDB warehouse file."""
    return tmp_path / "warehouse" / "warehouse.duckdb"


@pytest.fixture
def warehouse(warehouse_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a fresh warehouse file, closed after the test."""
    con = connect_warehouse(warehouse_path, memory_limit="1GB", threads=2)
    yield con
    con.close()


@pytest.fixture
def fixture_landing() -> Path:
    """The hand-written landing tree in tests/fixtures/landing (read-only: copy it before changing)."""
    return FIXTURES / "landing"
