with opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

converted as (

    select * from {{ ref('int_opportunities_converted') }}

),

stages as (

    select * from {{ ref('int_opportunity_stages_resolved') }}

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

rep_territories as (

    select * from {{ ref('int_reps_territory_assigned') }}

),

joined as (

    select
        opportunities.opportunity_id,
        opportunities.opportunity_name,
        opportunities.account_id,
        -- an opportunity without an owner belongs to the explicit `unassigned` rep of dim_reps
        coalesce(opportunities.rep_id, 'unassigned') as rep_id,
        opportunities.rep_id is null as is_owner_missing,
        -- the account's territory (its own assignment, else its owner's), else the deal owner's
        coalesce(accounts.territory_id, rep_territories.territory_id) as territory_id,
        coalesce(accounts.segment, 'Unknown') as segment,
        opportunities.opportunity_type,
        opportunities.lead_source,
        opportunities.stage_name,
        stages.stage_order,
        stages.stage_name is not null as is_stage_known,
        -- Won/closed, in precedence order (int_opportunity_stages_resolved): the landed OpportunityStage,
        -- then the record's own IsClosed/IsWon (IsWon implies closed; not closed implies not won), then
        -- the stage seeds; false when none says anything. A won deal with an unknown stage is still won,
        -- closed and not won is lost. Unknown stages are kept (stage_order NULL) and reported in
        -- dq_unmapped_values.
        {{ opportunity_is_closed(
            'stages', 'opportunities.is_closed_in_source', 'opportunities.is_won_in_source'
        ) }} as is_closed,
        {{ opportunity_is_won(
            'stages', 'opportunities.is_closed_in_source', 'opportunities.is_won_in_source'
        ) }} as is_won,
        case
            when stages.flags_source = 'landed' then 'landed'
            when opportunities.is_won_in_source is not null or opportunities.is_closed_in_source is not null
                then 'record'
            when stages.flags_source in ('seed', 'seed_newer_orgs') then 'seed'
            else 'none'
        end as stage_semantics_source,
        coalesce(stages.forecast_category, opportunities.forecast_category_name) as forecast_category,
        coalesce(opportunities.probability, stages.default_probability) as probability,
        converted.currency_code,
        converted.amount,
        converted.conversion_rate,
        converted.conversion_rate_source,
        converted.amount_corporate,
        opportunities.created_at,
        cast(opportunities.created_at as date) as created_date,
        opportunities.close_date,
        opportunities.is_closed_in_source,
        opportunities.is_won_in_source
    from opportunities
    inner join converted
        on opportunities.opportunity_id = converted.opportunity_id
    left join stages
        on opportunities.stage_name = stages.stage_name
    left join accounts
        on opportunities.account_id = accounts.account_id
    left join rep_territories
        on opportunities.rep_id = rep_territories.rep_id

),

final as (

    select
        opportunity_id,
        opportunity_name,
        account_id,
        rep_id,
        territory_id,
        segment,
        opportunity_type,
        lead_source,
        stage_name,
        stage_order,
        is_stage_known,
        is_closed,
        is_won,
        stage_semantics_source,
        forecast_category,
        probability,
        currency_code,
        {{ money('amount') }} as amount,
        conversion_rate,
        conversion_rate_source,
        amount_corporate,
        created_at,
        created_date,
        close_date,
        {{ trunc_to_date('month', 'close_date') }} as close_month,
        {{ trunc_to_date('quarter', 'close_date') }} as close_quarter,
        -- Sales cycle of a closed deal. A deal that closed before it was created (records migrated into the
        -- org after they closed) has no meaningful cycle: NULL, flagged by has_negative_cycle and counted
        -- in dq_findings. 0 (closed the day it was created) is a valid cycle.
        {%- set cycle_days = dbt.datediff('created_date', 'close_date', 'day') %}
        case
            -- bigint on every engine (PostgreSQL's date difference is an integer)
            when is_closed and {{ cycle_days }} >= 0
                then cast({{ cycle_days }} as bigint)
        end as cycle_days,
        coalesce(is_closed and {{ cycle_days }} < 0, false) as has_negative_cycle,
        is_owner_missing,
        is_closed_in_source,
        is_won_in_source
    from joined

)

select * from final
