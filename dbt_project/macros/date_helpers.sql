{#- date_trunc returning a DATE on every engine (some return a timestamp). -#}
{% macro trunc_to_date(datepart, expr) -%}
    cast({{ dbt.date_trunc(datepart, expr) }} as date)
{%- endmacro %}

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

{#-
    Integers 0 .. 10^digits - 1 as a column `n`, from cross-joined digits: a portable number
    generator (no generate_series / range / sequence, which differ per engine).
-#}
{% macro integers(digits=5) -%}
    {%- for i in range(digits) %}
    {%- if loop.first %}
    select
        {% for j in range(digits) -%}
        d{{ j }}.digit * {{ 10 ** j }}{{ ' + ' if not loop.last }}
        {%- endfor %} as n
    from {% endif -%}
    (
        select 0 as digit union all select 1 union all select 2 union all select 3 union all select 4
        union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
    ) as d{{ i }}{{ ' cross join' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- Lower-cased, trimmed string with empty strings turned into null. -#}
{% macro clean_string(expr) -%}
    nullif(trim(cast({{ expr }} as {{ dbt.type_string() }})), '')
{%- endmacro %}

{#- A 64-bit floating point type (dbt.type_float() is a 32-bit FLOAT on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'sales_wh')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro duckdb__type_double() -%}double{%- endmacro %}

{% macro spark__type_double() -%}double{%- endmacro %}
