-- Definition, grain and choices: doc("kpi_stage_bottlenecks") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with transitions as (

    select * from {{ ref('fct_opportunity_stage_transitions') }}

),

stages as (

    select * from {{ ref('int_opportunity_stages_resolved') }}

),

open_stages as (

    select
        stage_name,
        stage_order
    from stages
    where not is_closed

),

completed_stays as (

    select
        transitions.to_stage_name as stage_name,
        {{ trunc_to_date('quarter', 'transitions.exited_at') }} as quarter_start,
        transitions.days_in_stage
    from transitions
    inner join open_stages
        on transitions.to_stage_name = open_stages.stage_name
    where transitions.exited_at is not null
        and transitions.days_in_stage is not null

),

losses as (

    select
        transitions.from_stage_name as stage_name,
        {{ trunc_to_date('quarter', 'transitions.entered_at') }} as quarter_start,
        count(*) as lost_count
    from transitions
    inner join stages as to_stages
        on transitions.to_stage_name = to_stages.stage_name
    where to_stages.is_closed
        and not to_stages.is_won
        and transitions.from_stage_name is not null
    group by
        transitions.from_stage_name,
        {{ trunc_to_date('quarter', 'transitions.entered_at') }}

),

dwell as (

    select
        stage_name,
        quarter_start,
        count(*) as completed_stay_count,
        {{ kpi_exact_sum('days_in_stage') }} as total_days_in_stage,
        cast({{ kpi_percentile_cont(0.5, 'days_in_stage') }} as {{ type_double() }}) as median_days_in_stage,
        cast({{ kpi_percentile_cont(0.9, 'days_in_stage') }} as {{ type_double() }}) as p90_days_in_stage
    from completed_stays
    group by stage_name, quarter_start

),

stage_quarters as (

    select
        stage_name,
        quarter_start
    from dwell
    union
    select
        losses.stage_name,
        losses.quarter_start
    from losses
    inner join open_stages
        on losses.stage_name = open_stages.stage_name

),

combined as (

    select
        stage_quarters.quarter_start,
        stage_quarters.stage_name,
        open_stages.stage_order,
        coalesce(dwell.completed_stay_count, 0) as completed_stay_count,
        coalesce(dwell.total_days_in_stage, 0) as total_days_in_stage,
        dwell.median_days_in_stage,
        dwell.p90_days_in_stage,
        coalesce(losses.lost_count, 0) as lost_count
    from stage_quarters
    inner join open_stages
        on stage_quarters.stage_name = open_stages.stage_name
    left join dwell
        on stage_quarters.stage_name = dwell.stage_name
        and stage_quarters.quarter_start = dwell.quarter_start
    left join losses
        on stage_quarters.stage_name = losses.stage_name
        and stage_quarters.quarter_start = losses.quarter_start

),

with_maxima as (

    select
        combined.*,
        max(combined.lost_count) over (partition by combined.quarter_start) as max_lost_count,
        max(combined.median_days_in_stage) over (partition by combined.quarter_start) as max_median_days_in_stage
    from combined

),

final as (

    select
        quarter_start,
        stage_name,
        stage_order,
        completed_stay_count,
        total_days_in_stage,
        {{ kpi_safe_divide('total_days_in_stage', 'completed_stay_count') }} as avg_days_in_stage,
        median_days_in_stage,
        p90_days_in_stage,
        lost_count,
        {{ kpi_safe_divide('lost_count', 'completed_stay_count') }} as stage_loss_rate,
        coalesce(max_lost_count > 0 and lost_count = max_lost_count, false) as is_largest_loss_stage,
        coalesce(max_median_days_in_stage > 0 and median_days_in_stage = max_median_days_in_stage, false)
            as is_longest_dwell_stage
    from with_maxima

)

select * from final
