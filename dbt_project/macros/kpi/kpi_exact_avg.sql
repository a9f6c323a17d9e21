{#- Average of a double-precision measure computed in exact numeric(28, 6), for the reason given in
    kpi_exact_sum.sql. `over` is an optional window clause, e.g. "over (partition by quarter_start)". -#}
{% macro kpi_exact_avg(expression, over='') -%}
    cast(avg(cast({{ expression }} as {{ dbt.type_numeric() }})) {{ over }} as {{ type_double() }})
{%- endmacro %}
