{#- An amount in the corporate currency: `amount_column` divided by the rate `select_with_corporate_rate`
    found (currency units per 1 corporate unit); null when there is no rate or it is 0 (never a guess). -#}
{% macro corporate_amount(amount_column, rate_column='conversion_rate') -%}
    cast({{ amount_column }} / nullif({{ rate_column }}, 0) as {{ dbt.type_numeric() }})
{%- endmacro %}
