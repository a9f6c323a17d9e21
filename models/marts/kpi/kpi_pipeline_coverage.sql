-- Definition, grain and choices: doc("kpi_pipeline_coverage") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).
-- The reporting date: var as_of_date, default the latest close/activity date (kpi_as_of_date_select).

{%- set remaining_quota -%}
    case
        when combined.quota_amount_corporate is null then null
        when combined.quota_amount_corporate < combined.bookings_to_date_amount_corporate then 0
        else combined.quota_amount_corporate - combined.bookings_to_date_amount_corporate
    end
{%- endset %}

with opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

activities as (

    select * from {{ ref('fct_activities') }}

),

quotas as (

    select * from {{ ref('fct_quotas') }}

),

reps as (

    select * from {{ ref('dim_reps') }}

),

as_of as (

    {{ kpi_as_of_date_select('opportunities', 'activities') }}

),

rep_candidates as (

    select rep_id from opportunities
    union
    select rep_id from quotas

),

-- the calendar period of var quota_period containing as_of_date: the window of a rep without a quota
calendar_current as (

    select
        as_of_date,
        {{ trunc_to_date(var('quota_period'), 'as_of_date') }} as period_start,
        {{ add_to_date(var('quota_period'), 1, trunc_to_date(var('quota_period'), 'as_of_date')) }} as period_end
    from as_of

),

-- a quota matches a date when its [period_start, period_end) contains the date, so quotas on fiscal
-- quarters or starting mid-month match too; rows of one rep and one period add up (a split quota)
current_quotas as (

    select
        quotas.rep_id,
        quotas.period_start,
        quotas.period_end,
        sum(quotas.quota_amount_corporate) as quota_amount_corporate
    from quotas
    cross join as_of
    where quotas.period_start <= as_of.as_of_date
        and as_of.as_of_date < quotas.period_end
    group by quotas.rep_id, quotas.period_start, quotas.period_end

),

current_windows as (

    select
        rep_candidates.rep_id,
        0 as period_offset,
        calendar_current.as_of_date,
        coalesce(current_quotas.period_start, calendar_current.period_start) as period_start,
        coalesce(current_quotas.period_end, calendar_current.period_end) as period_end,
        current_quotas.quota_amount_corporate
    from rep_candidates
    cross join calendar_current
    left join current_quotas
        on rep_candidates.rep_id = current_quotas.rep_id

),

-- the next period starts where the current one ends: the rep's quota containing that day, else one
-- var quota_period from there
next_quotas as (

    select
        quotas.rep_id,
        quotas.period_start,
        quotas.period_end,
        sum(quotas.quota_amount_corporate) as quota_amount_corporate
    from quotas
    inner join current_windows
        on quotas.rep_id = current_windows.rep_id
        and quotas.period_start <= current_windows.period_end
        and quotas.period_end > current_windows.period_end
    group by quotas.rep_id, quotas.period_start, quotas.period_end

),

next_windows as (

    select
        current_windows.rep_id,
        1 as period_offset,
        current_windows.as_of_date,
        coalesce(next_quotas.period_start, current_windows.period_end) as period_start,
        coalesce(
            next_quotas.period_end,
            {{ add_to_date(var('quota_period'), 1, 'current_windows.period_end') }}
        ) as period_end,
        next_quotas.quota_amount_corporate
    from current_windows
    left join next_quotas
        on current_windows.rep_id = next_quotas.rep_id

),

windows as (

    select * from current_windows
    union all
    select * from next_windows

),

-- the deals closing in a window of their rep: open ones are its pipeline, won ones its bookings
window_opportunities as (

    select
        windows.rep_id,
        windows.period_offset,
        windows.as_of_date,
        opportunities.close_date,
        opportunities.is_closed,
        opportunities.is_won,
        opportunities.amount_corporate
    from opportunities
    inner join windows
        on opportunities.rep_id = windows.rep_id
        and opportunities.close_date >= windows.period_start
        and opportunities.close_date < windows.period_end

),

open_pipeline as (

    select
        rep_id,
        period_offset,
        count(*) as open_opportunity_count,
        coalesce(sum(amount_corporate), 0) as open_pipeline_amount_corporate
    from window_opportunities
    where not is_closed
    group by rep_id, period_offset

),

bookings_to_date as (

    select
        rep_id,
        period_offset,
        sum(amount_corporate) as bookings_to_date_amount_corporate
    from window_opportunities
    where is_won
        and close_date <= as_of_date
    group by rep_id, period_offset

),

combined as (

    select
        windows.rep_id,
        windows.period_offset,
        windows.period_start,
        windows.period_end,
        windows.as_of_date,
        coalesce(open_pipeline.open_opportunity_count, 0) as open_opportunity_count,
        {{ kpi_amount('coalesce(open_pipeline.open_pipeline_amount_corporate, 0)') }} as open_pipeline_amount_corporate,
        {{ kpi_amount('windows.quota_amount_corporate') }} as quota_amount_corporate,
        {{ kpi_amount('coalesce(bookings_to_date.bookings_to_date_amount_corporate, 0)') }}
            as bookings_to_date_amount_corporate
    from windows
    left join open_pipeline
        on windows.rep_id = open_pipeline.rep_id
        and windows.period_offset = open_pipeline.period_offset
    left join bookings_to_date
        on windows.rep_id = bookings_to_date.rep_id
        and windows.period_offset = bookings_to_date.period_offset
    -- a rep-period with no open deal, no booking and no quota says nothing
    where open_pipeline.rep_id is not null
        or bookings_to_date.rep_id is not null
        or windows.quota_amount_corporate is not null

),

described as (

    select
        combined.rep_id,
        combined.period_offset,
        case when combined.period_offset = 0 then 'current' else 'next' end as period_label,
        combined.period_start,
        combined.period_end,
        combined.as_of_date,
        reps.rep_name,
        reps.manager_id,
        reps.manager_name,
        reps.territory_id,
        reps.territory_name,
        combined.open_opportunity_count,
        combined.open_pipeline_amount_corporate,
        combined.quota_amount_corporate,
        combined.bookings_to_date_amount_corporate,
        -- clipped at 0: a quota already met leaves nothing to cover
        {{ kpi_amount(remaining_quota) }} as remaining_quota_amount_corporate
    from combined
    left join reps
        on combined.rep_id = reps.rep_id

),

final as (

    select
        *,
        {{ kpi_safe_divide('open_pipeline_amount_corporate', 'remaining_quota_amount_corporate') }}
            as pipeline_coverage_ratio
    from described

)

select * from final
