"""docs/ARCHITECTURE.md's module table names every module of the package, and nothing that is gone."""

from __future__ import annotations

import re

from orchestration.settings import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "orchestration"
DOC = PROJECT_ROOT / "docs" / "ARCHITECTURE.md"


def _documented() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("## Python package `orchestration/`") : text.index("## Landing layout")]
    names: set[str] = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            first_cell = row.split(" | ")[0]
            names |= set(re.findall(r"`([^`]+)`", first_cell))
    return names


def _modules() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if path.name == "__init__.py" or rel.startswith("tooling/demo_data/"):
            continue  # the demo generator is one row (its folder)
        found.add(rel)
    return found | {"tooling/demo_data/"}


def test_every_module_is_in_the_architecture_table():
    assert _modules() - _documented() == set()


def test_the_architecture_table_names_no_missing_module():
    gone = {n for n in _documented() if n.endswith((".py", "/")) and n not in _modules()}
    assert gone == set()
