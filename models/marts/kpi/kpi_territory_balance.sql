-- Territory balance: is the load and the result spread evenly over territories?
-- Grain: territory x calendar quarter. Accounts and reps are the CURRENT assignment (dimensions carry no
-- history), repeated in every quarter: they are snapshots, not additive over quarters. Reps count = active
-- reps assigned to the territory. Open pipeline = open opportunities with a close date in the quarter;
-- bookings = won deals closed in the quarter; quota = quotas of the territory's reps whose period starts in
-- the quarter. Each is divided by the rep count; the index is that per-rep value / the unweighted mean of
-- the per-rep values of all territories with reps in the same quarter; a flag marks an index outside
-- 1 +/- var territory_balance_band.

with

opportunities as (
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

territory_reps as (
    select
        territory_id,
        count(*) as rep_count
    from reps
    where territory_id is not null
        and coalesce(is_active, true)
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
        territory_id,
        close_quarter as quarter_start,
        coalesce(sum(case when not is_closed then amount_corporate end), 0) as open_pipeline_amount_corporate,
        coalesce(sum(case when is_won then amount_corporate end), 0) as bookings_amount_corporate
    from opportunities
    where territory_id is not null
        and (is_won or not is_closed)
    group by territory_id, close_quarter
),

quota_quarters as (
    select
        reps.territory_id,
        cast({{ dbt.date_trunc('quarter', 'quotas.period_start') }} as date) as quarter_start,
        sum(quotas.quota_amount_corporate) as quota_amount_corporate
    from quotas
    inner join reps
        on quotas.rep_id = reps.rep_id
    where reps.territory_id is not null
    group by reps.territory_id, cast({{ dbt.date_trunc('quarter', 'quotas.period_start') }} as date)
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
        coalesce(territory_accounts.account_count, 0) as account_count,
        coalesce(territory_reps.rep_count, 0) as rep_count,
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
    where rep_count > 0
        or account_count > 0
        or open_pipeline_amount_corporate <> 0
        or bookings_amount_corporate <> 0
        or quota_amount_corporate <> 0
),

indexed as (
    select
        per_rep.*,
        {{ kpi_safe_divide('accounts_per_rep', kpi_exact_avg('accounts_per_rep', 'over (partition by quarter_start)')) }}
            as accounts_per_rep_index,
        {{ kpi_safe_divide('open_pipeline_per_rep_corporate',
            kpi_exact_avg('open_pipeline_per_rep_corporate', 'over (partition by quarter_start)')) }}
            as open_pipeline_per_rep_index,
        {{ kpi_safe_divide('bookings_per_rep_corporate',
            kpi_exact_avg('bookings_per_rep_corporate', 'over (partition by quarter_start)')) }}
            as bookings_per_rep_index,
        {{ kpi_safe_divide('quota_per_rep_corporate', kpi_exact_avg('quota_per_rep_corporate', 'over (partition by quarter_start)')) }}
            as quota_per_rep_index
    from per_rep
),

final as (
    select
        *,
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
