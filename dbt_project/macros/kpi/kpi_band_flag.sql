{#- Territory balance: an index outside 1 +/- var('territory_balance_band'); an undefined index is not
    flagged (false, not NULL, so BI filters on the flag behave). The band is inclusive: an index exactly
    on its edge is in band. The index is a double, so 11 / 10 is 1.1000000000000000888 and 1.1 - 1 > 0.1
    would be true: the comparison allows 1e-9 for that rounding (far below any difference a balance
    review looks at), so both edges behave alike for any band (unit tests in _kpi_territory_balance.yml). -#}
{% macro kpi_band_flag(index_column) -%}
    coalesce(abs({{ index_column }} - 1) > {{ var('territory_balance_band') }} + 1e-9, false)
{%- endmacro %}
