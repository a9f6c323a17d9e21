{#- Sum / average of a double-precision measure (minutes, days, per-rep values) computed in exact
    numeric(28, 6): a floating-point sum depends on the order rows arrive in, which changes between runs
    on a parallel engine, and a re-run of the same day must give identical marts. The result is double
    precision again, so the column type does not change. -#}
{% macro kpi_exact_sum(expression) -%}
    cast(sum(cast({{ expression }} as {{ dbt.type_numeric() }})) as {{ type_double() }})
{%- endmacro %}
