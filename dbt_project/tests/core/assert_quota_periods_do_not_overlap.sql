-- Quota periods of one rep never overlap: kpi_quota_attainment and kpi_pipeline_coverage give a deal to the
-- quota period containing its close date, so two overlapping periods would book it twice. Rows of the SAME
-- period ([period_start, period_end) equal: a split quota) are summed by the marts, not an overlap (their
-- duplicate key is warned by fct_quotas' own test). Returns one row per overlapping pair.
-- Periods are half-open: [a, b) and [c, d) overlap when a < d and c < b.

with quotas as (

    select * from {{ ref('fct_quotas') }}

),

overlapping_pairs as (

    select
        earlier.rep_id,
        earlier.quota_id,
        earlier.period_start,
        earlier.period_end,
        later.quota_id as overlapping_quota_id,
        later.period_start as overlapping_period_start,
        later.period_end as overlapping_period_end
    from quotas as earlier
    inner join quotas as later
        on earlier.rep_id = later.rep_id
        and earlier.quota_id < later.quota_id
        and earlier.period_start < later.period_end
        and earlier.period_end > later.period_start
    where not (earlier.period_start = later.period_start and earlier.period_end = later.period_end)

)

select * from overlapping_pairs
