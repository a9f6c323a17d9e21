{#-
    Pipeline waterfall (docs/KPI_DEFINITIONS.md "Pipeline changes"): how the pipeline of a target quarter
    moved between two as-of dates, per period grain (week, quarter_to_date), period and group (rep,
    territory, segment). Every movement is one documented definition; they reconcile exactly:
        closing = opening + new + pulled_in + reopened + restored + transferred_in + increased - decreased
                  + currency_change - pushed_out - won - lost - deleted - transferred_out
    (counts alike, without increased / decreased / currency_change).

    Incremental (delete+insert on period_grain and period_start): a period's rows read the pipeline of its
    opening and closing as-of dates only (and the states of those dates, which change only on days
    fct_pipeline_daily rebuilds). A build recomputes the periods whose closing as-of date is on or after
    the first as-of date with fct_pipeline_daily rows written since this model's last build (rebuilt days,
    new days, rows the `pipeline_regroup` post-hook restated); earlier periods read nothing that changed.
    Spark rebuilds it as a table.
-#}
{{ config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='delete+insert',
    unique_key=['period_grain', 'period_start'],
    on_schema_change='append_new_columns',
) }}
-- not materialized: the readers below need two as-of dates of it, or one column (macros/not_materialized.sql)
with pipeline as {{ not_materialized() }} (

    select * from {{ ref('fct_pipeline_daily') }}

),

states as (

    select * from {{ ref('int_opportunity_states_ranged') }}

),

bounds as (

    select
        min(as_of_date) as first_as_of_date,
        max(as_of_date) as last_as_of_date
    from pipeline

),

{%- if is_incremental() %}

changed as (

    -- the first as-of date whose pipeline rows were written since this model's last build
    select min(as_of_date) as first_changed_date
    from pipeline
    where _built_at > {{ incremental_watermark('_built_at') }}

),
{%- endif %}

as_of_dates as (

    select distinct as_of_date from pipeline

),

periods as (

    select distinct
        'week' as period_grain,
        {{ trunc_to_date('week', 'as_of_date') }} as period_start
    from as_of_dates

    union all

    select distinct
        'quarter_to_date' as period_grain,
        {{ trunc_to_date('quarter', 'as_of_date') }} as period_start
    from as_of_dates

),

period_bounds as (

    select
        periods.period_grain,
        periods.period_start,
        case
            when periods.period_grain = 'week' then {{ add_to_date('day', 6, 'periods.period_start') }}
            else {{ add_to_date('day', -1, add_to_date('quarter', 1, 'periods.period_start')) }}
        end as period_end,
        {{ add_to_date('day', -1, 'periods.period_start') }} as opening_as_of_date,
        bounds.last_as_of_date
    from periods
    cross join bounds
    -- a period needs the pipeline of the day before it
    where {{ add_to_date('day', -1, 'periods.period_start') }} >= bounds.first_as_of_date

),

windows as (

    -- the closing as-of date is the period's last day, or the latest as-of date while it runs; the target
    -- quarter is the calendar quarter of the closing as-of date
    select
        period_grain,
        period_start,
        period_end,
        opening_as_of_date,
        closing_as_of_date,
        {{ trunc_to_date('quarter', 'closing_as_of_date') }} as target_quarter_start,
        {{ add_to_date('quarter', 1, trunc_to_date('quarter', 'closing_as_of_date')) }} as target_quarter_end
    from (
        select
            period_grain,
            period_start,
            period_end,
            opening_as_of_date,
            case when period_end < last_as_of_date then period_end else last_as_of_date end as closing_as_of_date
        from period_bounds
    ) as dated
    {%- if is_incremental() %}
    -- only the periods whose closing (so also opening) pipeline can have changed
    where closing_as_of_date >= (select changed.first_changed_date from changed)
    {%- endif %}

),

opening as (

    select
        windows.period_grain,
        windows.period_start,
        pipeline.opportunity_id,
        pipeline.rep_id,
        pipeline.territory_id,
        pipeline.segment,
        pipeline.currency_iso_code,
        pipeline.amount,
        pipeline.conversion_rate,
        coalesce(pipeline.amount_corporate, 0) as amount_corporate,
        pipeline.close_date >= windows.target_quarter_start
        and pipeline.close_date < windows.target_quarter_end as is_in_window
    from windows
    inner join pipeline
        on windows.opening_as_of_date = pipeline.as_of_date

),

closing as (

    select
        windows.period_grain,
        windows.period_start,
        pipeline.opportunity_id,
        pipeline.rep_id,
        pipeline.territory_id,
        pipeline.segment,
        pipeline.currency_iso_code,
        pipeline.conversion_rate,
        coalesce(pipeline.amount_corporate, 0) as amount_corporate,
        pipeline.close_date >= windows.target_quarter_start
        and pipeline.close_date < windows.target_quarter_end as is_in_window
    from windows
    inner join pipeline
        on windows.closing_as_of_date = pipeline.as_of_date

),

paired as (

    -- every opportunity in the window's pipeline at either end, with its state at the other end
    select
        windows.period_grain,
        windows.period_start,
        windows.opening_as_of_date,
        windows.closing_as_of_date,
        coalesce(opening.opportunity_id, closing.opportunity_id) as opportunity_id,
        coalesce(opening.is_in_window, false) as is_in_opening,
        coalesce(closing.is_in_window, false) as is_in_closing,
        opening.opportunity_id is not null as is_open_at_opening,
        closing.opportunity_id is not null as is_open_at_closing,
        opening.rep_id as opening_rep_id,
        opening.territory_id as opening_territory_id,
        opening.segment as opening_segment,
        opening.amount_corporate as opening_amount,
        closing.rep_id as closing_rep_id,
        closing.territory_id as closing_territory_id,
        closing.segment as closing_segment,
        closing.amount_corporate as closing_amount,
        -- the opening amount at the closing rate, when the currency stayed and both ends have a rate
        case
            when opening.currency_iso_code = closing.currency_iso_code
                and opening.conversion_rate <> 0
                and closing.conversion_rate <> 0
                then {{ corporate_amount('coalesce(opening.amount, 0)', 'closing.conversion_rate') }}
        end as opening_amount_at_closing_rate
    from opening
    full outer join closing
        on opening.period_grain = closing.period_grain
        and opening.period_start = closing.period_start
        and opening.opportunity_id = closing.opportunity_id
    inner join windows
        on coalesce(opening.period_grain, closing.period_grain) = windows.period_grain
        and coalesce(opening.period_start, closing.period_start) = windows.period_start
    where coalesce(opening.is_in_window, false) or coalesce(closing.is_in_window, false)

),

with_status as (

    -- the status (won, lost, deleted, open) at the end that is not in the pipeline, when it matters
    select
        paired.*,
        opening_states.status as opening_status,
        closing_states.status as closing_status
    from paired
    left join states as opening_states
        on not paired.is_open_at_opening
        and paired.opportunity_id = opening_states.opportunity_id
        and paired.opening_as_of_date >= opening_states.valid_from
        and (opening_states.valid_to is null or paired.opening_as_of_date < opening_states.valid_to)
    left join states as closing_states
        on not paired.is_open_at_closing
        and paired.opportunity_id = closing_states.opportunity_id
        and paired.closing_as_of_date >= closing_states.valid_from
        and (closing_states.valid_to is null or paired.closing_as_of_date < closing_states.valid_to)

),

classified as (

    select
        with_status.*,
        case
            when with_status.is_in_opening and with_status.is_in_closing then 'stayed'
            when with_status.is_in_opening and with_status.is_open_at_closing then 'pushed_out'
            when with_status.is_in_opening and with_status.closing_status = 'won' then 'won'
            when with_status.is_in_opening and with_status.closing_status = 'lost' then 'lost'
            when with_status.is_in_opening then 'deleted'
            when with_status.is_open_at_opening then 'pulled_in'
            when with_status.opening_status in ('won', 'lost') then 'reopened'
            when with_status.opening_status = 'deleted' then 'restored'
            else 'new'
        end as movement,
        with_status.is_in_opening and with_status.is_in_closing
        and not (
            with_status.opening_rep_id = with_status.closing_rep_id
            and {{ kpi_null_safe_equal('opening_territory_id', 'closing_territory_id') }}
            and with_status.opening_segment = with_status.closing_segment
        ) as is_transferred,
        -- change of value of a deal that stayed: at constant rate (amount) and the rest (conversion)
        case
            when with_status.opening_amount_at_closing_rate is not null
                then with_status.closing_amount - with_status.opening_amount_at_closing_rate
            else 0
        end as amount_change,
        case
            when with_status.opening_amount_at_closing_rate is not null
                then with_status.opening_amount_at_closing_rate - with_status.opening_amount
            else with_status.closing_amount - with_status.opening_amount
        end as currency_change
    from with_status

),

movement_kinds as (

    -- which side's group and amount each movement of a deal is counted in (`movements`)
    select
        'opening' as movement_kind,
        'opening' as side
    union all
    select
        'closing' as movement_kind,
        'closing' as side
    union all
    select
        'exit' as movement_kind,
        'opening' as side
    union all
    select
        'entry' as movement_kind,
        'closing' as side
    union all
    select
        'transferred_out' as movement_kind,
        'opening' as side
    union all
    select
        'transferred_in' as movement_kind,
        'closing' as side
    union all
    select
        'increased' as movement_kind,
        'closing' as side
    union all
    select
        'decreased' as movement_kind,
        'closing' as side
    union all
    select
        'currency_change' as movement_kind,
        'closing' as side

),

movements as (

    -- one row per opportunity, movement and group: exits in the opening group at the opening amount,
    -- entries and changes in the closing group at the closing amount. One pass over `classified`: a
    -- union of one select per movement read it nine times, so DuckDB kept all of it in memory, and at L
    -- the full build ran out of its 4 GB while kpi_forecast was built beside it
    select
        classified.period_grain,
        classified.period_start,
        case when kinds.side = 'opening' then classified.opening_rep_id else classified.closing_rep_id end as rep_id,
        case
            when kinds.side = 'opening' then classified.opening_territory_id else classified.closing_territory_id
        end as territory_id,
        case when kinds.side = 'opening' then classified.opening_segment else classified.closing_segment end as segment,
        case when kinds.movement_kind in ('exit', 'entry') then classified.movement else kinds.movement_kind end
            as movement,
        case
            when kinds.movement_kind in ('opening', 'exit', 'transferred_out', 'transferred_in')
                then classified.opening_amount
            when kinds.movement_kind in ('closing', 'entry') then classified.closing_amount
            when kinds.movement_kind = 'increased' then classified.amount_change
            when kinds.movement_kind = 'decreased' then -classified.amount_change
            else classified.currency_change
        end as amount_corporate,
        case when kinds.movement_kind = 'currency_change' then 0 else 1 end as deals
    from classified
    cross join movement_kinds as kinds
    where
        (kinds.movement_kind = 'opening' and classified.is_in_opening)
        or (kinds.movement_kind = 'closing' and classified.is_in_closing)
        or (kinds.movement_kind = 'exit' and classified.movement in ('pushed_out', 'won', 'lost', 'deleted'))
        or (kinds.movement_kind = 'entry' and classified.movement in ('new', 'pulled_in', 'reopened', 'restored'))
        or (kinds.movement_kind in ('transferred_out', 'transferred_in') and classified.is_transferred)
        or (kinds.movement_kind = 'increased' and classified.movement = 'stayed' and classified.amount_change > 0)
        or (kinds.movement_kind = 'decreased' and classified.movement = 'stayed' and classified.amount_change < 0)
        or (
            kinds.movement_kind = 'currency_change'
            and classified.movement = 'stayed'
            and classified.currency_change <> 0
        )

),

{%- set movement_names = [
    'opening', 'new', 'pulled_in', 'reopened', 'restored', 'transferred_in', 'increased', 'decreased',
    'pushed_out', 'won', 'lost', 'deleted', 'transferred_out', 'closing',
] %}

aggregated as (

    select
        period_grain,
        period_start,
        rep_id,
        territory_id,
        segment,
        {%- for name in movement_names %}
        {{ money("sum(case when movement = '" ~ name ~ "' then amount_corporate else 0 end)") }}
            as {{ name }}_amount_corporate,
        cast(sum(case when movement = '{{ name }}' then deals else 0 end) as {{ dbt.type_bigint() }})
            as {{ name }}_count,
        {%- endfor %}
        {{ money("sum(case when movement = 'currency_change' then amount_corporate else 0 end)") }}
            as currency_change_amount_corporate
    from movements
    group by period_grain, period_start, rep_id, territory_id, segment

),

final as (

    select
        aggregated.period_grain,
        aggregated.period_start,
        windows.period_end,
        windows.opening_as_of_date,
        windows.closing_as_of_date,
        windows.closing_as_of_date = windows.period_end as is_period_complete,
        windows.target_quarter_start,
        aggregated.rep_id,
        aggregated.territory_id,
        aggregated.segment,
        aggregated.opening_amount_corporate,
        aggregated.opening_count,
        aggregated.new_amount_corporate,
        aggregated.new_count,
        aggregated.pulled_in_amount_corporate,
        aggregated.pulled_in_count,
        aggregated.reopened_amount_corporate,
        aggregated.reopened_count,
        aggregated.restored_amount_corporate,
        aggregated.restored_count,
        aggregated.transferred_in_amount_corporate,
        aggregated.transferred_in_count,
        aggregated.increased_amount_corporate,
        aggregated.increased_count,
        aggregated.decreased_amount_corporate,
        aggregated.decreased_count,
        aggregated.currency_change_amount_corporate,
        aggregated.pushed_out_amount_corporate,
        aggregated.pushed_out_count,
        aggregated.won_amount_corporate,
        aggregated.won_count,
        aggregated.lost_amount_corporate,
        aggregated.lost_count,
        aggregated.deleted_amount_corporate,
        aggregated.deleted_count,
        aggregated.transferred_out_amount_corporate,
        aggregated.transferred_out_count,
        aggregated.closing_amount_corporate,
        aggregated.closing_count,
        {{ built_at() }} as _built_at
    from aggregated
    inner join windows
        on aggregated.period_grain = windows.period_grain
        and aggregated.period_start = windows.period_start

)

select * from final
