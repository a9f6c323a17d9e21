{#- Custom schemas are used as they are (staging, core, marts...), not prefixed with the target schema,
    so analysts and BI find the KPI tables in `marts` on every engine. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
