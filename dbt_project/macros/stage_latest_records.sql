{#-
    The body of a staging model read straight from a raw table: the latest version of each record
    (`latest_records`: `key_columns`, `version_column`, `deleted_column` as there), renamed and cast by
    the model, plus the lineage columns `_extract_date` and `_loaded_at`. The model writes only its
    select list, as the body of a call block:

        {% call stage_latest_records(source('salesforce', 'territory2'), ['id']) %}
            cast(id as {{ dbt.type_string() }}) as territory_id,
            cast(name as {{ dbt.type_string() }}) as territory_name
        {% endcall %}

    `where`: an optional condition on the latest records (raw column names), e.g. to drop keyless rows.
    Layout of the compiled model: `staging_select`.
-#}
{% macro stage_latest_records(relation, key_columns, version_column=none, deleted_column=none, where=none) -%}
    {{ staging_select(
        latest_records(relation, key_columns, version_column, deleted_column),
        caller(),
        ['_extract_date', '_loaded_at'],
        where,
    ) }}
{%- endmacro %}
