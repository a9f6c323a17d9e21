-- Activity effectiveness per activity category: touches (activities linked to a closed deal in the
-- touch_window_days days before its close date, both ends included) per category, won vs lost deals.
-- Grain: category x outcome ('won' | 'lost'). Each touch is counted once, in the row of its category and of
-- its deal's outcome, so touch_count sums over all rows to all touches (= sum of touch_count of
-- kpi_activity_effectiveness). Deal counts are NOT here: a deal is touched in several categories, so a
-- per-category deal count would double count across rows; the deal denominators (closed / won / lost deals,
-- category-independent) are in kpi_activity_effectiveness:
--   touches of a category per won deal = touch_count (category, 'won') / sum(won_opportunity_count) there.

with

opportunity_touches as (
    select * from {{ ref('int_opportunity_touches_windowed') }}
),

touches as (
    select
        category,
        case when is_won then 'won' else 'lost' end as outcome,
        duration_minutes
    from opportunity_touches
    where activity_id is not null
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
