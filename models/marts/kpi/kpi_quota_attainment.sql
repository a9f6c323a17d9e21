-- Definition, grain and choices: doc("kpi_quota_attainment") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

quotas as (

    select * from {{ ref('fct_quotas') }}

),

reps as (

    select * from {{ ref('dim_reps') }}

),

quota_periods as (

    select
        rep_id,
        period_start,
        max(period_end) as period_end,
        -- two quota rows for one rep and period add up (e.g. a split quota)
        sum(quota_amount_corporate) as quota_amount_corporate
    from quotas
    group by rep_id, period_start

),

won_opportunities as (

    select
        rep_id,
        close_date,
        amount_corporate,
        {{ trunc_to_date(var('quota_period'), 'close_date') }} as default_period_start
    from opportunities
    where is_won

),

bookings_in_quota_periods as (

    select
        quota_periods.rep_id,
        quota_periods.period_start,
        sum(won_opportunities.amount_corporate) as bookings_amount_corporate,
        count(won_opportunities.rep_id) as won_deal_count
    from quota_periods
    inner join won_opportunities
        on quota_periods.rep_id = won_opportunities.rep_id
        and quota_periods.period_start <= won_opportunities.close_date
        and quota_periods.period_end > won_opportunities.close_date
    group by quota_periods.rep_id, quota_periods.period_start

),

bookings_without_quota as (

    select
        won_opportunities.rep_id,
        won_opportunities.default_period_start as period_start,
        sum(won_opportunities.amount_corporate) as bookings_amount_corporate,
        count(*) as won_deal_count
    from won_opportunities
    left join quota_periods
        on won_opportunities.rep_id = quota_periods.rep_id
        and won_opportunities.close_date >= quota_periods.period_start
        and won_opportunities.close_date < quota_periods.period_end
    where quota_periods.rep_id is null
    group by won_opportunities.rep_id, won_opportunities.default_period_start

),

rep_periods as (

    select
        quota_periods.rep_id,
        quota_periods.period_start,
        quota_periods.period_end,
        quota_periods.quota_amount_corporate,
        coalesce(bookings_in_quota_periods.bookings_amount_corporate, 0) as bookings_amount_corporate,
        coalesce(bookings_in_quota_periods.won_deal_count, 0) as won_deal_count
    from quota_periods
    left join bookings_in_quota_periods
        on quota_periods.rep_id = bookings_in_quota_periods.rep_id
        and quota_periods.period_start = bookings_in_quota_periods.period_start

    union all

    select
        rep_id,
        period_start,
        {{ add_to_date(var('quota_period'), 1, 'period_start') }} as period_end,
        cast(null as {{ dbt.type_numeric() }}) as quota_amount_corporate,
        coalesce(bookings_amount_corporate, 0) as bookings_amount_corporate,
        won_deal_count
    from bookings_without_quota

),

final as (

    select
        rep_periods.rep_id,
        cast(rep_periods.period_start as date) as period_start,
        cast(rep_periods.period_end as date) as period_end,
        reps.rep_name,
        reps.manager_id,
        reps.manager_name,
        reps.territory_id,
        reps.territory_name,
        {{ kpi_amount('rep_periods.quota_amount_corporate') }} as quota_amount_corporate,
        {{ kpi_amount('rep_periods.bookings_amount_corporate') }} as bookings_amount_corporate,
        rep_periods.won_deal_count,
        {{ kpi_safe_divide('rep_periods.bookings_amount_corporate', 'rep_periods.quota_amount_corporate') }}
            as quota_attainment,
        cast({{ kpi_flag('rep_periods.quota_amount_corporate > 0') }} as bigint) as has_quota_count,
        -- attainment >= 1, written without the division
        cast(case
            when rep_periods.quota_amount_corporate > 0
                and rep_periods.bookings_amount_corporate >= rep_periods.quota_amount_corporate then 1
            else 0
        end as bigint) as is_at_quota_count
    from rep_periods
    left join reps
        on rep_periods.rep_id = reps.rep_id

)

select * from final
