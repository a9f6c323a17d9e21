{#- Ratios in the KPI marts: double precision (type_double in macros/date_helpers.sql), NULL when the
    denominator is NULL or zero (never 0, never an error), so "no data" stays distinguishable from 0. -#}
{% macro kpi_safe_divide(numerator, denominator) -%}
    case
        when ({{ denominator }}) is null or ({{ denominator }}) = 0 then null
        else cast({{ numerator }} as {{ type_double() }}) / cast({{ denominator }} as {{ type_double() }})
    end
{%- endmacro %}

{#- 1/0 flag from a boolean expression, so that counts of flagged rows re-aggregate with sum(). -#}
{% macro kpi_flag(condition) -%}
    case when {{ condition }} then 1 else 0 end
{%- endmacro %}

{#- Join condition that matches NULL to NULL (a NULL lead source is a group of its own, not a lost row).
    "is not distinct from" is not portable to Spark (<=>), so it is spelled out. -#}
{% macro kpi_null_safe_equal(left, right) -%}
    ({{ left }} = {{ right }} or ({{ left }} is null and {{ right }} is null))
{%- endmacro %}

{#- Territory balance: an index outside 1 +/- var('territory_balance_band'); an undefined index is not
    flagged (false, not NULL, so BI filters on the flag behave). -#}
{% macro kpi_band_flag(index_column) -%}
    coalesce(abs({{ index_column }} - 1) > {{ var('territory_balance_band') }}, false)
{%- endmacro %}

{#- Amount columns of the marts have one explicit type on every engine (numeric(28, 6)), instead of
    whatever sum() of the fact's type yields there (unconstrained numeric on PostgreSQL, decimal(38, x)
    on DuckDB), so BI tools and unit tests see the same column everywhere. -#}
{% macro kpi_amount(expression) -%}
    cast({{ expression }} as {{ dbt.type_numeric() }})
{%- endmacro %}

{#- Sum / average of a double-precision measure (minutes, days, per-rep values) computed in exact
    numeric(28, 6): a floating-point sum depends on the order rows arrive in, which changes between runs
    on a parallel engine, and a re-run of the same day must give identical marts. The result is double
    precision again, so the column type does not change. -#}
{% macro kpi_exact_sum(expression) -%}
    cast(sum(cast({{ expression }} as {{ dbt.type_numeric() }})) as {{ type_double() }})
{%- endmacro %}

{#- `over` is an optional window clause, e.g. "over (partition by quarter_start)". -#}
{% macro kpi_exact_avg(expression, over='') -%}
    cast(avg(cast({{ expression }} as {{ dbt.type_numeric() }})) {{ over }} as {{ type_double() }})
{%- endmacro %}
