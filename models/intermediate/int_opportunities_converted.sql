{#-
    Opportunity amounts in the corporate currency at the rate in force on the close date:
    dated rate (valid_from <= close_date < valid_to) -> CurrencyType's current rate -> 1 for the
    corporate currency. Rates are currency units per 1 corporate unit, so corporate = amount / rate.
-#}
with opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

dated_rates as (

    select * from {{ ref('int_conversion_rates_ranged') }}

),

currency_types as (

    select * from {{ ref('stg_salesforce__currency_types') }}

),

rates_resolved as (

    -- the shared lookup (macros/select_with_corporate_rate.sql), at the close date
    {{ select_with_corporate_rate('opportunities', 'currency_code', 'close_date') }}

),

final as (

    select
        opportunity_id,
        currency_code,
        amount,
        conversion_rate,
        conversion_rate_source,
        {{ corporate_amount('amount') }} as amount_corporate
    from rates_resolved

)

select * from final
