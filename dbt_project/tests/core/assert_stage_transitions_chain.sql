-- Each stage entry's exit is the next entry's start, and exactly one entry per opportunity is current.
with transitions as (

    select * from {{ ref('fct_opportunity_stage_transitions') }}

),

chained as (

    select
        transition_id,
        opportunity_id,
        exited_at,
        is_current,
        lead(entered_at) over (partition by opportunity_id order by entry_sequence) as next_entered_at
    from transitions

),

broken_chain as (

    select
        transition_id,
        opportunity_id,
        'exit differs from next entry' as problem
    from chained
    where not (
            (exited_at is null and next_entered_at is null)
            or exited_at = next_entered_at
        )

),

current_counts as (

    select
        opportunity_id,
        sum(case when is_current then 1 else 0 end) as current_entries
    from transitions
    group by opportunity_id

),

wrong_current as (

    select
        cast(null as {{ dbt.type_string() }}) as transition_id,
        opportunity_id,
        'not exactly one current entry' as problem
    from current_counts
    where current_entries <> 1

)

select * from broken_chain
union all
select * from wrong_current
