{#-
    Tasks and Events as one activity stream with a common shape; classification by the
    activity_types seed happens in fct_activities.

    A view: a row-level rename and union that only fct_activities reads, so materialising it would
    copy every activity once more per build. Its key is tested on fct_activities (one row each).
-#}

with tasks as (

    select * from {{ ref('stg_salesforce__tasks') }}

),

events as (

    select * from {{ ref('stg_salesforce__events') }}

),

task_activities as (

    select
        task_id as activity_id,
        'task' as activity_source,
        rep_id,
        activity_date,
        cast(activity_date as {{ dbt.type_timestamp() }}) as activity_at,
        -- Type is what reps pick; TaskSubtype (Call, Email, Task...) is set by Salesforce itself and
        -- classifies a task without Type (fct_activities, seed activity_subtypes).
        task_type as activity_type,
        task_subtype as activity_subtype,
        subject,
        cast(call_duration_seconds as {{ type_double() }}) / 60.0 as logged_duration_minutes,
        who_id,
        what_id,
        account_id,
        _loaded_at,
        _built_at
    from tasks

),

event_activities as (

    select
        event_id as activity_id,
        'event' as activity_source,
        rep_id,
        activity_date,
        start_at as activity_at,
        event_type as activity_type,
        event_subtype as activity_subtype,
        subject,
        case
            when duration_minutes is not null then cast(duration_minutes as {{ type_double() }})
            when end_at >= start_at then cast({{ days_between('start_at', 'end_at') }} * 1440.0 as {{ type_double() }})
        end as logged_duration_minutes,
        who_id,
        what_id,
        account_id,
        _loaded_at,
        _built_at
    from events

),

final as (

    select * from task_activities
    union all
    select * from event_activities

)

select * from final
