-- Activity effectiveness per activity category: touches (activities linked to a closed deal in the
-- touch_window_days days before its close date, both ends included) per category, won vs lost deals.
-- Grain: category x outcome ('won' | 'lost'). Each touch is counted once, in the row of its category and of
-- its deal's outcome, so touch_count sums over all rows to all touches (= sum of touch_count of
-- kpi_activity_effectiveness). Deal counts are NOT here: a deal is touched in several categories, so a
-- per-category deal count would double count across rows; the deal denominators (closed / won / lost deals,
-- category-independent) are in kpi_activity_effectiveness:
--   touches of a category per won deal = touch_count (category, 'won') / sum(won_opportunity_count) there.

with

opportunities as (
    select * from {{ ref('fct_opportunities') }}
),

activities as (
    select * from {{ ref('fct_activities') }}
),

closed_opportunities as (
    select
        opportunity_id,
        close_date,
        coalesce(is_won, false) as is_won
    from opportunities
    where is_closed
        and close_date is not null
),

touches as (
    select
        activities.category,
        case when closed_opportunities.is_won then 'won' else 'lost' end as outcome,
        activities.duration_minutes
    from closed_opportunities
    inner join activities
        on closed_opportunities.opportunity_id = activities.opportunity_id
        and activities.activity_date <= closed_opportunities.close_date
        and activities.activity_date
            >= {{ add_to_date('day', -1 * var('touch_window_days'), 'closed_opportunities.close_date') }}
),

final as (
    select
        category,
        outcome,
        count(*) as touch_count,
        {{ kpi_exact_sum('coalesce(duration_minutes, 0)') }} as touch_minutes
    from touches
    group by category, outcome
)

select * from final
