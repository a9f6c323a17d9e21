{#- dateadd returning a DATE on every engine (dbt.dateadd returns a timestamp on DuckDB and Postgres).
    The one period-add macro of the project: `datepart` is day, week, month, quarter or year (e.g.
    var('quota_period')); `interval` a number or a SQL expression. PostgreSQL has no 'quarter' interval,
    so quarters are added as 3 months on every engine. -#}
{% macro add_to_date(datepart, interval, expr) -%}
    {%- if datepart == 'quarter' -%}
    cast({{ dbt.dateadd('month', '3 * (' ~ interval ~ ')', expr) }} as date)
    {%- else -%}
    cast({{ dbt.dateadd(datepart, interval, expr) }} as date)
    {%- endif -%}
{%- endmacro %}
