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


def test_not_null_columns_and_primary_key_count_what_breaks_them(tmp_path) -> None:
    """The generic tests that stand for several dbt tests each (one node instead of several), in a dbt
    project of its own on hand-written seeds. people: a holds 1 NULL and b 2 (an empty CSV field is
    NULL), c none. keys: k 7 twice, 8 three times, NULL twice and 9 once, so 3 key values break
    the key; the unique id never does."""
    import json
    import shutil
    import subprocess

    from orchestration.dbt_parse import dbt_executable

    project = tmp_path / "p"
    (project / "tests" / "generic").mkdir(parents=True)
    (project / "seeds").mkdir()
    generics = PROJECT_ROOT / "dbt_project" / "tests" / "generic"
    for generic in ("not_null_columns.sql", "primary_key.sql"):
        shutil.copy(generics / generic, project / "tests" / "generic")
    (project / "dbt_project.yml").write_text("name: p\nversion: '1.0'\nprofile: p\n")
    (project / "profiles.yml").write_text(
        f"p:\n  target: d\n  outputs:\n    d:\n      type: duckdb\n      path: {tmp_path / 'p.duckdb'}\n"
    )
    (project / "seeds" / "people.csv").write_text("id,a,b,c\n1,x,,k\n2,,,k\n3,y,z,k\n")
    (project / "seeds" / "people.yml").write_text(
        "seeds:\n"
        "  - name: people\n"
        "    data_tests:\n"
        "      - not_null_columns:\n"
        "          name: people_abc_not_null\n"
        "          arguments: {columns: [a, b, c]}\n"
        "          config: {store_failures: true}\n"
        "      - not_null_columns:\n"
        "          name: people_id_c_not_null\n"
        "          arguments: {columns: [id, c]}\n"
        "  - name: keys\n"
        "    columns:\n"
        "      - name: k\n"
        "        data_tests: [{primary_key: {config: {store_failures: true}}}]\n"
        "      - name: id\n"
        "        data_tests: [primary_key]\n"
    )
    (project / "seeds" / "keys.csv").write_text("id,k\n1,7\n2,7\n3,8\n4,8\n5,8\n6,\n7,\n8,9\n")
    done = subprocess.run(
        [dbt_executable(), "build", "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        cwd=project,
    )
    assert done.returncode == 1, done.stdout  # the failing test fails the build
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    by_test = {
        r["unique_id"].split(".")[2]: (r["status"], r["failures"])
        for r in results
        if r["unique_id"].startswith("test.")
    }
    assert by_test == {
        "people_abc_not_null": ("fail", 3),
        "people_id_c_not_null": ("pass", 0),
        "primary_key_keys_k": ("fail", 3),
        "primary_key_keys_id": ("pass", 0),
    }
    import duckdb

    with duckdb.connect(str(tmp_path / "p.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select column_name, null_rows from main_dbt_test__audit.people_abc_not_null order by 1"
        ).fetchall()
        keys = con.execute(
            "select key_value, occurrences from main_dbt_test__audit.primary_key_keys_k order by 1 nulls last"
        ).fetchall()
    assert rows == [("a", 1), ("b", 2)]  # which columns, and how many NULLs each
    assert keys == [(7, 2), (8, 3), (None, 2)]  # which key values, and how many rows each
