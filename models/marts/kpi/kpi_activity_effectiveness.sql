-- Definition, grain and choices: doc("kpi_activity_effectiveness") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with opportunity_touches as (

    select * from {{ ref('int_opportunity_touches_windowed') }}

),

touches_per_opportunity as (

    select
        opportunity_id,
        is_won,
        count(activity_id) as touch_count
    from opportunity_touches
    group by opportunity_id, is_won

),

bucketed as (

    select
        *,
        case
            when touch_count = 0 then '0'
            when touch_count <= 2 then '1-2'
            when touch_count <= 5 then '3-5'
            when touch_count <= 10 then '6-10'
            else '11+'
        end as touch_bucket,
        case
            when touch_count = 0 then 0
            when touch_count <= 2 then 1
            when touch_count <= 5 then 2
            when touch_count <= 10 then 3
            else 4
        end as touch_bucket_order
    from touches_per_opportunity

),

final as (

    select
        touch_bucket,
        touch_bucket_order,
        count(*) as closed_opportunity_count,
        cast(sum({{ kpi_flag('is_won') }}) as bigint) as won_opportunity_count,
        cast(sum({{ kpi_flag('not is_won') }}) as bigint) as lost_opportunity_count,
        cast(sum(touch_count) as bigint) as touch_count,
        cast(sum(case when is_won then touch_count else 0 end) as bigint) as won_touch_count,
        cast(sum(case when not is_won then touch_count else 0 end) as bigint) as lost_touch_count,
        {{ kpi_safe_divide('sum(' ~ kpi_flag('is_won') ~ ')', 'count(*)') }} as win_rate
    from bucketed
    group by touch_bucket, touch_bucket_order

)

select * from final
