{#-
    The open pipeline of every past day: one row per as-of date and opportunity open at the end of that
    day (not closed, not deleted), as it stood then (int_opportunity_states_ranged). Days run from the
    first day any opportunity state is known (history included) to the latest Opportunity extract date.

    Incremental: a build rebuilds each opportunity from the first day its new data can change, and no
    earlier; the pre-hooks `pipeline_daily_rebuild` (macros/pipeline_daily_rebuild.sql) decide that
    scope, delete it, and leave it in a temp table this select reads:
      * every opportunity from the day after the latest one kept, or earlier when a corrected
        Opportunity batch was reloaded (its extract date) or a CurrencyType, DatedConversionRate or
        OpportunityStage batch with files arrived (every day);
      * an opportunity with Opportunity versions loaded since the last build from the day they took
        effect (version_date), with OpportunityHistory rows (re)written since (new, corrected, deleted;
        tombstones keep their content) from their created date, and with a new first version from its
        history-only days before it.
    The rows are then appended. Territory and segment are current values (no history of them is kept):
    the post-hook `pipeline_regroup` restates them on the rows not rebuilt, so an incremental build
    equals a full one. Publish replaces this table's rows by (as-of date, opportunity) (`meta.publish_key`).
    Spark rebuilds it as a table.
-#}
-- depends_on: {{ ref('base_salesforce__opportunity_history') }}, {{ ref('stg_salesforce__opportunity_versions') }}
-- depends_on: {{ ref('dim_accounts') }}, {{ ref('int_reps_territory_assigned') }}
{{ config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook=[
        "{{ pipeline_daily_rebuild('drop') }}",
        "{{ pipeline_daily_rebuild('create') }}",
        "{{ pipeline_daily_rebuild('delete_every') }}",
        "{{ pipeline_daily_rebuild('delete_changed') }}",
    ],
    post_hook=["{{ pipeline_regroup() }}"],
    meta={'publish_key': ['as_of_date', 'opportunity_id']},
) }}

with states as (

    select * from {{ ref('int_opportunity_states_ranged') }}

),

load_audits as (

    select * from {{ ref('stg_salesforce__load_audits') }}

),

dated_rates as (

    select * from {{ ref('int_conversion_rates_ranged') }}

),

currency_types as (

    select * from {{ ref('stg_salesforce__currency_types') }}

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

{%- if is_incremental() %}

rebuild as (

    -- the scope the pre-hooks decided and deleted: one row for every opportunity, one per changed one
    select * from {{ pipeline_daily_rebuild_name() }}

),
{%- endif %}

bounds as (

    select
        (select min(valid_from) from states) as first_date,
        coalesce(
            (
                select max(extract_date) from load_audits
                where object = 'Opportunity'
            ),
            (select max(valid_from) from states)
        ) as last_date

),

numbers as (

    {{ integers(5) }}

),

spine as (

    select {{ add_to_date('day', 'numbers.n', 'bounds.first_date') }} as as_of_date
    from bounds
    cross join numbers
    where numbers.n <= {{ dbt.datediff('bounds.first_date', 'bounds.last_date', 'day') }}

),

days as (

    select spine.as_of_date
    from spine
    {%- if is_incremental() %}
    where spine.as_of_date >= (select min(rebuild.from_date) from rebuild)
    {%- endif %}

),

open_states as (

    select
        states.*,
        coalesce(states.valid_to, {{ add_to_date('day', 1, 'bounds.last_date') }}) as valid_until
    from states
    cross join bounds
    where states.is_open

),

scoped_states as (

    -- the first as-of date each open state writes: its own first day, or on an incremental build the day
    -- its opportunity is rebuilt from when that is later; a state ending before it writes nothing, and is
    -- dropped here, before the rate lookup and the day expansion
    {%- if is_incremental() %}
    select
        rebuilt.*
    from (
        select
            open_states.*,
            greatest(
                open_states.valid_from,
                case
                    when one_opportunity.from_date < every_opportunity.from_date then one_opportunity.from_date
                    else every_opportunity.from_date
                end
            ) as first_written_date
        from open_states
        cross join (select from_date from rebuild where for_every_opportunity) as every_opportunity
        left join (select opportunity_id, from_date from rebuild where not for_every_opportunity) as one_opportunity
            on open_states.opportunity_id = one_opportunity.opportunity_id
    ) as rebuilt
    where rebuilt.valid_until > rebuilt.first_written_date
    {%- else %}
    select
        open_states.*,
        open_states.valid_from as first_written_date
    from open_states
    {%- endif %}

),

rates_resolved as (

    -- the shared lookup (macros/select_with_corporate_rate.sql), at the close date of each state
    {{ select_with_corporate_rate('scoped_states', 'currency_code', 'close_date') }}

),

described as (

    select
        rates_resolved.opportunity_id,
        rates_resolved.first_written_date,
        rates_resolved.valid_until,
        rates_resolved.account_id,
        -- an opportunity without an owner belongs to the explicit `unassigned` rep of dim_reps
        coalesce(rates_resolved.rep_id, 'unassigned') as rep_id,
        -- as fct_opportunities: the account's territory, else the deal owner's (current values)
        coalesce(accounts.territory_id, rep_territories.territory_id) as territory_id,
        coalesce(accounts.segment, 'Unknown') as segment,
        rates_resolved.stage_name,
        stages.stage_order,
        rates_resolved.forecast_category,
        -- percent 0-100 as Salesforce stores it (staging keeps fractions); via a decimal, so 0.1 * 100 is 10
        cast(cast(rates_resolved.probability * 100 as decimal(18, 6)) as {{ type_double() }}) as probability,
        rates_resolved.close_date,
        rates_resolved.currency_code as currency_iso_code,
        {{ money('rates_resolved.amount') }} as amount,
        rates_resolved.conversion_rate,
        {{ corporate_amount('rates_resolved.amount', 'rates_resolved.conversion_rate') }} as amount_corporate,
        rates_resolved.is_from_history
    from rates_resolved
    left join stages
        on rates_resolved.stage_name = stages.stage_name
    left join accounts
        on rates_resolved.account_id = accounts.account_id
    left join rep_territories
        on rates_resolved.rep_id = rep_territories.rep_id

),

final as (

    select
        days.as_of_date,
        described.opportunity_id,
        described.rep_id,
        described.territory_id,
        described.segment,
        described.stage_name,
        described.stage_order,
        described.forecast_category,
        described.probability,
        described.close_date,
        described.currency_iso_code,
        described.amount,
        described.amount_corporate,
        described.conversion_rate,
        described.account_id,
        described.is_from_history,
        {{ built_at() }} as _built_at
    from described
    inner join days
        on described.first_written_date <= days.as_of_date
        and described.valid_until > days.as_of_date

)

select * from final
