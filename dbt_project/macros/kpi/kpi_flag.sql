{#- 1/0 flag from a boolean expression, so that counts of flagged rows re-aggregate with sum(). -#}
{% macro kpi_flag(condition) -%}
    case when {{ condition }} then 1 else 0 end
{%- endmacro %}
