{#- A boolean as the seeds write it ('true' / 'false'), for core.dq_unmapped_values. -#}
{% macro bool_text(expr) -%}
    case when {{ expr }} then 'true' else 'false' end
{%- endmacro %}
