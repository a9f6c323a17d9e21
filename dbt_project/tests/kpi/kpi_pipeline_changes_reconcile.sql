{#-
    The pipeline waterfall reconciles, for every period grain, period and group (rep, territory, segment):
    closing = opening + entries - exits + value changes, in amount and in count (docs/KPI_DEFINITIONS.md
    "Pipeline changes"); and per period, opening and closing equal fct_pipeline_daily's pipeline of the
    target quarter at the two as-of dates. Returns the rows that do not.
-#}
with changes as (

    select * from {{ ref('kpi_pipeline_changes') }}

),

pipeline as (

    select * from {{ ref('fct_pipeline_daily') }}

),

rows_not_reconciled as (

    select
        period_grain,
        period_start,
        rep_id,
        'row' as check_name
    from changes
    where closing_amount_corporate <> opening_amount_corporate + new_amount_corporate
        + pulled_in_amount_corporate + reopened_amount_corporate + restored_amount_corporate
        + transferred_in_amount_corporate + increased_amount_corporate - decreased_amount_corporate
        + currency_change_amount_corporate - pushed_out_amount_corporate - won_amount_corporate
        - lost_amount_corporate - deleted_amount_corporate - transferred_out_amount_corporate
        or closing_count <> opening_count + new_count + pulled_in_count + reopened_count + restored_count
        + transferred_in_count - pushed_out_count - won_count - lost_count - deleted_count
        - transferred_out_count

),

periods as (

    select
        period_grain,
        period_start,
        opening_as_of_date,
        closing_as_of_date,
        target_quarter_start,
        sum(opening_amount_corporate) as opening_amount,
        sum(opening_count) as opening_count,
        sum(closing_amount_corporate) as closing_amount,
        sum(closing_count) as closing_count
    from changes
    group by period_grain, period_start, opening_as_of_date, closing_as_of_date, target_quarter_start

),

period_ends as (

    -- each period's two as-of dates, once when they are the same day (an equi-join below: a join on
    -- `as_of_date in (opening, closing)` made DuckDB compare every pipeline row with every period)
    select
        period_grain,
        period_start,
        target_quarter_start,
        opening_as_of_date as as_of_date
    from periods
    union
    select
        period_grain,
        period_start,
        target_quarter_start,
        closing_as_of_date as as_of_date
    from periods

),

pipeline_ends as (

    select
        period_ends.period_grain,
        period_ends.period_start,
        period_ends.as_of_date,
        sum(coalesce(pipeline.amount_corporate, 0)) as amount,
        count(*) as deals
    from period_ends
    inner join pipeline
        on period_ends.as_of_date = pipeline.as_of_date
        and period_ends.target_quarter_start <= pipeline.close_date
        and pipeline.close_date < {{ add_to_date('quarter', 1, 'period_ends.target_quarter_start') }}
    group by period_ends.period_grain, period_ends.period_start, period_ends.as_of_date

),

ends_not_reconciled as (

    select
        periods.period_grain,
        periods.period_start,
        cast(null as {{ dbt.type_string() }}) as rep_id,
        'pipeline_ends' as check_name
    from periods
    left join pipeline_ends as opening_end
        on periods.period_grain = opening_end.period_grain
        and periods.period_start = opening_end.period_start
        and periods.opening_as_of_date = opening_end.as_of_date
    left join pipeline_ends as closing_end
        on periods.period_grain = closing_end.period_grain
        and periods.period_start = closing_end.period_start
        and periods.closing_as_of_date = closing_end.as_of_date
    where periods.opening_amount <> coalesce(opening_end.amount, 0)
        or periods.opening_count <> coalesce(opening_end.deals, 0)
        or periods.closing_amount <> coalesce(closing_end.amount, 0)
        or periods.closing_count <> coalesce(closing_end.deals, 0)

),

final as (

    select * from rows_not_reconciled
    union all
    select * from ends_not_reconciled

)

select * from final
