{#-
    Stage entries of each opportunity: the OpportunityHistory rows whose stage differs from the
    previous row of the same opportunity (ordered by created_at, then Id), the first row being an
    entry from nowhere. Amount or close-date changes within a stage are not entries.
    Named int_<entity>_<verb>s: history rows filtered to stage entries.

    Incremental by entity (`incremental_by_entity`, delete+insert on opportunity_id): only opportunities
    with a history row written since the last build are re-sequenced, from all their history; the
    post-hook drops opportunities whose history is all gone (deleted rows, tombstones). Spark rebuilds
    it as a table.
-#}
-- depends_on: {{ ref('base_salesforce__opportunity_history') }}
{{ config(**incremental_by_entity('opportunity_id', removed_in=[
    {
        'model': 'base_salesforce__opportunity_history',
        'key': 'opportunity_id',
        'unless_in': 'stg_salesforce__opportunity_history',
    },
])) }}

with history as (

    -- a history row without OpportunityId, CreatedDate or StageName cannot be placed in a stage sequence
    -- (counted in dq_findings: opportunity_history_unplaceable)
    select * from {{ ref('stg_salesforce__opportunity_history') }}
    where opportunity_id is not null
        and created_at is not null
        and stage_name is not null
    {%- if is_incremental() %}
    and opportunity_id in (
        {{ changed_keys([(ref('base_salesforce__opportunity_history'), 'opportunity_id')]) }}
    )
    {%- endif %}

),

with_previous as (

    select
        opportunity_history_id,
        opportunity_id,
        stage_name,
        created_at,
        lag(stage_name) over (
            partition by opportunity_id order by created_at, opportunity_history_id
        ) as previous_stage_name,
        row_number() over (
            partition by opportunity_id order by created_at, opportunity_history_id
        ) as history_sequence
    from history

),

entries as (

    select * from with_previous
    where history_sequence = 1
        or stage_name <> previous_stage_name

),

final as (

    select
        opportunity_history_id as transition_id,
        opportunity_id,
        previous_stage_name as from_stage_name,
        stage_name as to_stage_name,
        created_at as entered_at,
        lead(created_at) over (
            partition by opportunity_id order by created_at, opportunity_history_id
        ) as exited_at,
        row_number() over (
            partition by opportunity_id order by created_at, opportunity_history_id
        ) as entry_sequence,
        {{ built_at() }} as _built_at
    from entries

)

select * from final
