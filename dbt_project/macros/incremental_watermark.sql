{#- The watermark of an incremental model: the latest `column` value (`_built_at`, `_loaded_at`) it keeps,
    as a scalar subquery; rows upstream with a later value were written since its last build. While the
    model is empty it is 1900-01-01, so every row counts as new. Used by `changed_keys`,
    `latest_versions` and fct_activities. -#}
{% macro incremental_watermark(column) -%}
    (select coalesce(max({{ column }}), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }})
{%- endmacro %}
