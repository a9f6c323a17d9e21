-- Touches of closed deals: activities linked to a closed opportunity (fct_activities) in the
-- touch_window_days (var, default 90) days before its close date, both ends included.
-- Grain: one row per closed opportunity and touch; a closed opportunity without touches keeps one row
-- with null activity columns, so every closed deal is here (count(activity_id) is its touch count).
-- Shared by kpi_activity_effectiveness (touches per deal) and kpi_activity_effectiveness_by_category.

with opportunities as (

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

final as (

    select
        closed_opportunities.opportunity_id
        || '|' || coalesce(activities.activity_id, '') as opportunity_touch_id,
        closed_opportunities.opportunity_id,
        closed_opportunities.close_date,
        closed_opportunities.is_won,
        activities.activity_id,
        activities.activity_date,
        activities.category,
        activities.duration_minutes
    from closed_opportunities
    left join activities
        on closed_opportunities.opportunity_id = activities.opportunity_id
        and closed_opportunities.close_date >= activities.activity_date
        and activities.activity_date >= {{ add_to_date(
            'day', -1 * var('touch_window_days'), 'closed_opportunities.close_date'
        ) }}

)

select * from final
