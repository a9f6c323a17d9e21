{#- date_trunc returning a DATE on every engine (some return a timestamp). -#}
{% macro trunc_to_date(datepart, expr) -%}
    cast({{ dbt.date_trunc(datepart, expr) }} as date)
{%- endmacro %}
