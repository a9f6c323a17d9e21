{#-
    The open pipeline of every past day: one row per as-of date and opportunity open at the end of that
    day (not closed, not deleted), as it stood then (int_opportunity_states_ranged). Days run from the
    first day any opportunity state is known (history included) to the latest Opportunity extract date.

    Incremental (delete+insert on as_of_date): a build rebuilds every day from the earliest one its new
    data can change, and no earlier:
      * Opportunity versions loaded since the last build: the day they took effect (version_date), and
        reloaded (corrected) batches: their extract date; a record's first version also re-dates its
        history-only days before it;
      * OpportunityHistory rows written since (new, corrected, deleted; tombstones keep their content):
        their created date;
      * a CurrencyType, DatedConversionRate or OpportunityStage batch with files loaded since: every day
        (rates and stage semantics apply to all days; a run audits every object, files or not);
      * days after the latest one kept.
    Territory and segment are current values (no history of them is kept): the post-hook
    `pipeline_regroup` restates them on the days not rebuilt, so an incremental build equals a full one.
    Spark rebuilds it as a table.
-#}
-- depends_on: {{ ref('base_salesforce__opportunity_history') }}, {{ ref('stg_salesforce__opportunity_versions') }}
-- depends_on: {{ ref('dim_accounts') }}, {{ ref('int_reps_territory_assigned') }}
{{ config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='delete+insert',
    unique_key='as_of_date',
    on_schema_change='append_new_columns',
    post_hook=["{{ pipeline_regroup() }}"],
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

versions as (

    select * from {{ ref('stg_salesforce__opportunity_versions') }}

),

history_written as (

    -- history rows (re)written in base since this model's last build, deleted ones and tombstones included
    select * from {{ ref('base_salesforce__opportunity_history') }}
    where _built_at > {{ incremental_watermark('_built_at') }}

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

{%- if is_incremental() %}

first_known as (

    select
        opportunity_id,
        min(valid_from) as first_date,
        min(case when not is_before_first_version then valid_from end) as first_version_date
    from states
    group by opportunity_id

),

changed_from as (

    select min(changed_date) as first_changed_date
    from (
        -- versions loaded since: from the day they took effect (a late delivery is dated by its change)
        select min(version_date) as changed_date
        from versions
        where _loaded_at > {{ incremental_watermark('_built_at') }}

        union all

        -- reloaded (corrected) Opportunity batches, whose vanished rows show only here
        select min(extract_date)
        from load_audits
        where object = 'Opportunity'
            and loaded_at > {{ incremental_watermark('_built_at') }}

        union all

        select min(cast(created_date as date))
        from history_written

        union all

        -- a first version re-dates the history-only days before it (owner, currency)
        select min(first_known.first_date)
        from first_known
        inner join versions
            on first_known.opportunity_id = versions.opportunity_id
            and first_known.first_version_date = versions.version_date
        where first_known.first_date < first_known.first_version_date
            and versions._loaded_at > {{ incremental_watermark('_built_at') }}

        union all

        -- rates or stage semantics delivered since (a batch with files: the loader audits every object
        -- of a run, files or not, and an empty batch used to rebuild every day of every daily run)
        select bounds.first_date
        from bounds
        where {{ reference_batches_delivered(
            'load_audits', ['CurrencyType', 'DatedConversionRate', 'OpportunityStage']
        ) }}

        union all

        select {{ add_to_date('day', 1, 'max(as_of_date)') }} from {{ this }}
    ) as changes

),
{%- endif %}

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
    cross join changed_from
    where spine.as_of_date >= changed_from.first_changed_date
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

rates_resolved as (

    -- the shared lookup (macros/select_with_corporate_rate.sql), at the close date of each state
    {{ select_with_corporate_rate('open_states', 'currency_code', 'close_date') }}

),

described as (

    select
        rates_resolved.opportunity_id,
        rates_resolved.valid_from,
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
        on described.valid_from <= days.as_of_date
        and described.valid_until > days.as_of_date

)

select * from final
