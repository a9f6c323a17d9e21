{#-
    The config of an incremental model keyed by an entity (a lead, an opportunity, an activity): a build
    rebuilds only the entities whose rows changed (the model selects them with `changed_keys`), with
    delete+insert on `unique_key`, and a post-hook deletes the entities removed from the source
    (`delete_removed_entities`). Spark rebuilds the model as a table: delete+insert needs a table
    format with DELETE (Delta, Iceberg).

        {{ config(**incremental_by_entity('lead_id', removed_in=[
            {'model': 'base_salesforce__leads', 'key': '_key'},
        ])) }}

    `removed_in`: where a removal shows, each a dict of
      * `model`: a model name (an incremental `base_` model, or one built from it) with `_is_deleted`;
      * `key`: its column holding this model's entity key (`_key` in a `base_` model of the entity);
      * `unless_in` (optional): a model name; an entity still present there (in its `unique_key`
        column) is kept, e.g. an opportunity whose deleted history row was one of several.
    Every model named here must be a dependency of the calling model (`ref` in its SQL, or a
    `-- depends_on: {{ ref(...) }}` comment), since the post-hook runs after parsing.
-#}
{% macro incremental_by_entity(unique_key, removed_in) -%}
    {%- set hook -%}
        {{ '{{' }} delete_removed_entities({{ unique_key | tojson }}, {{ removed_in | tojson }}) {{ '}}' }}
    {%- endset -%}
    {{ return({
        'materialized': 'table' if target.type == 'spark' else 'incremental',
        'incremental_strategy': 'delete+insert',
        'on_schema_change': 'append_new_columns',
        'unique_key': unique_key,
        'post_hook': [hook | trim],
    }) }}
{%- endmacro %}
