{#-
    Incremental by entity (`incremental_by_entity`, delete+insert on opportunity_id): only opportunities
    whose stage entries or record changed since the last build are rebuilt; the post-hook drops deleted
    opportunities and those whose stage entries are all gone. Spark rebuilds it as a table.
-#}
-- depends_on: {{ ref('base_salesforce__opportunities') }}, {{ ref('base_salesforce__opportunity_history') }}
{{ config(**incremental_by_entity('opportunity_id', removed_in=[
    {'model': 'base_salesforce__opportunities', 'key': '_key'},
    {
        'model': 'base_salesforce__opportunity_history',
        'key': 'opportunity_id',
        'unless_in': 'int_opportunity_history_stage_entries',
    },
])) }}

{%- set changed_opportunities = [
    (ref('int_opportunity_history_stage_entries'), 'opportunity_id'),
    (ref('base_salesforce__opportunities'), '_key'),
] %}

with entries as (

    select * from {{ ref('int_opportunity_history_stage_entries') }}
    {{ where_changed('opportunity_id', changed_opportunities) if is_incremental() }}

),

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

stages as (

    select * from {{ ref('int_opportunity_stages_resolved') }}

),

ordered as (

    -- only live opportunities: history of a deleted deal leaves with it
    select
        entries.transition_id,
        entries.opportunity_id,
        entries.entry_sequence,
        entries.from_stage_name,
        from_stages.stage_order as from_stage_order,
        entries.to_stage_name,
        to_stages.stage_order as to_stage_order,
        coalesce(to_stages.is_closed and not to_stages.is_won, false) as is_to_lost_stage,
        entries.entered_at,
        entries.exited_at
    from entries
    inner join opportunities
        on entries.opportunity_id = opportunities.opportunity_id
    left join stages as from_stages
        on entries.from_stage_name = from_stages.stage_name
    left join stages as to_stages
        on entries.to_stage_name = to_stages.stage_name

),

skipped_open_stages as (

    -- open stages strictly between from and to of a forward move (a move into a lost stage skips nothing:
    -- a deal can be lost from any stage)
    select
        ordered.transition_id,
        count(stages.stage_name) as stages_skipped
    from ordered
    inner join stages
        on not stages.is_closed
        and ordered.from_stage_order < stages.stage_order
        and ordered.to_stage_order > stages.stage_order
    where not ordered.is_to_lost_stage
    group by ordered.transition_id

),

final as (

    select
        ordered.transition_id,
        ordered.opportunity_id,
        ordered.entry_sequence,
        ordered.from_stage_name,
        ordered.from_stage_order,
        ordered.to_stage_name,
        ordered.to_stage_order,
        ordered.entered_at,
        ordered.exited_at,
        case
            when ordered.exited_at is not null
                then cast({{ days_between('ordered.entered_at', 'ordered.exited_at') }} as {{ type_double() }})
        end as days_in_stage,
        coalesce(ordered.to_stage_order < ordered.from_stage_order, false) as is_regression,
        coalesce(skipped_open_stages.stages_skipped, 0) > 0 as is_skip,
        coalesce(skipped_open_stages.stages_skipped, 0) as stages_skipped,
        ordered.exited_at is null as is_current,
        {{ built_at() }} as _built_at
    from ordered
    left join skipped_open_stages
        on ordered.transition_id = skipped_open_stages.transition_id

)

select * from final
