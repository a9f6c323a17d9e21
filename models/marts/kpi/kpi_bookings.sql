-- Definition, grain and choices: doc("kpi_bookings") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

{#- the grain (close month, rep, territory, segment, type, lead source) and the month's attributes: the
    columns final selects and groups by -#}
{%- set dimensions = [
    'close_month', 'close_quarter', 'fiscal_year', 'fiscal_quarter_start',
    'rep_id', 'territory_id', 'segment', 'opportunity_type', 'lead_source',
] %}

with opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

dates as (

    select * from {{ ref('dim_dates') }}

),

won_opportunities as (

    select
        opportunities.close_month,
        opportunities.close_quarter,
        dates.fiscal_year,
        dates.fiscal_quarter_start,
        opportunities.rep_id,
        opportunities.territory_id,
        opportunities.segment,
        opportunities.opportunity_type,
        opportunities.lead_source,
        opportunities.amount_corporate
    from opportunities
    left join dates
        on opportunities.close_date = dates.date_day
    where opportunities.is_won

),

final as (

    select
        {{ dimensions | join(',\n        ') }},
        count(*) as won_deal_count,
        -- a won deal without an amount counts as a deal but adds nothing to bookings
        count(amount_corporate) as won_deal_with_amount_count,
        {{ kpi_amount('coalesce(sum(amount_corporate), 0)') }} as bookings_amount_corporate
    from won_opportunities
    group by {{ dimensions | join(', ') }}

)

select * from final
