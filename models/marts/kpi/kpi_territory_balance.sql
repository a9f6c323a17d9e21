-- Definition, grain and choices: doc("kpi_territory_balance") in models/marts/kpi/_kpi__docs.md
-- (rendered in docs/KPI_DEFINITIONS.md).

with opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

quotas as (

    select * from {{ ref('fct_quotas') }}

),

reps as (

    select * from {{ ref('dim_reps') }}

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

territories as (

    select * from {{ ref('dim_territories') }}

),

-- the one rep set of the table: active reps with a territory
territory_rep_members as (

    select
        rep_id,
        territory_id
    from reps
    where territory_id is not null
        and coalesce(is_active, true)

),

territory_reps as (

    select
        territory_id,
        count(*) as rep_count
    from territory_rep_members
    group by territory_id

),

territory_accounts as (

    select
        territory_id,
        count(*) as account_count
    from accounts
    where territory_id is not null
    group by territory_id

),

opportunity_quarters as (

    select
        territory_rep_members.territory_id,
        opportunities.close_quarter as quarter_start,
        coalesce(sum(case when not opportunities.is_closed then opportunities.amount_corporate end), 0)
            as open_pipeline_amount_corporate,
        coalesce(sum(case when opportunities.is_won then opportunities.amount_corporate end), 0)
            as bookings_amount_corporate
    from opportunities
    inner join territory_rep_members
        on opportunities.rep_id = territory_rep_members.rep_id
    where opportunities.is_won
        or not opportunities.is_closed
    group by territory_rep_members.territory_id, opportunities.close_quarter

),

quota_quarters as (

    select
        territory_rep_members.territory_id,
        {{ trunc_to_date('quarter', 'quotas.period_start') }} as quarter_start,
        sum(quotas.quota_amount_corporate) as quota_amount_corporate
    from quotas
    inner join territory_rep_members
        on quotas.rep_id = territory_rep_members.rep_id
    group by territory_rep_members.territory_id, {{ trunc_to_date('quarter', 'quotas.period_start') }}

),

quarters as (

    select quarter_start from opportunity_quarters
    union
    select quarter_start from quota_quarters

),

territory_quarters as (

    select
        territories.territory_id,
        territories.territory_name,
        quarters.quarter_start
    from territories
    cross join quarters

),

combined as (

    select
        territory_quarters.territory_id,
        territory_quarters.territory_name,
        territory_quarters.quarter_start,
        cast(coalesce(territory_accounts.account_count, 0) as bigint) as account_count,
        cast(coalesce(territory_reps.rep_count, 0) as bigint) as rep_count,
        {{ kpi_amount('coalesce(opportunity_quarters.open_pipeline_amount_corporate, 0)') }}
            as open_pipeline_amount_corporate,
        {{ kpi_amount('coalesce(opportunity_quarters.bookings_amount_corporate, 0)') }} as bookings_amount_corporate,
        {{ kpi_amount('coalesce(quota_quarters.quota_amount_corporate, 0)') }} as quota_amount_corporate
    from territory_quarters
    left join territory_accounts
        on territory_quarters.territory_id = territory_accounts.territory_id
    left join territory_reps
        on territory_quarters.territory_id = territory_reps.territory_id
    left join opportunity_quarters
        on territory_quarters.territory_id = opportunity_quarters.territory_id
        and territory_quarters.quarter_start = opportunity_quarters.quarter_start
    left join quota_quarters
        on territory_quarters.territory_id = quota_quarters.territory_id
        and territory_quarters.quarter_start = quota_quarters.quarter_start

),

per_rep as (

    select
        combined.*,
        {{ kpi_safe_divide('bookings_amount_corporate', 'quota_amount_corporate') }} as quota_attainment,
        {{ kpi_safe_divide('account_count', 'rep_count') }} as accounts_per_rep,
        {{ kpi_safe_divide('open_pipeline_amount_corporate', 'rep_count') }} as open_pipeline_per_rep_corporate,
        {{ kpi_safe_divide('bookings_amount_corporate', 'rep_count') }} as bookings_per_rep_corporate,
        {{ kpi_safe_divide('quota_amount_corporate', 'rep_count') }} as quota_per_rep_corporate
    from combined
    -- a territory with nothing in it (e.g. a parent of the hierarchy) says nothing about balance
    where combined.rep_count > 0
        or combined.account_count > 0
        or combined.open_pipeline_amount_corporate <> 0
        or combined.bookings_amount_corporate <> 0
        or combined.quota_amount_corporate <> 0

),

indexed as (

    select
        per_rep.*,
        {{ kpi_safe_divide('accounts_per_rep',
            kpi_exact_avg('accounts_per_rep', 'over (partition by quarter_start)')) }}
            as accounts_per_rep_index,
        {{ kpi_safe_divide('open_pipeline_per_rep_corporate',
            kpi_exact_avg('open_pipeline_per_rep_corporate', 'over (partition by quarter_start)')) }}
            as open_pipeline_per_rep_index,
        {{ kpi_safe_divide('bookings_per_rep_corporate',
            kpi_exact_avg('bookings_per_rep_corporate', 'over (partition by quarter_start)')) }}
            as bookings_per_rep_index,
        {{ kpi_safe_divide('quota_per_rep_corporate',
            kpi_exact_avg('quota_per_rep_corporate', 'over (partition by quarter_start)')) }}
            as quota_per_rep_index
    from per_rep

),

final as (

    select
        territory_id,
        territory_name,
        quarter_start,
        account_count,
        rep_count,
        open_pipeline_amount_corporate,
        bookings_amount_corporate,
        quota_amount_corporate,
        quota_attainment,
        accounts_per_rep,
        -- per-rep amounts are money, rounded to the cent here; the indices above use the exact values
        {{ kpi_amount('open_pipeline_per_rep_corporate') }} as open_pipeline_per_rep_corporate,
        {{ kpi_amount('bookings_per_rep_corporate') }} as bookings_per_rep_corporate,
        {{ kpi_amount('quota_per_rep_corporate') }} as quota_per_rep_corporate,
        accounts_per_rep_index,
        open_pipeline_per_rep_index,
        bookings_per_rep_index,
        quota_per_rep_index,
        {{ kpi_band_flag('accounts_per_rep_index') }} as is_accounts_out_of_band,
        {{ kpi_band_flag('open_pipeline_per_rep_index') }} as is_open_pipeline_out_of_band,
        {{ kpi_band_flag('bookings_per_rep_index') }} as is_bookings_out_of_band,
        {{ kpi_band_flag('quota_per_rep_index') }} as is_quota_out_of_band,
        (
            {{ kpi_band_flag('accounts_per_rep_index') }}
            or {{ kpi_band_flag('open_pipeline_per_rep_index') }}
            or {{ kpi_band_flag('bookings_per_rep_index') }}
            or {{ kpi_band_flag('quota_per_rep_index') }}
        ) as is_out_of_band
    from indexed

)

select * from final
