{#-
    The one currency-rate lookup of the project: each row of `rows` (a CTE or relation with a currency
    column and a date column) gets the rate in force on that date, in currency units per 1 corporate unit:
    the dated rate (int_conversion_rates_ranged: valid_from <= date < valid_to), else CurrencyType's
    current rate, else 1 for the corporate currency (var corporate_currency), else null (never a guessed 1:
    a missing number is better than a wrong one). corporate amount = amount / conversion_rate
    (`corporate_amount`).

    Returns a select (usable as a CTE body) of every column of `rows` plus `conversion_rate` and
    `conversion_rate_source` ('dated' | 'current' | 'corporate' | null). `dated_rates` / `currency_types`
    name the import CTEs of ref('int_conversion_rates_ranged') / ref('stg_salesforce__currency_types') in
    the calling model (import CTEs stay in the model, so its refs and unit-test inputs are visible there).
-#}
{% macro select_with_corporate_rate(
    rows, currency_column, date_column, dated_rates='dated_rates', currency_types='currency_types'
) -%}
    select
        {{ rows }}.*,
        coalesce(
            {{ dated_rates }}.conversion_rate,
            {{ currency_types }}.conversion_rate,
            case when {{ rows }}.{{ currency_column }} = '{{ var("corporate_currency") }}' then 1.0 end
        ) as conversion_rate,
        case
            when {{ dated_rates }}.conversion_rate is not null then 'dated'
            when {{ currency_types }}.conversion_rate is not null then 'current'
            when {{ rows }}.{{ currency_column }} = '{{ var("corporate_currency") }}' then 'corporate'
        end as conversion_rate_source
    from {{ rows }}
    left join {{ dated_rates }}
        on {{ rows }}.{{ currency_column }} = {{ dated_rates }}.currency_code
        and {{ rows }}.{{ date_column }} >= {{ dated_rates }}.valid_from
        and ({{ dated_rates }}.valid_to is null or {{ rows }}.{{ date_column }} < {{ dated_rates }}.valid_to)
    left join {{ currency_types }}
        on {{ rows }}.{{ currency_column }} = {{ currency_types }}.currency_code
{%- endmacro %}
