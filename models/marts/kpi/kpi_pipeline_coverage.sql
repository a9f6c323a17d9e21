-- Pipeline coverage for the current and the next quota period relative to the reporting date
-- (var as_of_date, default: the latest close/activity date in the data; see kpi_as_of_date_select).
-- Grain: rep x period_offset (0 = current period, 1 = next). Periods follow var quota_period.
-- coverage = open pipeline with close date in the period / remaining quota, where
-- remaining quota = max(quota - bookings to date, 0) and bookings to date = won deals closed in the
-- period up to as_of_date. No quota, or quota already met -> remaining 0 or NULL -> coverage NULL.
-- For a team, sum the numerator and denominator columns: a rep's over-achievement does not fill a
-- teammate's gap (remaining quota is clipped at 0 per rep).

{%- set remaining_quota -%}
    case
        when combined.quota_amount_corporate is null then null
        when combined.quota_amount_corporate < combined.bookings_to_date_amount_corporate then 0
        else combined.quota_amount_corporate - combined.bookings_to_date_amount_corporate
    end
{%- endset %}

with

opportunities as (
    select * from {{ ref('fct_opportunities') }}
),

activities as (
    select * from {{ ref('fct_activities') }}
),

quotas as (
    select * from {{ ref('fct_quotas') }}
),

reps as (
    select * from {{ ref('dim_reps') }}
),

as_of as (
    {{ kpi_as_of_date_select('opportunities', 'activities') }}
),

current_period as (
    select
        as_of_date,
        cast({{ dbt.date_trunc(var('quota_period'), 'as_of_date') }} as date) as period_start
    from as_of
),

periods as (
    select
        as_of_date,
        0 as period_offset,
        period_start,
        {{ kpi_period_add(var('quota_period'), 1, 'period_start') }} as period_end
    from current_period

    union all

    select
        as_of_date,
        1 as period_offset,
        {{ kpi_period_add(var('quota_period'), 1, 'period_start') }} as period_start,
        {{ kpi_period_add(var('quota_period'), 2, 'period_start') }} as period_end
    from current_period
),

open_pipeline as (
    select
        opportunities.rep_id,
        periods.period_offset,
        count(*) as open_opportunity_count,
        coalesce(sum(opportunities.amount_corporate), 0) as open_pipeline_amount_corporate
    from opportunities
    inner join periods
        on opportunities.close_date >= periods.period_start
        and opportunities.close_date < periods.period_end
    where not opportunities.is_closed
    group by opportunities.rep_id, periods.period_offset
),

bookings_to_date as (
    select
        opportunities.rep_id,
        periods.period_offset,
        sum(opportunities.amount_corporate) as bookings_to_date_amount_corporate
    from opportunities
    inner join periods
        on opportunities.close_date >= periods.period_start
        and opportunities.close_date < periods.period_end
        and opportunities.close_date <= periods.as_of_date
    where opportunities.is_won
    group by opportunities.rep_id, periods.period_offset
),

period_quotas as (
    select
        quotas.rep_id,
        periods.period_offset,
        sum(quotas.quota_amount_corporate) as quota_amount_corporate
    from quotas
    inner join periods
        on quotas.period_start = periods.period_start
    group by quotas.rep_id, periods.period_offset
),

rep_periods as (
    select rep_id, period_offset from open_pipeline
    union
    select rep_id, period_offset from bookings_to_date
    union
    select rep_id, period_offset from period_quotas
),

combined as (
    select
        rep_periods.rep_id,
        rep_periods.period_offset,
        periods.period_start,
        periods.period_end,
        periods.as_of_date,
        coalesce(open_pipeline.open_opportunity_count, 0) as open_opportunity_count,
        {{ kpi_amount('coalesce(open_pipeline.open_pipeline_amount_corporate, 0)') }} as open_pipeline_amount_corporate,
        {{ kpi_amount('period_quotas.quota_amount_corporate') }} as quota_amount_corporate,
        {{ kpi_amount('coalesce(bookings_to_date.bookings_to_date_amount_corporate, 0)') }}
            as bookings_to_date_amount_corporate
    from rep_periods
    inner join periods
        on rep_periods.period_offset = periods.period_offset
    left join open_pipeline
        on rep_periods.rep_id = open_pipeline.rep_id
        and rep_periods.period_offset = open_pipeline.period_offset
    left join bookings_to_date
        on rep_periods.rep_id = bookings_to_date.rep_id
        and rep_periods.period_offset = bookings_to_date.period_offset
    left join period_quotas
        on rep_periods.rep_id = period_quotas.rep_id
        and rep_periods.period_offset = period_quotas.period_offset
),

described as (
    select
        combined.rep_id,
        combined.period_offset,
        case when combined.period_offset = 0 then 'current' else 'next' end as period_label,
        combined.period_start,
        combined.period_end,
        combined.as_of_date,
        reps.rep_name,
        reps.manager_id,
        reps.manager_name,
        reps.territory_id,
        reps.territory_name,
        combined.open_opportunity_count,
        combined.open_pipeline_amount_corporate,
        combined.quota_amount_corporate,
        combined.bookings_to_date_amount_corporate,
        -- clipped at 0: a quota already met leaves nothing to cover
        {{ kpi_amount(remaining_quota) }} as remaining_quota_amount_corporate
    from combined
    left join reps
        on combined.rep_id = reps.rep_id
),

final as (
    select
        *,
        {{ kpi_safe_divide('open_pipeline_amount_corporate', 'remaining_quota_amount_corporate') }}
            as pipeline_coverage_ratio
    from described
)

select * from final
