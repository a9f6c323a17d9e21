{#- Amount columns of the marts have one explicit type on every engine (numeric(28, 6)), instead of
    whatever sum() of the fact's type yields there (unconstrained numeric on PostgreSQL, decimal(38, x)
    on DuckDB), so BI tools and unit tests see the same column everywhere. -#}
{% macro kpi_amount(expression) -%}
    cast({{ expression }} as {{ dbt.type_numeric() }})
{%- endmacro %}
