"""The Dagster code location (``dagster dev -m orchestration.definitions``): assembles, nothing else
(``orchestration.defs.assemble.build_defs``)."""

from orchestration.defs.assemble import build_defs

__all__ = ["build_defs", "defs"]

defs = build_defs()
