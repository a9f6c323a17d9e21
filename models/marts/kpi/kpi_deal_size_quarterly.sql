-- Definition, grain and choices: doc("kpi_deal_size") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

won_deals as (

    select
        close_quarter,
        segment,
        amount_corporate
    from opportunities
    where is_won
        and amount_corporate is not null

),

by_quarter as (

    select
        close_quarter,
        segment,
        count(*) as won_deal_count,
        sum(amount_corporate) as won_amount_corporate,
        {{ kpi_percentile_cont(0.5, 'amount_corporate') }} as median_deal_size_corporate
    from won_deals
    group by close_quarter, segment

),

final as (

    select
        close_quarter,
        segment,
        won_deal_count,
        {{ kpi_amount('won_amount_corporate') }} as won_amount_corporate,
        {{ kpi_safe_divide('won_amount_corporate', 'won_deal_count') }} as avg_deal_size_corporate,
        cast(median_deal_size_corporate as {{ type_double() }}) as median_deal_size_corporate
    from by_quarter

)

select * from final
