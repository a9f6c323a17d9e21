-- Definition, grain and choices: doc("kpi_lead_funnel") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with leads as (

    select * from {{ ref('fct_leads') }}

),

lead_milestones as (

    select
        lead_id,
        lead_source,
        cohort_month,
        is_converted,
        is_disqualified,
        coalesce(is_mql_skipped, false) as is_mql_skipped,
        mql_at,
        -- conversion lies beyond SQL: a lead converted straight from MQL did reach SQL
        coalesce(sql_at, converted_at) as reached_sql_at
    from leads

),

cohorts as (

    select
        cohort_month as month_start,
        lead_source,
        count(*) as leads_created_count,
        cast(sum({{ kpi_flag('is_converted') }}) as bigint) as leads_converted_count,
        cast(sum({{ kpi_flag('is_disqualified') }}) as bigint) as leads_disqualified_count
    from lead_milestones
    -- a lead without CreatedDate has no cohort: it stays out of the cohort counts (still in fct_leads and
    -- in the MQL counts when it reached MQL)
    where cohort_month is not null
    group by cohort_month, lead_source

),

mql_leads as (

    select
        {{ trunc_to_date('month', 'mql_at') }} as mql_month,
        lead_source,
        is_mql_skipped,
        reached_sql_at,
        case
            when reached_sql_at >= mql_at and not is_mql_skipped
                then {{ days_between('mql_at', 'reached_sql_at') }}
        end as days_mql_to_sql
    from lead_milestones
    where mql_at is not null

),

mql_months as (

    select
        mql_month as month_start,
        lead_source,
        count(*) as leads_reached_mql_count,
        count(reached_sql_at) as mql_reached_sql_count,
        cast(sum({{ kpi_flag('is_mql_skipped') }}) as bigint) as mql_skipped_count,
        cast({{ kpi_percentile_cont(0.5, 'days_mql_to_sql') }} as {{ type_double() }}) as median_days_mql_to_sql
    from mql_leads
    group by mql_month, lead_source

),

months as (

    select
        month_start,
        lead_source
    from cohorts
    union
    select
        month_start,
        lead_source
    from mql_months

),

final as (

    select
        months.month_start,
        months.lead_source,
        coalesce(cohorts.leads_created_count, 0) as leads_created_count,
        coalesce(cohorts.leads_converted_count, 0) as leads_converted_count,
        coalesce(cohorts.leads_disqualified_count, 0) as leads_disqualified_count,
        {{ kpi_safe_divide('cohorts.leads_converted_count', 'cohorts.leads_created_count') }}
            as lead_conversion_rate,
        coalesce(mql_months.leads_reached_mql_count, 0) as leads_reached_mql_count,
        coalesce(mql_months.mql_reached_sql_count, 0) as mql_reached_sql_count,
        coalesce(mql_months.mql_skipped_count, 0) as mql_skipped_count,
        {{ kpi_safe_divide('mql_months.mql_reached_sql_count', 'mql_months.leads_reached_mql_count') }}
            as mql_to_sql_rate,
        mql_months.median_days_mql_to_sql
    from months
    left join cohorts
        on months.month_start = cohorts.month_start
        and {{ kpi_null_safe_equal('months.lead_source', 'cohorts.lead_source') }}
    left join mql_months
        on months.month_start = mql_months.month_start
        and {{ kpi_null_safe_equal('months.lead_source', 'mql_months.lead_source') }}

)

select * from final
