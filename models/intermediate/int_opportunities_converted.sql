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

    select
        opportunities.opportunity_id,
        opportunities.currency_code,
        opportunities.amount,
        dated_rates.conversion_rate as dated_conversion_rate,
        currency_types.conversion_rate as current_conversion_rate,
        case
            when dated_rates.conversion_rate is not null then 'dated'
            when currency_types.conversion_rate is not null then 'current'
            when opportunities.currency_code = '{{ var("corporate_currency") }}' then 'corporate'
        end as conversion_rate_source,
        coalesce(
            dated_rates.conversion_rate,
            currency_types.conversion_rate,
            case when opportunities.currency_code = '{{ var("corporate_currency") }}' then 1.0 end
        ) as conversion_rate
    from opportunities
    left join dated_rates
        on opportunities.currency_code = dated_rates.currency_code
        and opportunities.close_date >= dated_rates.valid_from
        and (dated_rates.valid_to is null or opportunities.close_date < dated_rates.valid_to)
    left join currency_types
        on opportunities.currency_code = currency_types.currency_code

),

final as (

    select
        opportunity_id,
        currency_code,
        amount,
        conversion_rate,
        conversion_rate_source,
        cast(amount / nullif(conversion_rate, 0) as {{ dbt.type_numeric() }}) as amount_corporate
    from rates_resolved

)

select * from final
