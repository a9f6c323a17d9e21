-- Definition, grain and choices: doc("kpi_forecast_accuracy") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with accuracy as (

    select * from {{ ref('kpi_forecast_accuracy') }}

),

-- the quarter-weeks every method forecast (the learned method needs an earlier quarter), so the methods
-- are compared on the same quarters
comparable as (

    select * from accuracy
    where is_comparable
        and absolute_percentage_error is not null

),

by_week as (

    select
        method,
        week_of_quarter,
        count(*) as quarter_count,
        {{ kpi_exact_sum('absolute_percentage_error') }} as absolute_percentage_error_sum,
        {{ kpi_exact_sum('percentage_error') }} as percentage_error_sum
    from comparable
    group by method, week_of_quarter

),

by_method as (

    select
        method,
        sum(quarter_count) as quarter_week_count,
        {{ kpi_exact_sum('absolute_percentage_error_sum') }} as absolute_percentage_error_sum
    from by_week
    group by method

),

final as (

    select
        by_week.method,
        cast(by_week.week_of_quarter as {{ dbt.type_int() }}) as week_of_quarter,
        cast(by_week.quarter_count as bigint) as quarter_count,
        by_week.absolute_percentage_error_sum,
        {{ kpi_safe_divide('by_week.absolute_percentage_error_sum', 'by_week.quarter_count') }}
            as mean_absolute_percentage_error,
        {{ kpi_safe_divide('by_week.percentage_error_sum', 'by_week.quarter_count') }} as mean_percentage_error,
        {{ kpi_safe_divide('by_method.absolute_percentage_error_sum', 'by_method.quarter_week_count') }}
            as mean_absolute_percentage_error_all_weeks
    from by_week
    inner join by_method
        on by_week.method = by_method.method

)

select * from final
