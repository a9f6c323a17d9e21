{#- An amount in the corporate currency: `amount_column` divided by the rate `select_with_corporate_rate`
    found (currency units per 1 corporate unit), rounded to the cent per record (`money`), so that sums in
    the marts are exact sums of cents; null when there is no rate or it is 0 (never a guess). -#}
{% macro corporate_amount(amount_column, rate_column='conversion_rate') -%}
    {{ money(amount_column ~ ' / nullif(' ~ rate_column ~ ', 0)') }}
{%- endmacro %}
