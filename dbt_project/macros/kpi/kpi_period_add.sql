{#- Start of the period `n` periods after the period starting at `period_start`, as a DATE. `period`
    is day, week, month, quarter or year. PostgreSQL has no 'quarter' interval, so quarters are added as
    3 months on every engine. -#}
{% macro kpi_period_add(period, n, period_start) -%}
    {%- if period == 'quarter' -%}
    cast({{ dbt.dateadd('month', 3 * n, period_start) }} as date)
    {%- else -%}
    cast({{ dbt.dateadd(period, n, period_start) }} as date)
    {%- endif -%}
{%- endmacro %}
