-- Definition, grain and choices: doc("kpi_rep_activity") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with activities as (

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
        cast(sum({{ kpi_flag('is_customer_touch') }}) as bigint) as customer_touch_count,
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
