{#-
    Stage entries of each opportunity: the OpportunityHistory rows whose stage differs from the
    previous row of the same opportunity (ordered by created_at, then Id), the first row being an
    entry from nowhere. Amount or close-date changes within a stage are not entries.
    Named int_<entity>_<verb>s: history rows filtered to stage entries.
-#}
with history as (

    select * from {{ ref('stg_salesforce__opportunity_history') }}

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
        ) as entry_sequence
    from entries

)

select * from final
