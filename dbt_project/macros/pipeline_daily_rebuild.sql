{#-
    Pre-hooks of fct_pipeline_daily: on an incremental build, what it rebuilds, decided once before
    anything is deleted, and the deletes. `pipeline_daily_rebuild('drop')`, then `('create')`, then
    `('delete_every')` and `('delete_changed')`; every step is empty on a full build.

    The scope is a temp table (`pipeline_daily_rebuild_name()`, read by the model's select) of
    (for_every_opportunity, opportunity_id, from_date):
      * one row for every opportunity: the first day whose rows anything can change for all of them:
          - days after the latest one kept (new days, open states running on);
          - reloaded (corrected) Opportunity batches: their extract date (a vanished version shows only
            there, so its opportunity is not known);
          - a CurrencyType, DatedConversionRate or OpportunityStage batch with files: every day (rates
            and stage semantics apply to every opportunity);
        '9999-12-31' when none;
      * one row per opportunity changed since the last build, from the first day the change can reach:
          - Opportunity versions loaded since: the day they took effect (version_date);
          - OpportunityHistory rows (re)written since in base (new, corrected, deleted; tombstones keep
            their content): their created date;
          - a record's first version re-dates its history-only days before it (owner, currency).
    An opportunity's rows depend only on its own versions and history rows, the stage catalog and the
    rates (int_opportunity_states_ranged), plus current account and territory values that the post-hook
    `pipeline_regroup` restates on every row. So rebuilding the changed opportunities from their own
    first changed day, and every opportunity from the shared one, writes exactly what a full build
    would, while a late history row from months back costs that opportunity's months, not every
    opportunity's (at L a daily batch carries a few dozen such rows: 225 days of every open opportunity
    were rebuilt by day before). The delete removes the whole scope first, so rows that should no
    longer exist (a deal closed or deleted earlier than known) go too; the model then appends the
    scope's rows. The scope is computed before the delete because the watermark and the last day kept
    are read from this table. Spark rebuilds the model as a table.
-#}
{% macro pipeline_daily_rebuild_name() -%}
    fct_pipeline_daily__rebuild
{%- endmacro %}

{% macro pipeline_daily_rebuild(step) -%}
    {%- if is_incremental() -%}
    {%- set scope = pipeline_daily_rebuild_name() -%}
    {%- if step == 'drop' -%}
    drop table if exists {{ scope }}
    {%- elif step == 'create' -%}
    create temporary table {{ scope }} as
    with states as (

        select * from {{ ref('int_opportunity_states_ranged') }}

    ),

    load_audits as (

        select * from {{ ref('stg_salesforce__load_audits') }}

    ),

    versions_loaded as (

        select * from {{ ref('stg_salesforce__opportunity_versions') }}
        where _loaded_at > {{ incremental_watermark('_built_at') }}

    ),

    history_written as (

        select * from {{ ref('base_salesforce__opportunity_history') }}
        where _built_at > {{ incremental_watermark('_built_at') }}

    ),

    every_opportunity as (

        select min(changed_date) as from_date
        from (
            select {{ add_to_date('day', 1, 'max(as_of_date)') }} as changed_date from {{ this }}

            union all

            select min(extract_date)
            from load_audits
            where object = 'Opportunity'
                and loaded_at > {{ incremental_watermark('_built_at') }}

            union all

            select min(valid_from)
            from states
            where {{ reference_batches_delivered(
                'load_audits', ['CurrencyType', 'DatedConversionRate', 'OpportunityStage']
            ) }}
        ) as changes

    ),

    first_known as (

        select
            opportunity_id,
            min(valid_from) as first_date,
            min(case when not is_before_first_version then valid_from end) as first_version_date
        from states
        where opportunity_id in (select versions_loaded.opportunity_id from versions_loaded)
        group by opportunity_id

    ),

    opportunity_changes as (

        select opportunity_id, min(version_date) as changed_date
        from versions_loaded
        group by opportunity_id

        union all

        select opportunity_id, min(cast(created_date as date))
        from history_written
        group by opportunity_id

        union all

        select first_known.opportunity_id, first_known.first_date
        from first_known
        inner join versions_loaded
            on first_known.opportunity_id = versions_loaded.opportunity_id
            and first_known.first_version_date = versions_loaded.version_date
        where first_known.first_date < first_known.first_version_date

    )

    select
        true as for_every_opportunity,
        cast(null as {{ dbt.type_string() }}) as opportunity_id,
        coalesce(from_date, cast('9999-12-31' as date)) as from_date
    from every_opportunity

    union all

    select
        false,
        opportunity_id,
        min(changed_date)
    from opportunity_changes
    group by opportunity_id
    {%- elif step == 'delete_every' -%}
    delete from {{ this }}
    where as_of_date >= (select min(every.from_date) from {{ scope }} as every where every.for_every_opportunity)
    {%- elif step == 'delete_changed' -%}
    {#- a join, not `or exists (...)` in one delete: DuckDB ran that as a 71 s scan at L, this is a hash join -#}
    delete from {{ this }} as pipeline
    using {{ scope }} as one
    where not one.for_every_opportunity
        and one.opportunity_id = pipeline.opportunity_id
        and pipeline.as_of_date >= one.from_date
    {%- else -%}
    {{ exceptions.raise_compiler_error("pipeline_daily_rebuild: unknown step " ~ step) }}
    {%- endif -%}
    {%- endif -%}
{%- endmacro %}
