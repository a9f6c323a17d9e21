-- Won, lost and closed counts (and closed amounts) in kpi_win_rate equal the closed opportunities of
-- fct_opportunities, per close month. The fact counts positive and the mart negative; any month whose
-- totals do not cancel out is returned.
-- Attached to kpi_win_rate: dagster-dbt makes a test with several parents an asset check only when told
-- which asset it checks; so it is a blocking check of kpi_win_rate, also when that mart is built alone.
{{ config(meta={'dagster': {'ref': {'name': 'kpi_win_rate'}}}) }}

with differences as (

    select
        close_month,
        sum(case when is_won then 1 else 0 end) as won_count,
        sum(case when is_won then 0 else 1 end) as lost_count,
        count(*) as closed_count,
        coalesce(sum(amount_corporate), 0) as closed_amount_corporate
    from {{ ref('fct_opportunities') }}
    where is_closed
    group by close_month

    union all

    select
        close_month,
        -sum(won_count) as won_count,
        -sum(lost_count) as lost_count,
        -sum(closed_count) as closed_count,
        -sum(closed_amount_corporate) as closed_amount_corporate
    from {{ ref('kpi_win_rate') }}
    group by close_month

)

select
    close_month,
    sum(won_count) as won_count_difference,
    sum(lost_count) as lost_count_difference,
    sum(closed_count) as closed_count_difference,
    sum(closed_amount_corporate) as closed_amount_difference
from differences
group by close_month
having sum(won_count) <> 0
    or sum(lost_count) <> 0
    or sum(closed_count) <> 0
    or abs(sum(closed_amount_corporate)) > 0.01
