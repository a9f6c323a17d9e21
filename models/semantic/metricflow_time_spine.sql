-- MetricFlow's daily time spine (models/semantic/_semantic__models.yml): the days of dim_dates, with the
-- first day of the fiscal quarter as a custom granularity (metric_time__fiscal_quarter).

with dates as (

    select * from {{ ref('dim_dates') }}

),

final as (

    select
        date_day,
        fiscal_quarter_start
    from dates

)

select * from final
