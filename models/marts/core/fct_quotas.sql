{#- Quota periods are var('quota_period') long (quarter or month); period_end is exclusive. -#}
{%- set period_months = 1 if var('quota_period') == 'month' else 3 -%}
with quotas as (

    select * from {{ ref('stg_salesforce__forecasting_quotas') }}

),

dated_rates as (

    select * from {{ ref('int_conversion_rates_ranged') }}

),

currency_types as (

    select * from {{ ref('stg_salesforce__currency_types') }}

),

converted as (

    -- rate in force at the period start: dated rate, else CurrencyType, else 1 for the corporate currency
    select
        quotas.quota_id,
        quotas.rep_id,
        quotas.period_start,
        quotas.currency_code,
        quotas.quota_amount,
        coalesce(
            dated_rates.conversion_rate,
            currency_types.conversion_rate,
            case when quotas.currency_code = '{{ var("corporate_currency") }}' then 1.0 end
        ) as conversion_rate
    from quotas
    left join dated_rates
        on quotas.currency_code = dated_rates.currency_code
        and quotas.period_start >= dated_rates.valid_from
        and (dated_rates.valid_to is null or quotas.period_start < dated_rates.valid_to)
    left join currency_types
        on quotas.currency_code = currency_types.currency_code

),

final as (

    select
        quota_id,
        rep_id,
        period_start,
        {{ add_to_date('month', period_months, 'period_start') }} as period_end,
        '{{ var("quota_period") }}' as period_type,
        currency_code,
        quota_amount,
        conversion_rate,
        cast(quota_amount / nullif(conversion_rate, 0) as {{ dbt.type_numeric() }}) as quota_amount_corporate
    from converted

)

select * from final
