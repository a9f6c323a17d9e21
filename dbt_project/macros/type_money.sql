{#- The money type of every published amount: decimal(18, 2), spelled alike on DuckDB, PostgreSQL and
    Spark (16 digits of currency units, then cents). `money(expression)` rounds to the cent, half away
    from zero (HALF_UP on Spark), never truncates: the rounding rule of docs/KPI_DEFINITIONS.md
    "Types and money rounding". It goes through numeric(28, 6) first: a double such as the median
    7860.595 is 7860.59499999... on one engine and 7860.5950...01 on another, and each engine converts a
    double to a decimal its own way; at 6 decimals both are 7860.595000, which rounds the same everywhere. -#}
{% macro type_money() -%}decimal(18, 2){%- endmacro %}

{% macro money(expression) -%}
    cast(cast({{ expression }} as {{ dbt.type_numeric() }}) as {{ type_money() }})
{%- endmacro %}
