-- Definition, grain and choices: doc("kpi_activity_effectiveness") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with opportunity_touches as (

    select * from {{ ref('int_opportunity_touches_windowed') }}

),

touches as (

    select
        category,
        case when is_won then 'won' else 'lost' end as outcome,
        duration_minutes
    from opportunity_touches
    where activity_id is not null

),

final as (

    select
        category,
        outcome,
        count(*) as touch_count,
        {{ kpi_exact_sum('coalesce(duration_minutes, 0)') }} as touch_minutes
    from touches
    group by category, outcome

)

select * from final
