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

final as (

    select
        close_quarter,
        segment,
        -- the measures kpi_deal_size has too, computed from the deals: a median of monthly medians is
        -- not the quarter's median (macros/kpi/kpi_deal_size_measures.sql)
        {{ kpi_deal_size_measures('amount_corporate') }}
    from won_deals
    group by close_quarter, segment

)

select * from final
