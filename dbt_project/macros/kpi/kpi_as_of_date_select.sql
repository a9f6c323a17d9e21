{#- The reporting date of "current" KPIs (pipeline coverage, sales velocity). var('as_of_date') when set
    (YYYY-MM-DD); otherwise the latest date the data itself carries: the max close date of closed
    opportunities and the max activity date. Never wall-clock now(), so a re-run on the same data gives
    the same numbers. Returns a one-row select with the column as_of_date. -#}
{% macro kpi_as_of_date_select(opportunities, activities) -%}
    {%- if var('as_of_date', none) -%}
    select cast('{{ var("as_of_date") }}' as date) as as_of_date
    {%- else -%}
    select max(data_date) as as_of_date
    from (
        select max(close_date) as data_date from {{ opportunities }} where is_closed
        union all
        select max(activity_date) as data_date from {{ activities }}
    ) as data_dates
    {%- endif -%}
{%- endmacro %}
