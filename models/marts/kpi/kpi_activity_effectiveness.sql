-- Activity effectiveness: activities logged on a deal in the touch_window_days (var, default 90) days
-- before its close date (inclusive of both ends), for won vs lost deals, and the win rate by how many such
-- touches a deal had.
-- Grain: category x touch_bucket. Every closed opportunity appears once per category (in the bucket of its
-- touch count in that category, '0' when none), with its outcome in the won_/lost_ columns. So:
--   win rate by touch bucket    = sum(won_opportunity_count) / sum(closed_opportunity_count) per bucket;
--   touches per won deal        = sum(won_touch_count) / sum(won_opportunity_count) per category.
-- Do not sum opportunity counts across categories (each deal appears in every category).
-- A touch is an activity linked to the opportunity (fct_activities.opportunity_id).

with

opportunities as (
    select * from {{ ref('fct_opportunities') }}
),

activities as (
    select * from {{ ref('fct_activities') }}
),

activity_types as (
    select * from {{ ref('activity_types') }}
),

categories as (
    select distinct category
    from activity_types
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
        closed_opportunities.opportunity_id,
        activities.category,
        count(*) as touch_count
    from closed_opportunities
    inner join activities
        on closed_opportunities.opportunity_id = activities.opportunity_id
        and activities.activity_date <= closed_opportunities.close_date
        and activities.activity_date
            >= {{ dbt.dateadd('day', -1 * var('touch_window_days'), 'closed_opportunities.close_date') }}
    group by closed_opportunities.opportunity_id, activities.category
),

opportunity_categories as (
    select
        closed_opportunities.opportunity_id,
        closed_opportunities.is_won,
        categories.category,
        coalesce(touches.touch_count, 0) as touch_count
    from closed_opportunities
    cross join categories
    left join touches
        on closed_opportunities.opportunity_id = touches.opportunity_id
        and categories.category = touches.category
),

bucketed as (
    select
        *,
        case
            when touch_count = 0 then '0'
            when touch_count <= 2 then '1-2'
            when touch_count <= 5 then '3-5'
            when touch_count <= 10 then '6-10'
            else '11+'
        end as touch_bucket,
        case
            when touch_count = 0 then 0
            when touch_count <= 2 then 1
            when touch_count <= 5 then 2
            when touch_count <= 10 then 3
            else 4
        end as touch_bucket_order
    from opportunity_categories
),

final as (
    select
        category,
        touch_bucket,
        touch_bucket_order,
        count(*) as closed_opportunity_count,
        sum({{ kpi_flag('is_won') }}) as won_opportunity_count,
        sum({{ kpi_flag('not is_won') }}) as lost_opportunity_count,
        sum(touch_count) as touch_count,
        sum(case when is_won then touch_count else 0 end) as won_touch_count,
        sum(case when not is_won then touch_count else 0 end) as lost_touch_count,
        {{ kpi_safe_divide('sum(' ~ kpi_flag('is_won') ~ ')', 'count(*)') }} as win_rate
    from bucketed
    group by category, touch_bucket, touch_bucket_order
)

select * from final
