{#-
    One row per day from the earliest date in the data to the end of the year after the latest, so forward
    close dates and next-period coverage always find their day. Fiscal years start in
    var('fiscal_year_start_month') and are named by the calendar year they end in (Salesforce's default).
-#}
{%- set fy_start = var('fiscal_year_start_month') | int -%}
with opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

leads as (

    select * from {{ ref('stg_salesforce__leads') }}

),

activities as (

    select * from {{ ref('int_activities_unioned') }}

),

quotas as (

    select * from {{ ref('stg_salesforce__forecasting_quotas') }}

),

data_dates as (

    select cast(created_at as date) as data_date from opportunities
    union all
    select close_date from opportunities
    union all
    select cast(created_at as date) from leads
    union all
    select activity_date from activities
    union all
    select period_start from quotas

),

bounds as (

    select
        -- start on January 1st so the spine never begins mid-year; current date when there is no data
        {{ trunc_to_date('year', 'coalesce(min(data_date), ' ~ dbt.current_timestamp() ~ ')') }} as first_date,
        -- end on December 31st of the year after the latest date
        {{ add_to_date('day', -1, add_to_date('year', 2, trunc_to_date(
            'year', 'coalesce(max(data_date), cast(' ~ dbt.current_timestamp() ~ ' as date))'
        ))) }} as last_date
    from data_dates

),

numbers as (

    {{ integers(5) }}

),

spine as (

    select {{ add_to_date('day', 'numbers.n', 'bounds.first_date') }} as date_day
    from bounds
    cross join numbers
    where numbers.n <= {{ dbt.datediff('bounds.first_date', 'bounds.last_date', 'day') }}

),

calendar as (

    select
        date_day,
        {{ trunc_to_date('week', 'date_day') }} as week_start,
        {{ trunc_to_date('month', 'date_day') }} as month_start,
        {{ trunc_to_date('quarter', 'date_day') }} as quarter_start,
        {{ trunc_to_date('year', 'date_day') }} as year_start,
        cast(extract(year from date_day) as {{ dbt.type_int() }}) as year_number,
        cast(extract(month from date_day) as {{ dbt.type_int() }}) as month_number,
        cast(extract(quarter from date_day) as {{ dbt.type_int() }}) as quarter_number,
        -- the date shifted so the fiscal year starts in January
        {{ add_to_date('month', -(fy_start - 1), 'date_day') }} as fiscal_shifted_date
    from spine

),

final as (

    select
        date_day,
        week_start,
        month_start,
        quarter_start,
        year_start,
        year_number,
        month_number,
        quarter_number,
        cast(extract(year from fiscal_shifted_date) as {{ dbt.type_int() }}){{ ' + 1' if fy_start != 1 }}
            as fiscal_year,
        {{ add_to_date('month', fy_start - 1, trunc_to_date('quarter', 'fiscal_shifted_date')) }}
            as fiscal_quarter_start,
        cast(extract(quarter from fiscal_shifted_date) as {{ dbt.type_int() }}) as fiscal_quarter_number,
        -- Monday..Friday: days 0-4 after the (Monday) week start; day-of-week numbering differs per engine
        {{ dbt.datediff('week_start', 'date_day', 'day') }} < 5
            as is_weekday
    from calendar

)

select * from final
