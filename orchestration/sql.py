"""SQL text helpers shared by the loader, the landing checks and publishing."""

from __future__ import annotations


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """An SQL string literal."""
    return "'" + value.replace("'", "''") + "'"
