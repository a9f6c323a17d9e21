"""The loader's public face: load landing batches into the ``raw`` schema.

Callers import from here; the work is split by step (see :mod:`orchestration.ingestion`):
:mod:`.load` runs the transaction, the other modules each do one part of it.
"""

from __future__ import annotations

from orchestration.ingestion.batch import BatchError, BatchResult, SkippedFile
from orchestration.ingestion.discovery import FORMATS, list_extract_dates
from orchestration.ingestion.load import MAX_REFUSED_REJECTS, load_batches
from orchestration.ingestion.schema import (
    AUDIT_DDL,
    REJECT_COLUMNS,
    REJECTS_DDL,
    ensure_raw_schema,
    raw_table,
)
from orchestration.sql import lit, q

__all__ = [
    "AUDIT_DDL",
    "FORMATS",
    "MAX_REFUSED_REJECTS",
    "REJECTS_DDL",
    "REJECT_COLUMNS",
    "BatchError",
    "BatchResult",
    "SkippedFile",
    "ensure_raw_schema",
    "lit",
    "list_extract_dates",
    "load_batches",
    "q",
    "raw_table",
]
