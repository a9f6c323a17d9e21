-- Definition, grain and choices: doc("kpi_forecast") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).
-- Every figure of a row is what was known at the end of its as_of_date: the pipeline as it stood that day
-- (fct_pipeline_daily), deals won by that day, and conversion learned from quarters that ended before it.

{#- a (stage, segment) cell needs this many deals of past quarters at that week, else the stage's cell,
    else all deals at that week (doc "kpi_forecast") -#}
{%- set min_deals = var('forecast_min_training_deals', 20) | int %}
{%- set methods = ['learned', 'probability', 'commit'] %}

-- not materialized: pipeline_bounds and the weekly snapshots both read it; DuckDB materialized the whole
-- table for them (79 M rows at L, 8.4 GB written: 20.8 s; not materialized 5.2 s, same rows), see
-- macros/not_materialized.sql
with pipeline as {{ not_materialized() }} (

    select * from {{ ref('fct_pipeline_daily') }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

activities as (

    select * from {{ ref('fct_activities') }}

),

dates as (

    select * from {{ ref('dim_dates') }}

),

as_of as (

    {{ kpi_as_of_date_select('opportunities', 'activities') }}

),

pipeline_bounds as (

    select
        min(as_of_date) as first_pipeline_date,
        max(as_of_date) as last_pipeline_date
    from pipeline

),

fiscal_quarters as (

    select
        fiscal_quarter_start,
        max(date_day) as fiscal_quarter_end,
        min(fiscal_year) as fiscal_year
    from dates
    group by fiscal_quarter_start

),

numbers as (

    {{ integers(2) }}

),

-- week k of a quarter ends on its day 7k (quarter start + 7k - 1); week 13 ends on the quarter's last day
quarter_weeks as (

    select
        fiscal_quarters.fiscal_quarter_start,
        fiscal_quarters.fiscal_quarter_end,
        fiscal_quarters.fiscal_year,
        cast(numbers.n as {{ dbt.type_int() }}) as week_of_quarter,
        case
            when numbers.n = 13 then fiscal_quarters.fiscal_quarter_end
            else {{ add_to_date('day', '7 * numbers.n - 1', 'fiscal_quarters.fiscal_quarter_start') }}
        end as as_of_date
    from fiscal_quarters
    cross join numbers
    where numbers.n between 1 and 13

),

-- the weeks the data covers: a pipeline snapshot exists and the week has ended by the reporting date
snapshot_weeks as (

    select
        quarter_weeks.*,
        quarter_weeks.fiscal_quarter_end <= as_of.as_of_date as is_quarter_complete,
        -- a forecast needs the whole quarter in the pipeline's history (an earlier quarter only teaches)
        quarter_weeks.fiscal_quarter_start >= pipeline_bounds.first_pipeline_date as is_forecast_quarter
    from quarter_weeks
    cross join as_of
    cross join pipeline_bounds
    where quarter_weeks.as_of_date >= pipeline_bounds.first_pipeline_date
        and quarter_weeks.as_of_date <= pipeline_bounds.last_pipeline_date
        and quarter_weeks.as_of_date <= as_of.as_of_date

),

-- the open deals of each week's pipeline, by where their close date (as it stood then) lies: in that
-- week's quarter (the pipeline of the quarter, all three methods), after it (deals that may be pulled in),
-- before it (overdue) or unknown; the learned method weighs all four, each with its own conversion
snapshots as (

    select
        snapshot_weeks.fiscal_quarter_start,
        snapshot_weeks.fiscal_quarter_end,
        snapshot_weeks.week_of_quarter,
        snapshot_weeks.is_forecast_quarter,
        case
            when pipeline.close_date is null then 'none'
            when pipeline.close_date < snapshot_weeks.fiscal_quarter_start then 'overdue'
            when pipeline.close_date <= snapshot_weeks.fiscal_quarter_end then 'in_quarter'
            else 'later'
        end as close_date_bucket,
        pipeline.opportunity_id,
        pipeline.segment,
        pipeline.stage_name,
        pipeline.forecast_category,
        pipeline.probability,
        pipeline.amount_corporate
    from pipeline
    inner join snapshot_weeks
        on pipeline.as_of_date = snapshot_weeks.as_of_date

),

-- what each snapshot deal booked within the same horizon: won with a close date by its quarter's end
snapshot_outcomes as (

    select
        snapshots.fiscal_quarter_start,
        snapshots.week_of_quarter,
        snapshots.close_date_bucket,
        snapshots.stage_name,
        snapshots.segment,
        snapshots.amount_corporate,
        case
            when opportunities.is_won and opportunities.close_date <= snapshots.fiscal_quarter_end
                then coalesce(opportunities.amount_corporate, 0)
            else 0
        end as booked_amount_corporate
    from snapshots
    left join opportunities
        on snapshots.opportunity_id = opportunities.opportunity_id
    where snapshots.amount_corporate is not null

),

quarter_cells as (

    select
        fiscal_quarter_start as training_quarter_start,
        week_of_quarter,
        close_date_bucket,
        stage_name,
        segment,
        count(*) as deal_count,
        sum(amount_corporate) as pipeline_amount_corporate,
        sum(booked_amount_corporate) as booked_amount_corporate
    from snapshot_outcomes
    group by fiscal_quarter_start, week_of_quarter, close_date_bucket, stage_name, segment

),

forecast_weeks as (

    select * from snapshot_weeks
    where is_forecast_quarter

),

-- the training set of a forecast week: the same week of every quarter that ended before its quarter began
-- (so before its as-of date: each outcome was known then)
training_cells as (

    select
        forecast_weeks.fiscal_quarter_start,
        quarter_cells.week_of_quarter,
        quarter_cells.close_date_bucket,
        quarter_cells.stage_name,
        quarter_cells.segment,
        quarter_cells.deal_count,
        quarter_cells.pipeline_amount_corporate,
        quarter_cells.booked_amount_corporate
    from forecast_weeks
    inner join quarter_cells
        on forecast_weeks.week_of_quarter = quarter_cells.week_of_quarter
        and forecast_weeks.fiscal_quarter_start > quarter_cells.training_quarter_start

),

rates_by_stage_segment as (

    select
        fiscal_quarter_start,
        week_of_quarter,
        close_date_bucket,
        stage_name,
        segment,
        sum(deal_count) as deal_count,
        {{ kpi_safe_divide('sum(booked_amount_corporate)', 'sum(pipeline_amount_corporate)') }} as conversion_rate
    from training_cells
    group by fiscal_quarter_start, week_of_quarter, close_date_bucket, stage_name, segment

),

rates_by_stage as (

    select
        fiscal_quarter_start,
        week_of_quarter,
        close_date_bucket,
        stage_name,
        sum(deal_count) as deal_count,
        {{ kpi_safe_divide('sum(booked_amount_corporate)', 'sum(pipeline_amount_corporate)') }} as conversion_rate
    from training_cells
    group by fiscal_quarter_start, week_of_quarter, close_date_bucket, stage_name

),

rates_by_bucket as (

    select
        fiscal_quarter_start,
        week_of_quarter,
        close_date_bucket,
        sum(deal_count) as deal_count,
        {{ kpi_safe_divide('sum(booked_amount_corporate)', 'sum(pipeline_amount_corporate)') }} as conversion_rate
    from training_cells
    group by fiscal_quarter_start, week_of_quarter, close_date_bucket

),

-- this week has something to learn from: some quarter before had a pipeline at this week
training_weeks as (

    select
        fiscal_quarter_start,
        week_of_quarter,
        sum(deal_count) as training_deal_count
    from training_cells
    group by fiscal_quarter_start, week_of_quarter

),

-- each open deal of a forecast week with its learned rate: that of its close-date bucket and stage and
-- segment, else of its bucket and stage, else of its bucket (0 when the bucket never booked anything)
open_deals as (

    select
        snapshots.fiscal_quarter_start,
        snapshots.week_of_quarter,
        snapshots.close_date_bucket = 'in_quarter' as is_in_quarter,
        snapshots.segment,
        snapshots.forecast_category,
        snapshots.probability,
        snapshots.amount_corporate,
        case
            when rates_by_stage_segment.deal_count >= {{ min_deals }}
                and rates_by_stage_segment.conversion_rate is not null
                then rates_by_stage_segment.conversion_rate
            when rates_by_stage.deal_count >= {{ min_deals }}
                and rates_by_stage.conversion_rate is not null
                then rates_by_stage.conversion_rate
            else coalesce(rates_by_bucket.conversion_rate, 0)
        end as learned_rate,
        case
            when rates_by_stage_segment.deal_count >= {{ min_deals }}
                and rates_by_stage_segment.conversion_rate is not null
                then 0
            else 1
        end as is_fallback
    from snapshots
    left join rates_by_stage_segment
        on snapshots.fiscal_quarter_start = rates_by_stage_segment.fiscal_quarter_start
        and snapshots.week_of_quarter = rates_by_stage_segment.week_of_quarter
        and snapshots.close_date_bucket = rates_by_stage_segment.close_date_bucket
        and snapshots.stage_name = rates_by_stage_segment.stage_name
        and snapshots.segment = rates_by_stage_segment.segment
    left join rates_by_stage
        on snapshots.fiscal_quarter_start = rates_by_stage.fiscal_quarter_start
        and snapshots.week_of_quarter = rates_by_stage.week_of_quarter
        and snapshots.close_date_bucket = rates_by_stage.close_date_bucket
        and snapshots.stage_name = rates_by_stage.stage_name
    left join rates_by_bucket
        on snapshots.fiscal_quarter_start = rates_by_bucket.fiscal_quarter_start
        and snapshots.week_of_quarter = rates_by_bucket.week_of_quarter
        and snapshots.close_date_bucket = rates_by_bucket.close_date_bucket
    where snapshots.is_forecast_quarter

),

open_pipeline as (

    select
        fiscal_quarter_start,
        week_of_quarter,
        segment,
        sum(case when is_in_quarter then 1 else 0 end) as open_pipeline_count,
        sum(case when is_in_quarter then amount_corporate end) as open_pipeline_amount_corporate,
        sum(case when not is_in_quarter then amount_corporate end) as outside_quarter_amount_corporate,
        -- products summed as exact decimals (kpi_exact_sum.sql: a float sum depends on row order)
        sum(cast(amount_corporate * learned_rate as {{ dbt.type_numeric() }})) as learned_amount_corporate,
        sum(case when is_fallback = 1 then amount_corporate end) as fallback_amount_corporate,
        -- a NULL probability adds nothing
        sum(
            case when is_in_quarter then cast(amount_corporate * probability / 100.0 as {{ dbt.type_numeric() }}) end
        ) as probability_amount_corporate,
        sum(
            case when is_in_quarter and forecast_category in ('Commit', 'Closed') then amount_corporate end
        ) as commit_amount_corporate
    from open_deals
    group by fiscal_quarter_start, week_of_quarter, segment

),

segments as (

    select distinct segment from opportunities

),

won_to_date as (

    select
        forecast_weeks.fiscal_quarter_start,
        forecast_weeks.week_of_quarter,
        opportunities.segment,
        sum(opportunities.amount_corporate) as won_amount_corporate
    from forecast_weeks
    inner join opportunities
        on forecast_weeks.fiscal_quarter_start <= opportunities.close_date
        and forecast_weeks.as_of_date >= opportunities.close_date
    where opportunities.is_won
    group by forecast_weeks.fiscal_quarter_start, forecast_weeks.week_of_quarter, opportunities.segment

),

segment_weeks as (

    select
        forecast_weeks.fiscal_quarter_start,
        forecast_weeks.fiscal_quarter_end,
        forecast_weeks.fiscal_year,
        forecast_weeks.week_of_quarter,
        forecast_weeks.as_of_date,
        forecast_weeks.is_quarter_complete,
        segments.segment,
        coalesce(won_to_date.won_amount_corporate, 0) as won_to_date_amount_corporate,
        coalesce(open_pipeline.open_pipeline_count, 0) as open_pipeline_count,
        coalesce(open_pipeline.open_pipeline_amount_corporate, 0) as open_pipeline_amount_corporate,
        coalesce(open_pipeline.outside_quarter_amount_corporate, 0) as outside_quarter_amount_corporate,
        -- no past quarter at this week: nothing learned, no forecast
        case
            when training_weeks.training_deal_count is not null
                then coalesce(open_pipeline.learned_amount_corporate, 0)
        end as learned_amount_corporate,
        case
            when training_weeks.training_deal_count is not null
                then coalesce(open_pipeline.fallback_amount_corporate, 0)
        end as fallback_amount_corporate,
        training_weeks.training_deal_count,
        coalesce(open_pipeline.probability_amount_corporate, 0) as probability_amount_corporate,
        coalesce(open_pipeline.commit_amount_corporate, 0) as commit_amount_corporate
    from forecast_weeks
    cross join segments
    left join won_to_date
        on forecast_weeks.fiscal_quarter_start = won_to_date.fiscal_quarter_start
        and forecast_weeks.week_of_quarter = won_to_date.week_of_quarter
        and segments.segment = won_to_date.segment
    left join open_pipeline
        on forecast_weeks.fiscal_quarter_start = open_pipeline.fiscal_quarter_start
        and forecast_weeks.week_of_quarter = open_pipeline.week_of_quarter
        and segments.segment = open_pipeline.segment
    left join training_weeks
        on forecast_weeks.fiscal_quarter_start = training_weeks.fiscal_quarter_start
        and forecast_weeks.week_of_quarter = training_weeks.week_of_quarter

),

by_method as (

    {%- for method in methods %}

    select
        fiscal_quarter_start,
        fiscal_quarter_end,
        fiscal_year,
        week_of_quarter,
        as_of_date,
        is_quarter_complete,
        segment,
        '{{ method }}' as method,
        won_to_date_amount_corporate,
        open_pipeline_count,
        open_pipeline_amount_corporate,
        outside_quarter_amount_corporate,
        {{ method }}_amount_corporate as weighted_pipeline_amount_corporate,
        {%- if method == 'learned' %}
        fallback_amount_corporate as fallback_pipeline_amount_corporate,
        training_deal_count
        {%- else %}
        cast(null as {{ dbt.type_numeric() }}) as fallback_pipeline_amount_corporate,
        cast(null as bigint) as training_deal_count
        {%- endif %}
    from segment_weeks
    {{- '\n    union all' if not loop.last }}
    {%- endfor %}

),

rounded as (

    select
        fiscal_quarter_start,
        fiscal_quarter_end,
        fiscal_year,
        week_of_quarter,
        as_of_date,
        cast(
            {{ dbt.datediff('as_of_date', 'fiscal_quarter_end', 'day') }} as {{ dbt.type_int() }}  -- noqa: LT05
        ) as days_left_in_quarter,
        is_quarter_complete,
        segment,
        method,
        {{ kpi_amount('won_to_date_amount_corporate') }} as won_to_date_amount_corporate,
        cast(open_pipeline_count as bigint) as open_pipeline_count,
        {{ kpi_amount('open_pipeline_amount_corporate') }} as open_pipeline_amount_corporate,
        {{ kpi_amount('outside_quarter_amount_corporate') }} as outside_quarter_pipeline_amount_corporate,
        {{ kpi_amount('weighted_pipeline_amount_corporate') }} as weighted_pipeline_amount_corporate,
        {{ kpi_amount('fallback_pipeline_amount_corporate') }} as fallback_pipeline_amount_corporate,
        cast(training_deal_count as bigint) as training_deal_count
    from by_method

),

final as (

    select
        fiscal_quarter_start,
        fiscal_quarter_end,
        fiscal_year,
        week_of_quarter,
        as_of_date,
        days_left_in_quarter,
        is_quarter_complete,
        segment,
        method,
        won_to_date_amount_corporate,
        open_pipeline_count,
        open_pipeline_amount_corporate,
        outside_quarter_pipeline_amount_corporate,
        weighted_pipeline_amount_corporate,
        -- exact cents: won to date plus the weighted pipeline rounded to the cent once
        {{ kpi_amount('won_to_date_amount_corporate + weighted_pipeline_amount_corporate') }}
            as forecast_amount_corporate,
        fallback_pipeline_amount_corporate,
        training_deal_count
    from rounded

)

select * from final
