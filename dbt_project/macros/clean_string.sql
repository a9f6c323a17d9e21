{#- Trimmed string with empty strings turned into null. -#}
{% macro clean_string(expr) -%}
    nullif(trim(cast({{ expr }} as {{ dbt.type_string() }})), '')
{%- endmacro %}
