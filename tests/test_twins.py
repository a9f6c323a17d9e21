"""Generated twins stay twins: each generated file equals what its one source renders today."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import yaml

from orchestration.contract import LINEAGE_COLUMNS, OBJECTS
from orchestration.tooling import twins

KPI_MODELS_DIR = twins.KPI_DOCS.parent
_DOC_DESCRIPTION = re.compile(r"""^{{\s*doc\(\s*["'](\w+)["']\s*\)\s*}}$""")


def test_sources_yaml_matches_the_contract() -> None:
    assert twins.SOURCES_YAML.read_text() == twins.render_sources_yaml(), (
        f"{twins.SOURCES_YAML.name} drifted from orchestration/contract.py: change the contract, then "
        f"run `{twins.REGENERATE}`"
    )


def test_kpi_definitions_doc_matches_the_doc_blocks() -> None:
    assert twins.KPI_DEFINITIONS.read_text() == twins.render_kpi_definitions_file(), (
        f"{twins.KPI_DEFINITIONS.name} drifted from the doc blocks in {twins.KPI_DOCS.name} or the "
        f"template: edit those, then run `{twins.REGENERATE}`"
    )


def test_sources_yaml_has_every_contract_column_and_asset_key() -> None:
    spec = yaml.safe_load(twins.render_sources_yaml())
    tables = {t["name"]: t for t in spec["sources"][0]["tables"]}
    for obj in OBJECTS:
        table = tables[obj.table]
        assert [c["name"] for c in table["columns"]] == [*obj.columns, *LINEAGE_COLUMNS]
        assert table["meta"]["dagster"]["asset_key"] == ["raw", obj.table]
        assert "config" not in table  # no dbt source freshness: orchestration/defs/freshness.py
    assert "load_audit" in tables


def test_a_field_edited_in_the_contract_changes_the_sources_yaml() -> None:
    opportunity = next(o for o in OBJECTS if o.name == "Opportunity")
    amount = opportunity.field("Amount")
    edited = replace(
        opportunity, fields=tuple(replace(f, type="number") if f is amount else f for f in opportunity.fields)
    )
    objects = tuple(edited if o is opportunity else o for o in OBJECTS)
    assert "`Opportunity.Amount` (number)." in twins.render_sources_yaml(objects)
    assert twins.render_sources_yaml(objects) != twins.SOURCES_YAML.read_text()


def test_every_kpi_model_is_described_by_a_doc_block_that_the_definitions_render() -> None:
    blocks = twins.doc_blocks(twins.KPI_DOCS.read_text())
    rendered = twins.rendered_doc_names(twins.KPI_DEFINITIONS_TEMPLATE.read_text())
    assert len(rendered) == len(set(rendered))
    models = {p.stem for p in KPI_MODELS_DIR.glob("kpi_*.sql")}
    described = {}
    for path in KPI_MODELS_DIR.glob("*.yml"):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
            match = _DOC_DESCRIPTION.match(model.get("description", ""))
            assert match, f"{model['name']}: describe it with a doc block of {twins.KPI_DOCS.name}"
            described[model["name"]] = match.group(1)
    assert set(described) == models
    assert set(described.values()) == set(rendered)  # each definition rendered once, none orphaned
    assert set(rendered) <= set(blocks)


def test_kpi_yaml_is_one_file_per_model() -> None:
    for path in KPI_MODELS_DIR.glob("*.yml"):
        spec = yaml.safe_load(path.read_text())
        (model,) = spec["models"]
        assert path.name == f"_{model['name']}.yml"
        assert {t["model"] for t in spec.get("unit_tests") or []} <= {model["name"]}


def test_rendering_replaces_doc_lines_and_refuses_unknown_blocks() -> None:
    blocks = twins.doc_blocks("{% docs a %}\nline 1\nline 2\n{% enddocs %}\n")
    assert twins.render_kpi_definitions('# T\n\n{{ doc("a") }}\n', blocks) == "# T\n\nline 1\nline 2\n"
    with pytest.raises(KeyError, match="'b'"):
        twins.render_kpi_definitions('{{ doc("b") }}\n', blocks)
