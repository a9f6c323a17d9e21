{#-
    Lifecycle steps of each lead: every Status change in LeadHistory mapped through the
    lead_statuses seed, plus the status the lead had at creation (the first change's OldValue, or
    the current status when the status never changed).

    Incremental by entity (`incremental_by_entity`, delete+insert on lead_id): only leads whose record
    or history changed since the last build are rebuilt, from all their history (a live lead always has
    its 'created' step, so its old rows are always replaced); the post-hook drops deleted leads. Spark
    rebuilds it as a table.
-#}
-- depends_on: {{ ref('base_salesforce__leads') }}, {{ ref('base_salesforce__lead_history') }}
{{ config(**incremental_by_entity('lead_id', removed_in=[
    {'model': 'base_salesforce__leads', 'key': '_key'},
])) }}

{%- set changed_leads = [
    (ref('base_salesforce__leads'), '_key'),
    (ref('base_salesforce__lead_history'), 'lead_id'),
] %}

with leads as (

    select * from {{ ref('stg_salesforce__leads') }}
    {{ where_changed('lead_id', changed_leads) if is_incremental() }}

),

lead_history as (

    select * from {{ ref('stg_salesforce__lead_history') }}
    {{ where_changed('lead_id', changed_leads) if is_incremental() }}

),

lead_statuses as (

    select * from {{ ref('int_lead_statuses_resolved') }}

),

status_changes as (

    select
        lead_history_id,
        lead_id,
        old_value,
        new_value,
        created_at,
        row_number() over (partition by lead_id order by created_at, lead_history_id) as change_sequence
    from lead_history
    where field_name = 'Status'

),

initial_status as (

    select
        leads.lead_id,
        'created' as step_source,
        -- the current status, when it never changed; a converted lead's changed at conversion, so
        -- without history its status at creation is unknown (fct_leads then dates it by ConvertedDate)
        coalesce(
            status_changes.old_value, case when not coalesce(leads.is_converted, false) then leads.status end
        ) as status,
        leads.created_at as changed_at
    from leads
    left join status_changes
        on leads.lead_id = status_changes.lead_id
        and status_changes.change_sequence = 1

),

changed_status as (

    select
        lead_id,
        'history' as step_source,
        new_value as status,
        created_at as changed_at
    from status_changes

),

steps as (

    select * from initial_status
    union all
    select * from changed_status

),

final as (

    select
        steps.lead_id,
        steps.step_source,
        steps.status,
        lead_statuses.lifecycle_stage,
        lead_statuses.lifecycle_order,
        steps.changed_at,
        {{ built_at() }} as _built_at
    from steps
    inner join leads
        on steps.lead_id = leads.lead_id
    left join lead_statuses
        on steps.status = lead_statuses.status

)

select * from final
