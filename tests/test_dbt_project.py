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


def test_full_refresh_only_when_the_dbt_project_changed(tmp_path, monkeypatch) -> None:
    import orchestration.defs.dbt_assets as dbt_assets

    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "seeds").mkdir()
    (project / "models" / "m.sql").write_text("select 1 as x\n")
    (project / "seeds" / "s.csv").write_text("a\n1\n")
    (project / "dbt_project.yml").write_text("name: p\n")
    monkeypatch.setattr(dbt_assets, "PROJECT_ROOT", project)
    warehouse = str(tmp_path / "warehouse.duckdb")

    first = dbt_assets.project_fingerprint("duckdb")
    refresh = ["build", "--full-refresh", "--exclude-resource-type", "unit_test"]
    assert dbt_assets.build_args(warehouse, first) == refresh  # never built
    dbt_assets.fingerprint_path(warehouse).write_text(first)
    assert dbt_assets.build_args(warehouse, first) == ["build", "--exclude-resource-type", "unit_test"]

    (project / "dbt_project").mkdir()
    (project / "dbt_project" / ".user.yml").write_text("id: 1234\n")  # dbt's usage id: not the project
    assert dbt_assets.project_fingerprint("duckdb") == first
    assert dbt_assets.project_fingerprint("postgres") != first  # another target
    (project / "seeds" / "s.csv").write_text("a\n2\n")  # a seed edit
    changed = dbt_assets.project_fingerprint("duckdb")
    assert changed != first
    assert dbt_assets.build_args(warehouse, changed) == refresh
