{#-
    Data-quality findings: odd but possible source data, modelled (never dropped, never a failed run) and
    counted here, one row per check (0 when none). The warn test dq_findings_are_zero reports any check
    with rows. How each case is treated: docs/KPI_DEFINITIONS.md "Odd source data".
-#}
with opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

leads as (

    select * from {{ ref('fct_leads') }}

),

activities as (

    select * from {{ ref('fct_activities') }}

),

staged_quotas as (

    select * from {{ ref('stg_salesforce__forecasting_quotas') }}

),

quotas as (

    select * from {{ ref('fct_quotas') }}

),

unmapped as (

    select * from {{ ref('dq_unmapped_values') }}

),

history as (

    select * from {{ ref('stg_salesforce__opportunity_history') }}

),

quota_type_periods as (

    select
        rep_id,
        period_start
    from staged_quotas
    where forecasting_type_id is not null
    group by rep_id, period_start
    having count(distinct forecasting_type_id) > 1

),

findings as (

    select
        'opportunity_closed_before_created' as check_name,
        'Opportunity' as object,
        sum(case when has_negative_cycle then 1 else 0 end) as row_count,
        -- the treatment is a sentence shown to analysts, not broken up to fit the line length
        'Closed deals whose CloseDate is before CreatedDate (records migrated after they closed): cycle_days NULL, left out of sales velocity.' as treatment  -- noqa: LT05
    from opportunities
    union all
    select
        'opportunity_without_owner' as check_name,
        'Opportunity' as object,
        sum(case when is_owner_missing then 1 else 0 end) as row_count,
        'No OwnerId: the deal belongs to the unassigned rep (dim_reps).' as treatment
    from opportunities
    union all
    select
        'opportunity_without_close_date' as check_name,
        'Opportunity' as object,
        sum(case when close_date is null then 1 else 0 end) as row_count,
        'No CloseDate: in no close-date period (bookings, win rate, deal size, coverage).' as treatment
    from opportunities
    union all
    select
        'opportunity_without_created_date' as check_name,
        'Opportunity' as object,
        sum(case when created_at is null then 1 else 0 end) as row_count,
        'No CreatedDate: no cycle days, no creation cohort (funnel leakage).' as treatment
    from opportunities
    union all
    select
        'opportunity_negative_amount' as check_name,
        'Opportunity' as object,
        sum(case when amount < 0 then 1 else 0 end) as row_count,
        'Negative Amount (credit, downsell): counted as it is in bookings and deal size.' as treatment
    from opportunities
    union all
    select
        'opportunity_zero_or_missing_amount' as check_name,
        'Opportunity' as object,
        sum(case when amount is null or amount = 0 then 1 else 0 end) as row_count,
        'Zero or no Amount: the deal counts (won/lost counts), its amount adds nothing.' as treatment
    from opportunities
    union all
    select
        'opportunity_close_date_5y_after_created' as check_name,
        'Opportunity' as object,
        sum(case when close_date > {{ add_to_date('year', 5, 'created_date') }} then 1 else 0 end) as row_count,
        'CloseDate more than 5 years after CreatedDate: modelled as it is (far-future pipeline periods).' as treatment
    from opportunities
    union all
    select
        'lead_without_created_date' as check_name,
        'Lead' as object,
        sum(case when created_at is null then 1 else 0 end) as row_count,
        'No CreatedDate: out of created-month cohorts (lead conversion), still in fct_leads and MQL counts.'
            as treatment
    from leads
    union all
    select
        'lead_milestones_out_of_order' as check_name,
        'Lead' as object,
        sum(case
            when (sql_at is not null and mql_at > sql_at)
                or (converted_at is not null and sql_at is not null and sql_at > converted_at) then 1
            else 0
        end) as row_count,
        'MQL after SQL or SQL after conversion (history on a later day than ConvertedDate): kept as it is.' as treatment
    from leads
    union all
    select
        'activity_zero_duration' as check_name,
        'Activity' as object,
        sum(case when duration_minutes = 0 then 1 else 0 end) as row_count,
        'Zero logged duration: counted as an activity with 0 minutes.' as treatment
    from activities
    union all
    select
        'activity_negative_duration' as check_name,
        'Activity' as object,
        sum(case when duration_minutes < 0 then 1 else 0 end) as row_count,
        'Negative logged duration: kept as logged (lowers minutes); check the source.' as treatment
    from activities
    union all
    select
        'quota_several_forecasting_types' as check_name,
        'ForecastingQuota' as object,
        (select count(*) from quota_type_periods) as row_count,
        'Owner periods with quotas of several forecasting types: one type used (var quota_forecasting_type_id, else the most common type).' as treatment  -- noqa: LT05
    from (select 1 as one) as single_row
    union all
    select
        'quota_unusable' as check_name,
        'ForecastingQuota' as object,
        sum(case when rep_id is null or period_start is null then 1 else 0 end) as row_count,
        'Quota without QuotaOwnerId or StartDate: belongs to no rep or period, left out of fct_quotas.' as treatment
    from staged_quotas
    union all
    select
        'opportunity_history_unplaceable' as check_name,
        'OpportunityHistory' as object,
        sum(case when opportunity_id is null or created_at is null or stage_name is null then 1 else 0 end)
            as row_count,
        'History row without OpportunityId, CreatedDate or StageName: not a stage entry (funnel, bottlenecks).'
            as treatment
    from history
    union all
    select
        'quota_rows_of_other_forecasting_types' as check_name,
        'ForecastingQuota' as object,
        (
            select count(*) from staged_quotas
            where staged_quotas.rep_id is not null and staged_quotas.period_start is not null
        )
        - (select count(*) from quotas) as row_count,
        'Quota rows of a forecasting type not used (see quota_several_forecasting_types).' as treatment
    from (select 1 as one) as single_row
    union all
    select
        'picklist_values_unmapped' as check_name,
        'Opportunity, Lead, Task, Event' as object,
        (select coalesce(sum(unmapped.row_count), 0) from unmapped) as row_count,
        'Rows whose stage, lead status or activity type maps to nothing: kept, listed in dq_unmapped_values.'
            as treatment
    from (select 1 as one) as single_row

),

final as (

    select
        cast(check_name as {{ dbt.type_string() }}) as check_name,
        cast(object as {{ dbt.type_string() }}) as object,
        cast(coalesce(row_count, 0) as {{ dbt.type_bigint() }}) as row_count,
        cast('warn' as {{ dbt.type_string() }}) as severity,
        cast(treatment as {{ dbt.type_string() }}) as treatment
    from findings

)

select * from final
