{#-
    The state of every opportunity over time, as validity ranges: one row per opportunity and day on
    which something about it changed, valid [valid_from, valid_to) (valid_to null: still in force).
    The state at the end of a day D is the range with valid_from <= D < valid_to.

    Two sources, both as of the end of D:
      * OpportunityHistory: the latest history row created on or before D (by created_at, then Id) gives
        stage, amount, close date, probability and forecast category;
      * the Opportunity extracts: the latest version (version order of staging: SystemModstamp, extract
        date, load, file, line) among those in effect on or before D (version_date: SystemModstamp's
        day, at the latest the extract date, so a late delivery is dated by its change) gives owner,
        account, currency, deletion and the record's IsClosed/IsWon, and the same five fields.
    The history row wins unless the record version is later (its SystemModstamp after the history row's
    CreatedDate): then history is missing a change and the version is the better record of the day. A
    field the winning source leaves empty is taken from the other. Days before an opportunity's first
    version (history only) take owner, account and currency from that first version and are
    never deleted; an opportunity without any version yet is left out until one arrives.

    Closed/won follow fct_opportunities (`opportunity_is_closed` / `opportunity_is_won`); the record's
    IsClosed/IsWon count only when its version is in force and its stage is the state's stage.

    Incremental (delete+insert on opportunity_id): every CTE above works within one opportunity (stage
    semantics aside), so a build re-ranges only the opportunities whose inputs changed since this model's
    last build (its `_built_at`), from ALL their versions and history rows, which gives the rows a full
    build gives:
      * a version loaded since (`_loaded_at`): new days, and every version of a reloaded batch;
      * a history row (re)written in base_salesforce__opportunity_history since (`_built_at`): new,
        corrected, deleted, tombstones (which keep their opportunity_id);
      * a version gone (a corrected batch without it): the opportunity's count of versions differs from
        the `_version_count` it was ranged with;
      * an OpportunityStage batch delivered since: every opportunity (stage semantics apply to all).
    An opportunity left without any version is deleted by the post-hook. Spark rebuilds it as a table.
-#}
-- depends_on: {{ ref('base_salesforce__opportunity_history') }}, {{ ref('stg_salesforce__load_audits') }}
{{ config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='delete+insert',
    unique_key='opportunity_id',
    on_schema_change='append_new_columns',
    post_hook=["{% if is_incremental() %}delete from {{ this }} as ranged where not exists (select 1 from "
        ~ "{{ ref('stg_salesforce__opportunity_versions') }} as versions "
        ~ "where versions.opportunity_id = ranged.opportunity_id){% endif %}"],
) }}

{#- Every use reads the versions from the staging view itself, not through one CTE: DuckDB keeps a CTE
    that is read more than once in memory, and this one would be every column of every version (at scale L
    7.2 M rows, 1.3 GB). -#}
{%- set all_versions = ref('stg_salesforce__opportunity_versions') %}
{%- set versions_in_scope = 'from ' ~ all_versions ~ ' where opportunity_id is not null' ~ (
    ' and opportunity_id in (select changed_opportunities.opportunity_id from changed_opportunities)'
    if is_incremental() else ''
) %}

with
{%- if is_incremental() %}

version_counts as (

    select
        opportunity_id,
        count(*) as version_count
    from {{ all_versions }}
    where opportunity_id is not null
    group by opportunity_id

),

changed_opportunities as (

    select opportunity_id from {{ all_versions }}
    where opportunity_id is not null
        and _loaded_at > {{ incremental_watermark('_built_at') }}

    union

    select opportunity_id from {{ ref('base_salesforce__opportunity_history') }}
    where _built_at > {{ incremental_watermark('_built_at') }}

    union

    -- a version gone since (a corrected batch without it): the count it was ranged with differs
    select ranged.opportunity_id
    from (select distinct opportunity_id, _version_count from {{ this }}) as ranged
    left join version_counts
        on ranged.opportunity_id = version_counts.opportunity_id
    where version_counts.version_count is null
        or version_counts.version_count <> ranged._version_count

    union

    select opportunity_id from version_counts
    where {{ reference_batches_delivered(ref('stg_salesforce__load_audits'), ['OpportunityStage']) }}

),
{%- endif %}

history as (

    -- live history rows (deleted ones left with their opportunity; its versions cover those days) of
    -- opportunities with an extracted version: without one, owner, currency and deletion are unknown (the
    -- opportunity is not in fct_opportunities either) until its first version arrives
    select * from {{ ref('stg_salesforce__opportunity_history') }}
    where
        opportunity_id in (
            select versions_view.opportunity_id from {{ all_versions }} as versions_view
            {%- if is_incremental() %}
            where versions_view.opportunity_id in (
                select changed_opportunities.opportunity_id from changed_opportunities
            )
            {%- endif %}
        )
        and created_at is not null

),

stages as (

    select * from {{ ref('int_opportunity_stages_resolved') }}

),

version_ranks as (

    -- version_rank 1 is the newest version of the record (macros/version_rank.sql). Ranked twice, here
    -- for the days and in versions_ranked for the records, rather than once in a CTE read by both:
    -- DuckDB keeps a CTE read twice in memory, and at scale L the ranked versions (7.2 M rows, 1.1 GB)
    -- held there made the model spill for minutes or run out of memory under the 4 GB limit.
    select
        opportunity_id,
        version_date,
        {{ version_rank(['opportunity_id'], 'modified_at') }} as version_rank
    {{ versions_in_scope }}

),

versions_ranked as (

    select
        opportunity_id,
        version_date,
        modified_at,
        rep_id,
        account_id,
        currency_code,
        is_deleted,
        stage_name,
        is_closed_in_source,
        is_won_in_source,
        amount,
        close_date,
        probability,
        forecast_category_name,
        count(*) over (partition by opportunity_id) as version_count,
        {{ version_rank(['opportunity_id'], 'modified_at') }} as version_rank
    {{ versions_in_scope }}

),

version_days as (

    -- per opportunity and version date: the best version in effect on or before that day (the smallest
    -- rank so far; a version older than the one in force changes nothing)
    select
        opportunity_id,
        version_date as state_date,
        min(min(version_rank)) over (
            partition by opportunity_id
            order by version_date
            rows between unbounded preceding and current row
        ) as version_rank,
        row_number() over (partition by opportunity_id order by version_date) as version_day_sequence
    from version_ranks
    group by opportunity_id, version_date

),

history_days as (

    -- per opportunity and day: the last history row created that day
    select *
    from (
        select
            opportunity_id,
            cast(created_at as date) as state_date,
            created_at as history_at,
            stage_name,
            amount,
            close_date,
            probability,
            forecast_category,
            row_number() over (
                partition by opportunity_id, cast(created_at as date)
                order by created_at desc, opportunity_history_id desc
            ) as day_rank
        from history
    ) as ranked
    where day_rank = 1

),

change_days as (

    -- per opportunity and day on which either source changed: that day's version rank (the best so far)
    -- and history row. version_days and history_days have at most one row per opportunity and day, and
    -- each is read once here: a CTE read by several others is kept in memory by DuckDB, which at scale L
    -- ran this model out of its 4 GB.
    select
        opportunity_id,
        state_date,
        max(version_rank) as version_rank,
        max(version_day_sequence) as version_day_sequence,
        max(history_at) as history_at,
        max(history_stage_name) as history_stage_name,
        max(history_amount) as history_amount,
        max(history_close_date) as history_close_date,
        max(history_probability) as history_probability,
        max(history_forecast_category) as history_forecast_category
    from (
        -- history first: its columns give the union its types (the version rows' nulls take them)
        select
            opportunity_id,
            state_date,
            null as version_rank,
            null as version_day_sequence,
            history_at,
            stage_name as history_stage_name,
            amount as history_amount,
            close_date as history_close_date,
            probability as history_probability,
            forecast_category as history_forecast_category
        from history_days

        union all

        select
            opportunity_id,
            state_date,
            version_rank,
            version_day_sequence,
            null as history_at,
            null as history_stage_name,
            null as history_amount,
            null as history_close_date,
            null as history_probability,
            null as history_forecast_category
        from version_days
    ) as day_changes
    group by opportunity_id, state_date

),

carried as (

    -- the running counts number the stretches of days each source's latest change covers
    select
        change_days.*,
        count(change_days.version_rank) over (
            partition by change_days.opportunity_id
            order by change_days.state_date
            rows between unbounded preceding and current row
        ) as version_stretch,
        count(change_days.history_at) over (
            partition by change_days.opportunity_id
            order by change_days.state_date
            rows between unbounded preceding and current row
        ) as history_stretch
    from change_days

),

filled as (

    -- each day takes the version in force and the latest history row: the one row of its stretch that
    -- has them (the other rows of a stretch have nulls)
    select
        opportunity_id,
        state_date,
        max(version_rank) over (partition by opportunity_id, version_stretch) as version_rank,
        -- days before the first version take owner, account and currency from that first version
        max(case when version_day_sequence = 1 then version_rank end) over (
            partition by opportunity_id
        ) as first_version_rank,
        max(history_at) over (partition by opportunity_id, history_stretch) as history_at,
        max(history_stage_name) over (partition by opportunity_id, history_stretch) as history_stage_name,
        max(history_amount) over (partition by opportunity_id, history_stretch) as history_amount,
        max(history_close_date) over (partition by opportunity_id, history_stretch) as history_close_date,
        max(history_probability) over (partition by opportunity_id, history_stretch) as history_probability,
        max(history_forecast_category) over (
            partition by opportunity_id, history_stretch
        ) as history_forecast_category
    from carried

),

joined as (

    select
        filled.opportunity_id,
        filled.state_date,
        filled.version_rank is null as is_before_first_version,
        record.rep_id,
        record.account_id,
        record.currency_code,
        coalesce(filled.version_rank is not null and record.is_deleted, false) as is_deleted,
        record.stage_name as record_stage_name,
        record.is_closed_in_source,
        record.is_won_in_source,
        filled.history_at is not null
        and (
            filled.version_rank is null
            or record.modified_at is null
            or filled.history_at >= record.modified_at
        ) as is_from_history,
        filled.history_stage_name,
        -- PostgreSQL's max() drops numeric's precision and scale: the column keeps staging's type
        cast(filled.history_amount as {{ dbt.type_numeric() }}) as history_amount,
        filled.history_close_date,
        filled.history_probability,
        filled.history_forecast_category,
        record.amount as record_amount,
        record.close_date as record_close_date,
        record.probability as record_probability,
        record.forecast_category_name as record_forecast_category,
        record.version_count
    from filled
    left join versions_ranked as record
        on filled.opportunity_id = record.opportunity_id
        and coalesce(filled.version_rank, filled.first_version_rank) = record.version_rank

),

resolved as (

    select
        opportunity_id,
        state_date,
        is_before_first_version,
        is_from_history,
        rep_id,
        account_id,
        currency_code,
        is_deleted,
        case
            when is_from_history then coalesce(history_stage_name, record_stage_name)
            else coalesce(record_stage_name, history_stage_name)
        end as stage_name,
        case
            when is_from_history then coalesce(history_amount, record_amount)
            else coalesce(record_amount, history_amount)
        end as amount,
        case
            when is_from_history then coalesce(history_close_date, record_close_date)
            else coalesce(record_close_date, history_close_date)
        end as close_date,
        case
            when is_from_history then coalesce(history_probability, record_probability)
            else coalesce(record_probability, history_probability)
        end as probability,
        case
            when is_from_history then coalesce(history_forecast_category, record_forecast_category)
            else coalesce(record_forecast_category, history_forecast_category)
        end as source_forecast_category,
        record_stage_name,
        is_closed_in_source,
        is_won_in_source,
        version_count
    from joined

),

flagged as (

    select
        resolved.opportunity_id,
        resolved.state_date,
        resolved.is_before_first_version,
        resolved.is_from_history,
        resolved.rep_id,
        resolved.account_id,
        resolved.currency_code,
        resolved.is_deleted,
        resolved.stage_name,
        resolved.amount,
        resolved.close_date,
        resolved.probability,
        coalesce(stages.forecast_category, resolved.source_forecast_category) as forecast_category,
        -- the record's own flags describe its own stage only
        {%- set record_flags_apply = 'not resolved.is_before_first_version'
            ~ ' and resolved.record_stage_name = resolved.stage_name' %}
        {{ opportunity_is_closed(
            'stages',
            'case when ' ~ record_flags_apply ~ ' then resolved.is_closed_in_source end',
            'case when ' ~ record_flags_apply ~ ' then resolved.is_won_in_source end',
        ) }} as is_closed,
        {{ opportunity_is_won(
            'stages',
            'case when ' ~ record_flags_apply ~ ' then resolved.is_closed_in_source end',
            'case when ' ~ record_flags_apply ~ ' then resolved.is_won_in_source end',
        ) }} as is_won,
        resolved.version_count
    from resolved
    left join stages
        on resolved.stage_name = stages.stage_name

),

final as (

    select
        opportunity_id,
        state_date as valid_from,
        lead(state_date) over (partition by opportunity_id order by state_date) as valid_to,
        rep_id,
        account_id,
        currency_code,
        stage_name,
        amount,
        close_date,
        probability,
        forecast_category,
        is_closed,
        is_won,
        is_deleted,
        not is_closed and not is_deleted as is_open,
        case
            when is_deleted then 'deleted'
            when is_won then 'won'
            when is_closed then 'lost'
            else 'open'
        end as status,
        is_from_history,
        is_before_first_version,
        -- bookkeeping of the incremental build: the versions it was ranged from, and when
        version_count as _version_count,
        {{ built_at() }} as _built_at
    from flagged

)

select * from final
