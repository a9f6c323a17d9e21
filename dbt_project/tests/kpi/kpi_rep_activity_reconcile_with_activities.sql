-- Activity counts and minutes in kpi_rep_activity equal those in fct_activities, per rep (so a rep's
-- activities cannot move to another rep either). The fact counts positive and the mart negative; any rep
-- whose totals do not cancel out is returned. (A union, not a full join on a null-safe key, which
-- PostgreSQL cannot execute.)

with differences as (

    select
        rep_id,
        count(*) as activity_count,
        coalesce(sum(duration_minutes), 0) as duration_minutes,
        coalesce(sum(case when is_selling then duration_minutes end), 0) as selling_minutes
    from {{ ref('fct_activities') }}
    group by rep_id

    union all

    select
        rep_id,
        -sum(activity_count) as activity_count,
        -sum(duration_minutes) as duration_minutes,
        -sum(selling_minutes) as selling_minutes
    from {{ ref('kpi_rep_activity') }}
    group by rep_id

)

select
    rep_id,
    sum(activity_count) as activity_count_difference,
    sum(duration_minutes) as duration_minutes_difference,
    sum(selling_minutes) as selling_minutes_difference
from differences
group by rep_id
having sum(activity_count) <> 0
    or abs(sum(duration_minutes)) > 0.001
    or abs(sum(selling_minutes)) > 0.001
