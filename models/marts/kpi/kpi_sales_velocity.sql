-- Definition, grain and choices: doc("kpi_sales_velocity") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

activities as (

    select * from {{ ref('fct_activities') }}

),

reps as (

    select * from {{ ref('dim_reps') }}

),

as_of as (

    {{ kpi_as_of_date_select('opportunities', 'activities') }}

),

window_bounds as (

    select
        as_of_date,
        {{ add_to_date('month', -12, 'as_of_date') }} as window_start_exclusive
    from as_of

),

flagged as (

    select
        opportunities.rep_id,
        opportunities.segment,
        opportunities.amount_corporate,
        opportunities.cycle_days,
        opportunities.is_won,
        not opportunities.is_closed as is_open,
        coalesce(
            opportunities.is_closed
            and opportunities.close_date > window_bounds.window_start_exclusive
            and opportunities.close_date <= window_bounds.as_of_date,
            false
        ) as is_closed_in_window
    from opportunities
    cross join window_bounds

),

windowed as (

    select
        *,
        is_closed_in_window and coalesce(is_won, false) as is_won_in_window
    from flagged

),

components as (

    select
        rep_id,
        segment,
        cast(sum({{ kpi_flag('is_open') }}) as bigint) as open_opportunity_count,
        cast(sum({{ kpi_flag('is_closed_in_window') }}) as bigint) as closed_count,
        cast(sum({{ kpi_flag('is_won_in_window') }}) as bigint) as won_count,
        {{ kpi_amount('coalesce(sum(case when is_won_in_window then amount_corporate end), 0)') }}
            as won_amount_corporate,
        count(case when is_won_in_window then amount_corporate end) as won_with_amount_count,
        cast(coalesce(sum(case when is_won_in_window then cycle_days end), 0) as bigint) as won_cycle_days_sum,
        count(case when is_won_in_window then cycle_days end) as won_with_cycle_count
    from windowed
    group by rep_id, segment

),

rates as (

    select
        components.*,
        {{ kpi_safe_divide('won_count', 'closed_count') }} as win_rate,
        {{ kpi_safe_divide('won_amount_corporate', 'won_with_amount_count') }} as avg_deal_size_corporate,
        {{ kpi_safe_divide('won_cycle_days_sum', 'won_with_cycle_count') }} as avg_sales_cycle_days
    from components
    where components.open_opportunity_count > 0
        or components.closed_count > 0

),

final as (

    select
        rates.rep_id,
        rates.segment,
        reps.rep_name,
        reps.manager_id,
        reps.territory_id,
        window_bounds.as_of_date,
        {{ add_to_date('day', 1, 'window_bounds.window_start_exclusive') }} as window_start_date,
        rates.open_opportunity_count,
        rates.closed_count,
        rates.won_count,
        rates.won_amount_corporate,
        rates.won_with_amount_count,
        rates.won_cycle_days_sum,
        rates.won_with_cycle_count,
        rates.win_rate,
        -- money, rounded to the cent; the velocity is computed from the exact average, then rounded
        {{ kpi_amount('rates.avg_deal_size_corporate') }} as avg_deal_size_corporate,
        rates.avg_sales_cycle_days,
        -- the cast wraps the whole case, so that PostgreSQL keeps the column's scale (2)
        {%- set velocity %}
        case
            when rates.avg_deal_size_corporate > 0 and rates.avg_sales_cycle_days > 0
                then {{ kpi_safe_divide('rates.open_opportunity_count * rates.win_rate * rates.avg_deal_size_corporate',
                    'rates.avg_sales_cycle_days') }}
        end
        {%- endset %}
        {{ kpi_amount(velocity) }} as sales_velocity_corporate_per_day
    from rates
    cross join window_bounds
    left join reps
        on rates.rep_id = reps.rep_id

)

select * from final
