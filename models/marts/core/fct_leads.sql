{#-
    Incremental by entity (`incremental_by_entity`, delete+insert on lead_id): only leads whose record
    or lifecycle steps changed since the last build are rebuilt; the post-hook drops deleted leads.
    Spark rebuilds it as a table.
-#}
-- depends_on: {{ ref('base_salesforce__leads') }}
{{ config(**incremental_by_entity('lead_id', removed_in=[
    {'model': 'base_salesforce__leads', 'key': '_key'},
])) }}

{%- set changed_leads = [
    (ref('base_salesforce__leads'), '_key'),
    (ref('int_lead_status_changes_mapped'), 'lead_id'),
] %}

with leads as (

    select * from {{ ref('stg_salesforce__leads') }}
    {{ where_changed('lead_id', changed_leads) if is_incremental() }}

),

lifecycle_steps as (

    select * from {{ ref('int_lead_status_changes_mapped') }}
    {{ where_changed('lead_id', changed_leads) if is_incremental() }}

),

lead_statuses as (

    select * from {{ ref('int_lead_statuses_resolved') }}

),

milestones as (

    -- lifecycle orders from the seed: lead 1, mql 2, sql 3, converted 4; disqualified 0 never counts.
    -- "reached MQL" = first time at MQL or any later stage, so a lead that skipped MQL still has mql_at
    select
        lead_id,
        min(case when lifecycle_order >= 2 then changed_at end) as mql_at,
        min(case when lifecycle_order >= 3 then changed_at end) as sql_at,
        min(case when lifecycle_order >= 4 then changed_at end) as converted_at,
        max(case when lifecycle_stage = 'mql' then 1 else 0 end) as was_at_mql,
        max(case when step_source = 'history' then 1 else 0 end) as has_status_history
    from lifecycle_steps
    group by lead_id

),

conversion_day as (

    -- A conversion known only by its day (IsConverted + ConvertedDate, no converted status in LeadHistory)
    -- happened no earlier than the milestones the lead reached that same day: it is dated at the latest
    -- of them (e.g. SQL at 14:00, converted that day -> 14:00), else at midnight of ConvertedDate. A
    -- milestone on a later day than ConvertedDate is left as it is (fct_leads_milestones_in_order warns).
    select
        leads.lead_id,
        case
            when not leads.is_converted then null
            when leads.converted_date is null then coalesce(milestones.sql_at, milestones.mql_at)
            when cast(coalesce(milestones.sql_at, milestones.mql_at) as date) = leads.converted_date
                then coalesce(milestones.sql_at, milestones.mql_at)
            else cast(leads.converted_date as {{ dbt.type_timestamp() }})
        end as converted_day_at
    from leads
    left join milestones
        on leads.lead_id = milestones.lead_id

),

final as (

    select
        leads.lead_id,
        leads.rep_id,
        leads.lead_source,
        leads.company,
        leads.industry,
        leads.status,
        lead_statuses.lifecycle_stage,
        leads.created_at,
        cast(leads.created_at as date) as created_date,
        -- NULL without CreatedDate: such a lead stays out of created-month cohorts (kpi_lead_funnel)
        {{ trunc_to_date('month', 'leads.created_at') }} as cohort_month,
        -- a converted lead without a Status history row still converted on ConvertedDate
        coalesce(milestones.mql_at, conversion_day.converted_day_at) as mql_at,
        coalesce(milestones.sql_at, conversion_day.converted_day_at) as sql_at,
        coalesce(milestones.converted_at, conversion_day.converted_day_at) as converted_at,
        (milestones.mql_at is not null or leads.is_converted)
        and coalesce(milestones.was_at_mql, 0) = 0 as is_mql_skipped,
        leads.is_converted or coalesce(lead_statuses.lifecycle_stage = 'converted', false) as is_converted,
        coalesce(lead_statuses.lifecycle_stage = 'disqualified', false) as is_disqualified,
        coalesce(milestones.has_status_history, 0) = 1 as has_status_history,
        leads.converted_date,
        leads.converted_opportunity_id,
        leads.converted_account_id,
        {{ built_at() }} as _built_at
    from leads
    left join milestones
        on leads.lead_id = milestones.lead_id
    left join conversion_day
        on leads.lead_id = conversion_day.lead_id
    left join lead_statuses
        on leads.status = lead_statuses.status

)

select * from final
