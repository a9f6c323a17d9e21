-- Definition, grain and choices: doc("kpi_pipeline_funnel") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

transitions as (

    select * from {{ ref('fct_opportunity_stage_transitions') }}

),

stages as (

    select * from {{ ref('int_opportunity_stages_resolved') }}

),

funnel_stages as (

    -- the open stages in funnel order, then the won stage; the lost stage is an exit, not a step
    select
        stage_name,
        stage_order,
        is_won
    from stages
    where not is_closed or is_won

),

first_stage as (

    select min(stage_order) as first_stage_order
    from funnel_stages

),

won_stage as (

    select min(stage_order) as won_stage_order
    from funnel_stages
    where is_won

),

open_stage_visits as (

    -- every open stage an opportunity has been in: transitions, and its current stage
    select
        transitions.opportunity_id,
        stages.stage_order
    from transitions
    inner join stages
        on transitions.to_stage_name = stages.stage_name
    where not stages.is_closed

    union all

    select
        opportunity_id,
        stage_order
    from opportunities
    where not coalesce(is_closed, false)
        and is_stage_known

),

furthest_open_stage as (

    select
        opportunity_id,
        max(stage_order) as furthest_open_stage_order
    from open_stage_visits
    group by opportunity_id

),

opportunity_outcomes as (

    select
        opportunities.opportunity_id,
        {{ trunc_to_date('quarter', 'opportunities.created_date') }} as cohort_quarter,
        case
            when opportunities.is_won then won_stage.won_stage_order
            -- an opportunity without any known open stage entered the funnel at its first stage
            else coalesce(furthest_open_stage.furthest_open_stage_order, first_stage.first_stage_order)
        end as furthest_stage_order,
        case
            when opportunities.is_won then 'won'
            when opportunities.is_closed then 'lost'
            else 'open'
        end as outcome
    from opportunities
    cross join first_stage
    cross join won_stage
    left join furthest_open_stage
        on opportunities.opportunity_id = furthest_open_stage.opportunity_id
    -- without CreatedDate an opportunity has no creation cohort (counted in dq_findings)
    where opportunities.created_date is not null

),

cohorts as (

    select distinct cohort_quarter
    from opportunity_outcomes

),

stage_cohorts as (

    select
        cohorts.cohort_quarter,
        funnel_stages.stage_name,
        funnel_stages.stage_order,
        funnel_stages.is_won
    from cohorts
    cross join funnel_stages

),

counted as (

    select
        stage_cohorts.cohort_quarter,
        stage_cohorts.stage_name,
        stage_cohorts.stage_order,
        stage_cohorts.is_won as is_won_stage,
        count(opportunity_outcomes.opportunity_id) as reached_count,
        cast(sum(case
            when opportunity_outcomes.furthest_stage_order > stage_cohorts.stage_order then 1
            else 0
        end) as bigint) as moved_on_count,
        cast(sum(case
            when opportunity_outcomes.furthest_stage_order = stage_cohorts.stage_order
                and opportunity_outcomes.outcome = 'lost' then 1
            else 0
        end) as bigint) as lost_count,
        cast(sum(case
            when opportunity_outcomes.furthest_stage_order = stage_cohorts.stage_order
                and opportunity_outcomes.outcome = 'open' then 1
            else 0
        end) as bigint) as open_count,
        cast(sum(case
            when opportunity_outcomes.furthest_stage_order = stage_cohorts.stage_order
                and opportunity_outcomes.outcome = 'won' then 1
            else 0
        end) as bigint) as won_count
    from stage_cohorts
    left join opportunity_outcomes
        on stage_cohorts.cohort_quarter = opportunity_outcomes.cohort_quarter
        and stage_cohorts.stage_order <= opportunity_outcomes.furthest_stage_order
    group by
        stage_cohorts.cohort_quarter,
        stage_cohorts.stage_name,
        stage_cohorts.stage_order,
        stage_cohorts.is_won

),

with_first_stage as (

    select
        counted.*,
        first_counts.reached_count as first_stage_reached_count
    from counted
    cross join first_stage
    inner join counted as first_counts
        on counted.cohort_quarter = first_counts.cohort_quarter
        and first_stage.first_stage_order = first_counts.stage_order

),

final as (

    select
        cohort_quarter,
        stage_name,
        stage_order,
        is_won_stage,
        reached_count,
        moved_on_count,
        lost_count,
        open_count,
        won_count,
        first_stage_reached_count,
        -- the won stage ends the funnel: it has no next stage
        case
            when not is_won_stage then {{ kpi_safe_divide('moved_on_count', 'reached_count') }}
        end as next_stage_conversion_rate,
        {{ kpi_safe_divide('lost_count', 'reached_count') }} as stage_loss_rate,
        {{ kpi_safe_divide('reached_count', 'first_stage_reached_count') }} as cumulative_conversion_rate
    from with_first_stage

)

select * from final
