-- kpi_activity_effectiveness holds every closed opportunity exactly once (closed / won counts equal
-- fct_opportunities), and kpi_activity_effectiveness_by_category splits the same touches, each once (its
-- touch_count sums to the same total). Returns a row per mismatch.

with facts as (

    select
        sum(case when is_closed and close_date is not null then 1 else 0 end) as closed_count,
        sum(case when is_closed and close_date is not null and is_won then 1 else 0 end) as won_count
    from {{ ref('fct_opportunities') }}

),

buckets as (

    select
        coalesce(sum(closed_opportunity_count), 0) as closed_count,
        coalesce(sum(won_opportunity_count), 0) as won_count,
        coalesce(sum(touch_count), 0) as touch_count
    from {{ ref('kpi_activity_effectiveness') }}

),

categories as (

    select coalesce(sum(touch_count), 0) as touch_count
    from {{ ref('kpi_activity_effectiveness_by_category') }}

)

select
    facts.closed_count as fact_closed_count,
    buckets.closed_count as mart_closed_count,
    facts.won_count as fact_won_count,
    buckets.won_count as mart_won_count,
    buckets.touch_count as bucket_touch_count,
    categories.touch_count as category_touch_count
from facts
cross join buckets
cross join categories
where coalesce(facts.closed_count, 0) <> buckets.closed_count
    or coalesce(facts.won_count, 0) <> buckets.won_count
    or buckets.touch_count <> categories.touch_count
