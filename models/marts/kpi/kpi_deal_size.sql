-- Average and median deal size of won opportunities (corporate currency), dated by close date.
-- Grain: period_grain ('month' | 'quarter') x period_start x segment. Medians cannot be re-aggregated
-- from months to quarters, so both grains are computed here and separated by period_grain: ALWAYS filter
-- on one period_grain before summing (the additive columns appear once per grain).
-- Deals without an amount are left out of both the count and the sum, so avg = sum / count exactly.

with

opportunities as (
    select * from {{ ref('fct_opportunities') }}
),

won_deals as (
    select
        close_month,
        close_quarter,
        segment,
        amount_corporate
    from opportunities
    where is_won
        and amount_corporate is not null
),

by_month as (
    select
        'month' as period_grain,
        close_month as period_start,
        segment,
        count(*) as won_deal_count,
        sum(amount_corporate) as won_amount_corporate,
        {{ kpi_percentile_cont(0.5, 'amount_corporate') }} as median_deal_size_corporate
    from won_deals
    group by close_month, segment
),

by_quarter as (
    select
        'quarter' as period_grain,
        close_quarter as period_start,
        segment,
        count(*) as won_deal_count,
        sum(amount_corporate) as won_amount_corporate,
        {{ kpi_percentile_cont(0.5, 'amount_corporate') }} as median_deal_size_corporate
    from won_deals
    group by close_quarter, segment
),

unioned as (
    select * from by_month
    union all
    select * from by_quarter
),

final as (
    select
        period_grain,
        period_start,
        segment,
        won_deal_count,
        {{ kpi_amount('won_amount_corporate') }} as won_amount_corporate,
        {{ kpi_safe_divide('won_amount_corporate', 'won_deal_count') }} as avg_deal_size_corporate,
        cast(median_deal_size_corporate as {{ type_double() }}) as median_deal_size_corporate
    from unioned
)

select * from final
