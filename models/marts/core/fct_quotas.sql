{#-
    Quota periods are var('quota_period') long (quarter or month); period_end is exclusive.

    One forecasting type per owner and period: orgs with several forecast types (e.g. revenue and
    quantity, or by product family) hold one ForecastingQuota per type, and adding them up would halve
    attainment. var('quota_forecasting_type_id') set: only quotas of that type (and quotas without a
    type) are used. Null (default): when an owner has quotas of several types in one period, the type
    with the most quota rows overall is used (ties: the smallest id), deterministically; the other
    types' rows are left out and the case is counted in dq_findings (check
    quota_several_forecasting_types, warn). Quotas without a type always count.
-#}
{%- set forecasting_type = var('quota_forecasting_type_id', none) %}
with staged_quotas as (

    select * from {{ ref('stg_salesforce__forecasting_quotas') }}

),

type_rows as (

    select
        forecasting_type_id,
        count(*) as type_row_count
    from staged_quotas
    where forecasting_type_id is not null
    group by forecasting_type_id

),

ranked_types as (

    -- per owner and period, its types ranked by rows overall (desc), then id
    select
        period_types.rep_id,
        period_types.period_start,
        period_types.forecasting_type_id,
        row_number() over (
            partition by period_types.rep_id, period_types.period_start
            order by type_rows.type_row_count desc, period_types.forecasting_type_id asc
        ) as type_rank
    from (
        select distinct
            rep_id,
            period_start,
            forecasting_type_id
        from staged_quotas
        where forecasting_type_id is not null
    ) as period_types
    inner join type_rows
        on period_types.forecasting_type_id = type_rows.forecasting_type_id

),

quotas as (

    -- a quota without owner or start date belongs to no one and no period (dq_findings: quota_unusable)
    select staged_quotas.*
    from staged_quotas
    {%- if forecasting_type is not none %}
    where staged_quotas.rep_id is not null and staged_quotas.period_start is not null
        and (staged_quotas.forecasting_type_id is null
            or staged_quotas.forecasting_type_id = '{{ forecasting_type }}')
    {%- else %}
left join ranked_types
    on {{ kpi_null_safe_equal('staged_quotas.rep_id', 'ranked_types.rep_id') }}
    and {{ kpi_null_safe_equal('staged_quotas.period_start', 'ranked_types.period_start') }}
    and staged_quotas.forecasting_type_id = ranked_types.forecasting_type_id
where staged_quotas.rep_id is not null and staged_quotas.period_start is not null
    and (staged_quotas.forecasting_type_id is null or ranked_types.type_rank = 1)
    {%- endif %}

),

dated_rates as (

    select * from {{ ref('int_conversion_rates_ranged') }}

),

currency_types as (

    select * from {{ ref('stg_salesforce__currency_types') }}

),

converted as (

    -- the shared lookup (macros/select_with_corporate_rate.sql), at the period start
    {{ select_with_corporate_rate('quotas', 'currency_code', 'period_start') }}

),

final as (

    select
        quota_id,
        rep_id,
        period_start,
        {{ add_to_date(var('quota_period'), 1, 'period_start') }} as period_end,
        '{{ var("quota_period") }}' as period_type,
        forecasting_type_id,
        currency_code,
        {{ money('quota_amount') }} as quota_amount,
        conversion_rate,
        conversion_rate_source,
        {{ corporate_amount('quota_amount') }} as quota_amount_corporate
    from converted

)

select * from final
