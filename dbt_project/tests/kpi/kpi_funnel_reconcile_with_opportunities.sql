-- Every opportunity is counted once in the first stage of its creation cohort in kpi_pipeline_funnel,
-- and the lost / open counts over all stages equal the lost / open opportunities of fct_opportunities
-- (opportunities with a CreatedDate: without one there is no creation cohort).

with facts as (

    select
        count(*) as opportunity_count,
        sum(case when is_closed and not is_won then 1 else 0 end) as lost_count,
        sum(case when is_closed then 0 else 1 end) as open_count
    from {{ ref('fct_opportunities') }}
    where created_date is not null

),

funnel as (

    select * from {{ ref('kpi_pipeline_funnel') }}

),

first_stage as (

    select min(stage_order) as first_stage_order
    from funnel

),

mart as (

    select
        coalesce(
            sum(case when funnel.stage_order = first_stage.first_stage_order then funnel.reached_count end), 0
        ) as opportunity_count,
        coalesce(sum(funnel.lost_count), 0) as lost_count,
        coalesce(sum(funnel.open_count), 0) as open_count
    from funnel
    cross join first_stage

)

select
    facts.opportunity_count as fact_opportunity_count,
    mart.opportunity_count as mart_opportunity_count,
    facts.lost_count as fact_lost_count,
    mart.lost_count as mart_lost_count,
    facts.open_count as fact_open_count,
    mart.open_count as mart_open_count
from facts
cross join mart
where facts.opportunity_count <> mart.opportunity_count
    or facts.lost_count <> mart.lost_count
    or facts.open_count <> mart.open_count
