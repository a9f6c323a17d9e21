{#- Continuous percentile (linear interpolation) as an aggregate: medians and p90s are not portable SQL.
    p is a literal fraction (0.5 = median). Not re-aggregatable: a median of medians is not a median. -#}
{% macro kpi_percentile_cont(p, column) -%}
    {{ return(adapter.dispatch('kpi_percentile_cont')(p, column)) }}
{%- endmacro %}

{% macro default__kpi_percentile_cont(p, column) -%}
    percentile_cont({{ p }}) within group (order by {{ column }})
{%- endmacro %}

{% macro duckdb__kpi_percentile_cont(p, column) -%}
    quantile_cont({{ column }}, {{ p }})
{%- endmacro %}

{% macro postgres__kpi_percentile_cont(p, column) -%}
    percentile_cont({{ p }}) within group (order by {{ column }})
{%- endmacro %}

{% macro spark__kpi_percentile_cont(p, column) -%}
    percentile({{ column }}, {{ p }})
{%- endmacro %}
