-- Definition, grain and choices: doc("kpi_win_rate") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

{#- the grain (close month, rep, territory, segment, lead source) and the month's attributes: the columns
    counted selects and groups by -#}
{%- set dimensions = [
    'close_month', 'close_quarter', 'fiscal_quarter_start', 'rep_id', 'territory_id', 'segment', 'lead_source',
] %}

with opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

dates as (

    select * from {{ ref('dim_dates') }}

),

closed_opportunities as (

    select
        opportunities.close_month,
        opportunities.close_quarter,
        dates.fiscal_quarter_start,
        opportunities.rep_id,
        opportunities.territory_id,
        opportunities.segment,
        opportunities.lead_source,
        -- a closed stage missing from the seed has no is_won: count it as lost, not as nothing
        coalesce(opportunities.is_won, false) as is_won,
        opportunities.amount_corporate
    from opportunities
    left join dates
        on opportunities.close_date = dates.date_day
    where opportunities.is_closed

),

counted as (

    select
        {{ dimensions | join(',\n        ') }},
        cast(sum({{ kpi_flag('is_won') }}) as bigint) as won_count,
        cast(sum({{ kpi_flag('not is_won') }}) as bigint) as lost_count,
        count(*) as closed_count,
        {{ kpi_amount('coalesce(sum(case when is_won then amount_corporate end), 0)') }} as won_amount_corporate,
        {{ kpi_amount('coalesce(sum(case when not is_won then amount_corporate end), 0)') }}
            as lost_amount_corporate,
        {{ kpi_amount('coalesce(sum(amount_corporate), 0)') }} as closed_amount_corporate
    from closed_opportunities
    group by {{ dimensions | join(', ') }}

),

final as (

    select
        *,
        {{ kpi_safe_divide('won_count', 'closed_count') }} as win_rate_by_count,
        {{ kpi_safe_divide('won_amount_corporate', 'closed_amount_corporate') }} as win_rate_by_amount
    from counted

)

select * from final
