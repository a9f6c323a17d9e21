{#-
    A table, not incremental: see docs/DECISIONLOG.md (deletions arrive as tombstones that staging
    removes, and seed re-classification must reach old rows; a full rebuild is correct and cheap).
-#}
with activities as (

    select * from {{ ref('int_activities_unioned') }}

),

activity_types as (

    select * from {{ ref('activity_types') }}

),

classified as (

    select
        activities.*,
        activity_types.category,
        activity_types.is_selling,
        activity_types.default_duration_minutes
    from activities
    left join activity_types
        on activities.activity_source = activity_types.activity_source
        and activities.activity_type = activity_types.activity_type

),

final as (

    select
        activity_id,
        activity_source,
        rep_id,
        activity_date,
        activity_at,
        {{ trunc_to_date('week', 'activity_date') }} as week_start,
        activity_type,
        category,
        coalesce(is_selling, false) as is_selling,
        coalesce(category like 'customer%', false) as is_customer_touch,
        -- logged duration (call seconds / 60, event minutes or end - start), else the seed default
        coalesce(logged_duration_minutes, cast(default_duration_minutes as {{ type_double() }})) as duration_minutes,
        case
            when logged_duration_minutes is not null then 'logged'
            when default_duration_minutes is not null then 'default'
        end as duration_source,
        -- WhatId is polymorphic: its Id prefix (vars opportunity_id_prefix / account_id_prefix) says the object
        case when what_id like '{{ var("opportunity_id_prefix") }}%' then what_id end as opportunity_id,
        coalesce(account_id, case when what_id like '{{ var("account_id_prefix") }}%' then what_id end) as account_id,
        who_id,
        what_id,
        subject,
        _loaded_at
    from classified

)

select * from final
