{#-
    Incremental by entity on DuckDB and PostgreSQL (`incremental_by_entity`, delete+insert on
    activity_id): a build re-classifies only the activities whose base Task/Event row was rewritten
    since the last build (`_built_at` above the latest one kept here), and the post-hook removes
    activities deleted in the source. A change to the dbt project (the activity_types seed, this model)
    makes the orchestrator run `dbt build --full-refresh` once (orchestration/defs/dbt_assets.py), so
    re-classification reaches old rows. Spark rebuilds it as a table. See docs/DECISIONLOG.md.
-#}
-- depends_on: {{ ref('base_salesforce__tasks') }}, {{ ref('base_salesforce__events') }}
{{ config(**incremental_by_entity('activity_id', removed_in=[
    {'model': 'base_salesforce__tasks', 'key': '_key'},
    {'model': 'base_salesforce__events', 'key': '_key'},
])) }}

with activities as (

    select * from {{ ref('int_activities_unioned') }}
    {%- if is_incremental() %}
    where _built_at > {{ incremental_watermark('_built_at') }}
    {%- endif %}

),

activity_types as (

    select * from {{ ref('activity_types') }}

),

activity_subtypes as (

    select * from {{ ref('activity_subtypes') }}

),

linked as (

    select
        activities.*,
        case
            when
                activities.who_id is not null or activities.what_id is not null or activities.account_id is not null
                then 'linked'
            else 'unlinked'
        end as customer_link
    from activities

),

classified as (

    -- by Type (seed activity_types); a Type missing or unknown there falls back to the subtype Salesforce
    -- sets (TaskSubtype / EventSubtype, seed activity_subtypes); mapped by neither: category 'unmapped'
    -- (kept, reported in dq_unmapped_values)
    select
        linked.*,
        case
            when activity_types.category is not null then 'type'
            when activity_subtypes.category is not null then 'subtype'
        end as classified_by,
        coalesce(activity_types.category, activity_subtypes.category, 'unmapped') as category,
        coalesce(activity_types.is_selling, activity_subtypes.is_selling) as is_selling,
        case
            when activity_types.category is not null then activity_types.default_duration_minutes
            else activity_subtypes.default_duration_minutes
        end as default_duration_minutes
    from linked
    left join activity_types
        on linked.activity_source = activity_types.activity_source
        and linked.activity_type = activity_types.activity_type
    left join activity_subtypes
        on linked.activity_source = activity_subtypes.activity_source
        and linked.activity_subtype = activity_subtypes.activity_subtype
        and activity_subtypes.customer_link in ('any', linked.customer_link)

),

final as (

    select
        activity_id,
        activity_source,
        -- an activity without an owner belongs to the explicit `unassigned` rep of dim_reps
        coalesce(rep_id, 'unassigned') as rep_id,
        activity_date,
        activity_at,
        {{ trunc_to_date('week', 'activity_date') }} as week_start,
        -- the Type, else the subtype (what classified it)
        coalesce(activity_type, activity_subtype) as activity_type,
        activity_subtype,
        classified_by,
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
        _loaded_at,
        _built_at
    from classified

)

select * from final
