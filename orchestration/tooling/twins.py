"""Generated twins: files that restate a single source are written from it, never by hand.

- ``models/staging/salesforce/_salesforce__sources.yml`` is rendered from the landing contract
  (:data:`orchestration.contract.OBJECTS`): tables, columns with type and description, keys, lineage
  columns and Dagster asset keys (freshness is a Dagster check,
  ``orchestration/defs/freshness.py``).
- ``docs/KPI_DEFINITIONS.md`` is rendered from the template ``kpi_definitions.template.md`` beside this
  module, whose ``{{ doc("kpi_...") }}`` lines are replaced by the dbt doc blocks of
  ``models/marts/kpi/_kpi__docs.md``: each KPI is defined once, in its doc block, which is also the
  description of its model(s).

``python -m orchestration.tooling.twins all --write`` rewrites both; ``--check`` exits 1 when a file
differs from what its source renders (tests/test_twins.py asserts the same).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from orchestration.contract import (
    LINEAGE_COLUMNS,
    LOAD_AUDIT_TABLE,
    OBJECTS,
    RAW_SCHEMA,
    REJECTS_TABLE,
    LandingObject,
)
from orchestration.settings import PROJECT_ROOT

SOURCES_YAML = PROJECT_ROOT / "models" / "staging" / "salesforce" / "_salesforce__sources.yml"
KPI_DOCS = PROJECT_ROOT / "models" / "marts" / "kpi" / "_kpi__docs.md"
KPI_DEFINITIONS = PROJECT_ROOT / "docs" / "KPI_DEFINITIONS.md"
KPI_DEFINITIONS_TEMPLATE = Path(__file__).with_name("kpi_definitions.template.md")

REGENERATE = "python -m orchestration.tooling.twins all --write"

# --- dbt sources YAML from the landing contract ------------------------------------------------------

_SOURCES_HEAD = """\
# GENERATED from orchestration/contract.py by orchestration/tooling/twins.py: do not edit. Change the
# contract (descriptions included), then run `python -m orchestration.tooling.twins sources --write`.
# Raw Salesforce-shaped tables written by the loader (orchestration/ingestion/) from the landing
# contract. Every table exists, possibly empty, from the first load on.
# The schema comes from the var `raw_schema` or env SALES_WH_RAW_SCHEMA (default raw); the database from
# the var `raw_database` (default: the target's database), e.g. `--vars '{raw_schema: landing_raw}'`.
version: 2

sources:
  - name: salesforce
    description: '{{ doc("salesforce_source") }}'
    # Spark has no databases above schemas: its relations refuse a database that differs from the schema.
    database: "{{ var('raw_database', var('raw_schema', env_var('SALES_WH_RAW_SCHEMA', 'raw')) \
if target.type == 'spark' else target.database) }}"
    schema: "{{ var('raw_schema', env_var('SALES_WH_RAW_SCHEMA', 'raw')) }}"
    # No dbt source freshness: nothing runs `dbt source freshness`. Late or missing extracts are the
    # Dagster `freshness` check of each raw asset (orchestration/defs/freshness.py, docs/CHECKS.md).
    tables:
"""

# The loader's own bookkeeping tables (orchestration/ingestion/schema.py): not landing objects, so not
# in the contract's OBJECTS.
_LOADER_TABLES = f"""\
      - name: load_audit
        identifier: {LOAD_AUDIT_TABLE}
        description: >
          The loader's audit: one row per object and extract date loaded (source, loaded and rejected row
          counts, `loaded_at`). Incremental `base_` models read it to find extract dates reloaded since
          their last build; stg_salesforce__load_audits publishes it (core.dq_load_batches). Written by
          orchestration/ingestion/, not a landing object.
        meta:
          dagster:
            asset_key: ["{RAW_SCHEMA}", "{LOAD_AUDIT_TABLE}"]
        columns:
          - name: object
            description: "Landing object name (e.g. `Lead`)."
          - name: extract_date
            description: "Extract date of the batch."
          - name: source_files
            description: "Files the batch read."
          - name: source_rows
            description: "Data rows in the batch's files (source rows = loaded rows + rejected rows)."
          - name: loaded_rows
            description: "Rows loaded into the object's raw table."
          - name: rejected_rows
            description: "Rows rejected: distinct file and line among the committed rejects."
          - name: loaded_at
            description: "When the batch was loaded (UTC)."
          - name: landing_signature
            description: >
              What the batch was loaded from: a hash of its folder's entries (name, size, modification
              time), its load settings and the loader's version. A run skips a batch whose signature
              equals its latest load's (orchestration/ingestion/signature.py).
      - name: rejects
        identifier: {REJECTS_TABLE}
        description: >
          The loader's rejects: one row per rejected cell (or per whole row: a ragged CSV row, a broken
          JSON line, a conflicting duplicate) with its file, line, column, value and reason. A row with
          two bad cells has two rejects. `committed` is false for the rejects of a refused load (the
          batch was not loaded). Written by orchestration/ingestion/, not a landing object;
          summarised for BI by core.dq_load_rejects.
        meta:
          dagster:
            asset_key: ["{RAW_SCHEMA}", "{REJECTS_TABLE}"]
        columns:
          - name: object
            description: "Landing object name (e.g. `Lead`)."
          - name: extract_date
            description: "Extract date of the batch."
          - name: source_file
            description: "File of the rejected row, relative to the landing folder."
          - name: source_line
            description: "Line (CSV/JSONL) or row number (Parquet) of the row in its file."
          - name: column_name
            description: "Raw column of the rejected cell; null when the whole row is rejected."
          - name: value
            description: "The rejected value as written in the file (a whole-row reject: its first line)."
          - name: reason
            description: "Why it was rejected."
          - name: loaded_at
            description: "When the load that rejected it ran (UTC)."
          - name: committed
            description: "False for the rejects of a refused load (kept after its rollback), else true."
"""


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def _table_description(obj: LandingObject) -> str:
    # Objects keyed by ApiName are Salesforce metadata (the org's picklists), not records.
    kind = " (metadata)" if obj.key == ("ApiName",) else ""
    fallbacks = dict(obj.key_fallbacks)
    key = ", ".join(f"{k} ({fallbacks[k]} when a file has no {k})" if k in fallbacks else k for k in obj.key)
    version = obj.version_field or "none (the latest extract wins)"
    optional = "" if obj.core else " Optional object."
    return f"Salesforce {obj.name}{kind}. {obj.description}{optional} Key: {key}; version field: {version}."


def _table_block(obj: LandingObject) -> str:
    lines = [
        f"      - name: {obj.table}",
        f"        description: {_quoted(_table_description(obj))}",
    ]
    lines += [
        "        meta:",
        "          dagster:",
        f'            asset_key: ["{RAW_SCHEMA}", "{obj.table}"]',
        "        columns:",
    ]
    for f in obj.fields:
        text = f"`{obj.name}.{f.name}` ({f.type})"
        if f.description:
            text += f": {f.description}"
        text += "."
        if f.required:
            text += " Required (the key)." if f.name in obj.key else " Required."
        lines += [f"          - name: {f.column}", f"            description: {_quoted(text)}"]
    for column in LINEAGE_COLUMNS:
        lines += [
            f"          - name: {column}",
            f"            description: '{{{{ doc(\"{column.lstrip('_')}\") }}}}'",
        ]
    return "\n".join(lines) + "\n"


def render_sources_yaml(objects: Sequence[LandingObject] = OBJECTS) -> str:
    """The dbt sources YAML of the raw schema, one table per landing object plus the loader's audit and
    rejects."""
    return _SOURCES_HEAD + "".join(_table_block(o) for o in objects) + _LOADER_TABLES


# --- KPI definitions document from the dbt doc blocks ------------------------------------------------

_DOC_BLOCK = re.compile(r"{%-?\s*docs\s+(\w+)\s*-?%}(.*?){%-?\s*enddocs\s*-?%}", re.DOTALL)
_DOC_CALL = re.compile(r"""^{{\s*doc\(\s*["'](\w+)["']\s*\)\s*}}$""", re.MULTILINE)


def doc_blocks(text: str) -> dict[str, str]:
    """Doc blocks of a dbt docs file, name -> content without the surrounding blank lines."""
    blocks: dict[str, str] = {}
    for name, body in _DOC_BLOCK.findall(text):
        if name in blocks:
            raise ValueError(f"doc block {name!r} is defined twice")
        blocks[name] = body.strip("\n")
    return blocks


def render_kpi_definitions(template: str, blocks: dict[str, str]) -> str:
    """The template with every line ``{{ doc("name") }}`` replaced by that doc block."""

    def block(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in blocks:
            raise KeyError(
                f"{KPI_DEFINITIONS_TEMPLATE.name} renders doc block {name!r}, not in {KPI_DOCS.name}"
            )
        return blocks[name]

    return _DOC_CALL.sub(block, template)


def rendered_doc_names(template: str) -> list[str]:
    """Names of the doc blocks the template renders, in order."""
    return _DOC_CALL.findall(template)


_KPI_DEFINITIONS_NOTICE = """\
<!-- GENERATED by orchestration/tooling/twins.py: do not edit. Each KPI section is the dbt doc block of
its model in models/marts/kpi/_kpi__docs.md, the rest is orchestration/tooling/kpi_definitions.template.md;
edit those, then run `python -m orchestration.tooling.twins kpi-docs --write`. -->
"""


def render_kpi_definitions_file() -> str:
    """docs/KPI_DEFINITIONS.md as the template and the KPI doc blocks render it."""
    body = render_kpi_definitions(KPI_DEFINITIONS_TEMPLATE.read_text(), doc_blocks(KPI_DOCS.read_text()))
    return _KPI_DEFINITIONS_NOTICE + body


# --- command line -------------------------------------------------------------------------------------

TWINS: dict[str, tuple[Path, Callable[[], str]]] = {
    "sources": (SOURCES_YAML, render_sources_yaml),
    "kpi-docs": (KPI_DEFINITIONS, render_kpi_definitions_file),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.tooling.twins", description=__doc__)
    parser.add_argument("twin", choices=[*TWINS, "all"], help="which generated file")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the file(s)")
    mode.add_argument("--check", action="store_true", help="exit 1 when a file differs from its source")
    args = parser.parse_args(argv)

    drifted = []
    for name in TWINS if args.twin == "all" else [args.twin]:
        path, render = TWINS[name]
        text = render()
        if args.write:
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                print(f"wrote {path.relative_to(PROJECT_ROOT)}")
        elif args.check:
            if not path.exists() or path.read_text() != text:
                drifted.append(path.relative_to(PROJECT_ROOT))
        else:
            sys.stdout.write(text)
    for path in drifted:
        print(f"{path} differs from its source; run `{REGENERATE}`", file=sys.stderr)
    return 1 if drifted else 0


if __name__ == "__main__":
    raise SystemExit(main())
