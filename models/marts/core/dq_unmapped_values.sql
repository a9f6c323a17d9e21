{#-
    Every picklist value that maps to nothing, counted (published with the core tables; the run summary
    lists it). Nothing is dropped for it: opportunities keep a NULL stage_order (won/lost from the record's
    IsClosed/IsWon), leads a NULL lifecycle stage, activities the category 'unmapped'.
    Grain: object x field x value. NULL or empty values count as '(empty)' (no seed line can map them:
    suggested_seed_line is NULL). suggested_seed_line is the line to add to seed_file that would map the
    value: closed/won flags as the records say (opportunities) or IsConverted (leads); order, probability
    and category are a starting point to review (activity suggestions are not selling time).
-#}
with opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

history as (

    select * from {{ ref('stg_salesforce__opportunity_history') }}

),

stages as (

    select * from {{ ref('int_opportunity_stages_resolved') }}

),

seed_stage_count as (

    select count(*) as stage_count from {{ ref('opportunity_stages') }}

),

leads as (

    select * from {{ ref('fct_leads') }}

),

lead_steps as (

    select * from {{ ref('int_lead_status_changes_mapped') }}

),

activities as (

    select * from {{ ref('fct_activities') }}

),

activity_fields as (

    select
        activity_id,
        activity_type as type_value,
        activity_subtype as subtype_value
    from {{ ref('int_activities_unioned') }}

),

unmapped_stages_by_object as (

    select
        'Opportunity' as object,
        'StageName' as field,
        coalesce(stage_name, '(empty)') as value,
        count(*) as row_count,
        max(case when is_closed then 1 else 0 end) = 1 as is_closed,
        max(case when is_won then 1 else 0 end) = 1 as is_won
    from opportunities
    where not is_stage_known
    group by coalesce(stage_name, '(empty)')

    union all

    select
        'OpportunityHistory' as object,
        'StageName' as field,
        coalesce(history.stage_name, '(empty)') as value,
        count(*) as row_count,
        false as is_closed,
        false as is_won
    from history
    left join stages
        on history.stage_name = stages.stage_name
    where stages.stage_name is null
    group by coalesce(history.stage_name, '(empty)')

),

stage_semantics as (

    -- one suggestion per stage value: a stage closed or won on the opportunities is so in history too
    select
        object,
        field,
        value,
        row_count,
        max(case when is_closed then 1 else 0 end) over (partition by value) = 1 as is_closed,
        max(case when is_won then 1 else 0 end) over (partition by value) = 1 as is_won
    from unmapped_stages_by_object

),

stage_suggestions as (

    select
        unmapped_stages.object,
        unmapped_stages.field,
        unmapped_stages.value,
        unmapped_stages.row_count,
        'seeds/opportunity_stages.csv' as seed_file,
        {{ dbt.concat([
            csv_field('unmapped_stages.value'), "','",
            "cast(seed_stage_count.stage_count + dense_rank() over (order by unmapped_stages.value) as "
                ~ dbt.type_string() ~ ")", "','",
            "case when unmapped_stages.is_won then '1.00' when unmapped_stages.is_closed then '0.00'"
                ~ " else '0.50' end", "','",
            bool_text('unmapped_stages.is_closed'), "','",
            bool_text('unmapped_stages.is_won'), "','",
            "case when unmapped_stages.is_won then 'Closed' when unmapped_stages.is_closed then 'Omitted'"
                ~ " else 'Pipeline' end",
        ]) }} as suggested_seed_line
    from stage_semantics as unmapped_stages
    cross join seed_stage_count

),

unmapped_statuses as (

    select
        'Lead' as object,
        'Status' as field,
        coalesce(status, '(empty)') as value,
        count(*) as row_count,
        max(case when is_converted then 1 else 0 end) = 1 as is_converted
    from leads
    where lifecycle_stage is null
    group by coalesce(status, '(empty)')

    union all

    select
        'LeadHistory' as object,
        'NewValue' as field,
        coalesce(status, '(empty)') as value,
        count(*) as row_count,
        false as is_converted
    from lead_steps
    where step_source = 'history'
        and lifecycle_stage is null
    group by coalesce(status, '(empty)')

),

status_suggestions as (

    select
        object,
        field,
        value,
        row_count,
        'seeds/lead_statuses.csv' as seed_file,
        {{ dbt.concat([
            csv_field('value'), "','",
            "case when is_converted then 'converted,4' else 'lead,1' end",
        ]) }} as suggested_seed_line
    from unmapped_statuses

),

unmapped_activities as (

    select
        case when activities.activity_source = 'task' then 'Task' else 'Event' end as object,
        case
            when activity_fields.type_value is not null or activity_fields.subtype_value is null then 'Type'
            when activities.activity_source = 'task' then 'TaskSubtype'
            else 'EventSubtype'
        end as field,
        activities.activity_source,
        coalesce(activity_fields.type_value, activity_fields.subtype_value, '(empty)') as value
    from activities
    left join activity_fields
        on activities.activity_id = activity_fields.activity_id
    where activities.category = 'unmapped'

),

activity_suggestions as (

    select
        object,
        field,
        value,
        count(*) as row_count,
        case when field = 'Type' then 'seeds/activity_types.csv' else 'seeds/activity_subtypes.csv' end as seed_file,
        {{ dbt.concat([
            "activity_source", "','", csv_field('value'), "','",
            "case when field = 'Type' then '' else 'any,' end",
            "case when activity_source = 'task' then 'admin,false,15' else 'internal_meeting,false,45' end",
        ]) }} as suggested_seed_line
    from unmapped_activities
    group by object, field, activity_source, value

),

unioned as (

    -- the three suggestion CTEs share one column list: object, field, value, row_count, seed_file,
    -- suggested_seed_line
    select * from stage_suggestions
    union all
    select * from status_suggestions
    union all
    select * from activity_suggestions

),

final as (

    select
        cast(object as {{ dbt.type_string() }}) as object,
        cast(field as {{ dbt.type_string() }}) as field,
        cast(value as {{ dbt.type_string() }}) as value,
        cast(row_count as {{ dbt.type_bigint() }}) as row_count,
        cast(case when value <> '(empty)' then seed_file end as {{ dbt.type_string() }}) as seed_file,
        cast(case when value <> '(empty)' then suggested_seed_line end as {{ dbt.type_string() }})
            as suggested_seed_line
    from unioned

)

select * from final
