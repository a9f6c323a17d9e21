{#- Quota periods are var('quota_period') long (quarter or month); period_end is exclusive. -#}
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

    -- the shared lookup (macros/corporate_conversion_rate.sql), at the period start
    {{ select_with_corporate_rate('quotas', 'currency_code', 'period_start') }}

),

final as (

    select
        quota_id,
        rep_id,
        period_start,
        {{ add_to_date(var('quota_period'), 1, 'period_start') }} as period_end,
        '{{ var("quota_period") }}' as period_type,
        currency_code,
        quota_amount,
        conversion_rate,
        conversion_rate_source,
        cast(quota_amount / nullif(conversion_rate, 0) as {{ dbt.type_numeric() }}) as quota_amount_corporate
    from converted

)

select * from final
