-- Definition, grain and choices: doc("kpi_forecast_accuracy") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with forecasts as (

    select * from {{ ref('kpi_forecast') }}

),

bookings as (

    select * from {{ ref('kpi_bookings') }}

),

-- the company forecast of each complete quarter, week and method: the sum over segments (NULL when a
-- segment's is: the learned method before anything could be learned)
company_forecasts as (

    select
        fiscal_quarter_start,
        week_of_quarter,
        method,
        min(as_of_date) as as_of_date,
        case
            when count(forecast_amount_corporate) = count(*) then sum(forecast_amount_corporate)
        end as forecast_amount_corporate
    from forecasts
    where is_quarter_complete
    group by fiscal_quarter_start, week_of_quarter, method

),

actuals as (

    select
        fiscal_quarter_start,
        sum(bookings_amount_corporate) as actual_amount_corporate
    from bookings
    where fiscal_quarter_start is not null
    group by fiscal_quarter_start

),

-- a quarter-week counts in the comparison of methods when every method forecast it
comparable_weeks as (

    select
        fiscal_quarter_start,
        week_of_quarter
    from company_forecasts
    group by fiscal_quarter_start, week_of_quarter
    having count(forecast_amount_corporate) = count(*)

),

errors as (

    select
        company_forecasts.fiscal_quarter_start,
        company_forecasts.week_of_quarter,
        company_forecasts.method,
        company_forecasts.as_of_date,
        company_forecasts.forecast_amount_corporate,
        coalesce(actuals.actual_amount_corporate, 0) as actual_amount_corporate,
        company_forecasts.forecast_amount_corporate - coalesce(actuals.actual_amount_corporate, 0) as error_amount,
        comparable_weeks.week_of_quarter is not null as is_comparable
    from company_forecasts
    left join actuals
        on company_forecasts.fiscal_quarter_start = actuals.fiscal_quarter_start
    left join comparable_weeks
        on company_forecasts.fiscal_quarter_start = comparable_weeks.fiscal_quarter_start
        and company_forecasts.week_of_quarter = comparable_weeks.week_of_quarter

),

final as (

    select
        fiscal_quarter_start,
        week_of_quarter,
        method,
        as_of_date,
        {{ kpi_amount('forecast_amount_corporate') }} as forecast_amount_corporate,
        {{ kpi_amount('actual_amount_corporate') }} as actual_amount_corporate,
        {{ kpi_amount('error_amount') }} as error_amount_corporate,
        {{ kpi_amount('abs(error_amount)') }} as absolute_error_amount_corporate,
        {{ kpi_safe_divide('error_amount', 'actual_amount_corporate') }} as percentage_error,
        {{ kpi_safe_divide('abs(error_amount)', 'actual_amount_corporate') }} as absolute_percentage_error,
        is_comparable
    from errors

)

select * from final
