{#-
    Post-hook of fct_pipeline_daily: on an incremental build, restates territory_id and segment on every
    kept day (they are current values, derived like fct_opportunities: the account's territory, else the
    deal owner's; the account's segment, else 'Unknown'), so that days an incremental build did not
    rebuild show today's values, as a full build does. Only rows whose values changed are written, and
    they get this build's `_built_at` (kpi_pipeline_changes recomputes the periods of those days).
    A NULL and an empty account id are one key here (`coalesce(account_id, '')`): both find no account
    (an empty Id is rejected at landing), so both regroup to the same values, and the join stays a plain
    equality that every engine can hash (an OR of `=` and `is null` made PostgreSQL merge-join and filter
    every pair of rows: 155 s at M, EXPLAIN ANALYZE).
-#}
{% macro pipeline_regroup() -%}
    {%- if is_incremental() -%}
    update {{ this }} as pipeline
    set
        territory_id = regrouped.territory_id,
        segment = regrouped.segment,
        _built_at = {{ built_at() }}
    from (
        select
            pairs.account_key,
            pairs.rep_id,
            coalesce(accounts.territory_id, rep_territories.territory_id) as territory_id,
            coalesce(accounts.segment, 'Unknown') as segment
        from (select distinct coalesce(account_id, '') as account_key, rep_id from {{ this }}) as pairs
        left join {{ ref('dim_accounts') }} as accounts
            on pairs.account_key = accounts.account_id
        left join {{ ref('int_reps_territory_assigned') }} as rep_territories
            on pairs.rep_id = rep_territories.rep_id
    ) as regrouped
    where pipeline.rep_id = regrouped.rep_id
        and coalesce(pipeline.account_id, '') = regrouped.account_key
        -- changed values only (null-safe: `=` of a NULL is unknown, and `not unknown` is unknown)
        and not (
            (coalesce(pipeline.territory_id = regrouped.territory_id, false)
                or (pipeline.territory_id is null and regrouped.territory_id is null))
            and coalesce(pipeline.segment = regrouped.segment, false)
        )
    {%- endif -%}
{%- endmacro %}
