{#- Territory balance: an index outside 1 +/- var('territory_balance_band'); an undefined index is not
    flagged (false, not NULL, so BI filters on the flag behave). -#}
{% macro kpi_band_flag(index_column) -%}
    coalesce(abs({{ index_column }} - 1) > {{ var('territory_balance_band') }}, false)
{%- endmacro %}
