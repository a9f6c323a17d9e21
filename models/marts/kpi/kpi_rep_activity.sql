-- Activity mix: how reps spend their logged time, per week and activity category.
-- Grain: rep x week_start (Monday) x category. selling share = selling minutes / all logged minutes; for a
-- rep-week (or any roll-up) re-aggregate sum(selling_minutes) / sum(duration_minutes).
-- Minutes are the logged duration, or the activity type's default duration when none was logged (done in
-- fct_activities).

with

activities as (
    select * from {{ ref('fct_activities') }}
),

reps as (
    select * from {{ ref('dim_reps') }}
),

weekly as (
    select
        rep_id,
        week_start,
        category,
        count(*) as activity_count,
        sum({{ kpi_flag('is_customer_touch') }}) as customer_touch_count,
        coalesce({{ kpi_exact_sum('duration_minutes') }}, 0) as duration_minutes,
        coalesce({{ kpi_exact_sum('case when is_selling then duration_minutes end') }}, 0) as selling_minutes
    from activities
    group by rep_id, week_start, category
),

final as (
    select
        weekly.rep_id,
        weekly.week_start,
        weekly.category,
        reps.rep_name,
        reps.manager_id,
        reps.manager_name,
        reps.territory_id,
        weekly.activity_count,
        weekly.customer_touch_count,
        weekly.duration_minutes,
        weekly.selling_minutes,
        {{ kpi_safe_divide('weekly.selling_minutes', 'weekly.duration_minutes') }} as selling_share
    from weekly
    left join reps
        on weekly.rep_id = reps.rep_id
)

select * from final
