-- Bookings in kpi_bookings (and in kpi_quota_attainment, kpi_deal_size and kpi_deal_size_quarterly) equal
-- the won amount_corporate of fct_opportunities, and the won deal counts match: no deal lost or counted
-- twice between layers. Returns a row per mismatch.
-- Attached to kpi_bookings: dagster-dbt makes a test with several parents an asset check only when told
-- which asset it checks; so it is a blocking check of kpi_bookings, also when that mart is built alone.
{{ config(meta={'dagster': {'ref': {'name': 'kpi_bookings'}}}) }}

with facts as (

    select
        coalesce(sum(case when is_won then amount_corporate end), 0) as won_amount_corporate,
        sum(case when is_won then 1 else 0 end) as won_count,
        sum(case when is_won and amount_corporate is not null then 1 else 0 end) as won_with_amount_count
    from {{ ref('fct_opportunities') }}

),

marts as (

    select
        'kpi_bookings' as mart,
        coalesce(sum(bookings_amount_corporate), 0) as won_amount_corporate,
        coalesce(sum(won_deal_count), 0) as won_count
    from {{ ref('kpi_bookings') }}

    union all

    select
        'kpi_quota_attainment' as mart,
        coalesce(sum(bookings_amount_corporate), 0) as won_amount_corporate,
        coalesce(sum(won_deal_count), 0) as won_count
    from {{ ref('kpi_quota_attainment') }}

    union all

    select
        'kpi_deal_size' as mart,
        coalesce(sum(deal_size.won_amount_corporate), 0) as won_amount_corporate,
        -- deal size counts only won deals with an amount
        coalesce(sum(deal_size.won_deal_count), 0) + max(facts.won_count - facts.won_with_amount_count)
            as won_count
    from {{ ref('kpi_deal_size') }} as deal_size
    cross join facts

    union all

    select
        'kpi_deal_size_quarterly' as mart,
        coalesce(sum(deal_size.won_amount_corporate), 0) as won_amount_corporate,
        coalesce(sum(deal_size.won_deal_count), 0) + max(facts.won_count - facts.won_with_amount_count)
            as won_count
    from {{ ref('kpi_deal_size_quarterly') }} as deal_size
    cross join facts

)

select
    marts.mart,
    marts.won_amount_corporate as mart_amount,
    facts.won_amount_corporate as fact_amount,
    marts.won_count as mart_count,
    facts.won_count as fact_count
from marts
cross join facts
where abs(marts.won_amount_corporate - facts.won_amount_corporate)
    > 0.01 + 1e-9 * abs(facts.won_amount_corporate)
    or marts.won_count <> facts.won_count
