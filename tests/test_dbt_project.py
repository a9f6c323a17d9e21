"""Static rules of the dbt project that the engines enforce only at run time."""

from __future__ import annotations

import yaml

from orchestration.settings import PROJECT_ROOT

#: PostgreSQL truncates identifiers at 63 bytes; dbt refuses a longer relation name there, and a unit
#: test builds a relation named after itself.
MAX_IDENTIFIER = 63


def test_model_and_unit_test_names_fit_postgres_identifiers() -> None:
    too_long = []
    for path in (PROJECT_ROOT / "models").rglob("*"):
        if path.suffix == ".sql" and len(path.stem) > MAX_IDENTIFIER:
            too_long.append(path.stem)
        if path.suffix == ".yml":
            spec = yaml.safe_load(path.read_text()) or {}
            too_long += [t["name"] for t in spec.get("unit_tests") or [] if len(t["name"]) > MAX_IDENTIFIER]
    assert too_long == []
