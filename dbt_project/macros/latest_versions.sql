{#-
    Body of an incremental `base_` model: the latest version of every record of a raw table, deleted
    ones included, keyed by `_key` and flagged by `_is_deleted`; its `stg_` model keeps the live ones.

        {{ latest_versions(source('salesforce', 'lead'), 'id', 'system_modstamp', 'is_deleted', 'Lead') }}

    Full build: every record's latest version (`latest_records`, ranks by version, then later
    extract, load, file and line). Incremental build (delete+insert on `_key`): only the records
    touched since the last build are re-ranked over ALL their versions, so the result is the one a
    full build gives, while the work follows the day's data, not the history:
      * records with a raw row loaded after the watermark (the latest `_loaded_at` kept in this model);
      * records whose kept version came from an extract date reloaded since then (`raw._load_audit`,
        `audit_object`), which is how a corrected batch that no longer holds a record is noticed.
    A touched record without any raw version left becomes a tombstone (`_is_deleted`, keeping the
    content it had): delete+insert replaces its stale row, and `stg_` drops it like a deleted record.
    Tombstones stay (a full build has none): incremental models downstream read them as deletions,
    and their content says which lead or opportunity lost a history row.
    Every row written carries `_built_at` (the dbt invocation's start), the watermark of incremental
    models downstream (fct_activities): a row with a later `_built_at` than they have seen changed.

    Portable to DuckDB and PostgreSQL (plain subqueries, `union`, left join). Spark builds `base_`
    models as tables (dbt_project.yml): delete+insert needs a table format with DELETE (Delta, Iceberg).
-#}
{% macro latest_versions(relation, key_column, version_column=none, deleted_column=none, audit_object=none) -%}
{#- referenced on every build, so the dependency is known when the project is parsed -#}
{%- set load_audit = source('salesforce', 'load_audit') -%}
{%- if is_incremental() -%}
{%- set watermark = incremental_watermark('_loaded_at') -%}
{%- set own = [] -%}
{%- for column in adapter.get_columns_in_relation(this) -%}
{%- do own.append(column.name | lower) -%}
{%- endfor -%}
{%- set kept_columns = [] -%}
{%- for column in own if column not in ('_key', '_is_deleted', '_built_at') -%}
{%- do kept_columns.append(column) -%}
{%- endfor -%}
{%- set added_columns = [] -%}
{%- for column in adapter.get_columns_in_relation(relation) if (column.name | lower) not in own -%}
{%- do added_columns.append(column.name | lower) -%}
{%- endfor -%}
{%- set reloaded_keys -%}
    select _key from {{ this }}
    where _extract_date in (
        select extract_date from {{ load_audit }}
        where object = '{{ audit_object }}' and loaded_at > {{ watermark }}
    )
{%- endset -%}
{%- endif -%}
with versions as (

    select * from {{ relation }}
    {%- if is_incremental() %}
    where {{ key_column }} in (
        select {{ key_column }} from {{ relation }} where _loaded_at > {{ watermark }}
        {%- if audit_object %}
        union
        {{ reloaded_keys }}
        {%- endif %}
    )
    {%- endif %}

),

latest as (

    {{ latest_records('versions', [key_column], version_column) }}

),

flagged as (

    select
        {{ key_column }} as _key,
        {%- if deleted_column %}
        coalesce({{ deleted_column }}, false) as _is_deleted,
        {%- else %}
        false as _is_deleted,
        {%- endif %}
        {{ built_at() }} as _built_at,
        {%- if is_incremental() %}
        {#- this model's column order (new raw columns last), so the union below lines up -#}
        {%- for column in kept_columns + added_columns %}
        latest.{{ adapter.quote(column) }}{{ "," if not loop.last }}
        {%- endfor %}
        {%- else %}
        latest.*
        {%- endif %}
    from latest
    {%- if is_incremental() and audit_object %}

    union all

    -- tombstones: kept records of a reloaded extract date that have no version left, with the content
    -- they had (models downstream read which lead or opportunity they belonged to)
    select
        stale._key,
        true as _is_deleted,
        {{ built_at() }} as _built_at
        {%- for column in kept_columns %},
        stale.{{ adapter.quote(column) }}
        {%- endfor %}
        {%- for column in added_columns %},
        null
        {%- endfor %}
    from (
        select * from {{ this }}
        where _key in ({{ reloaded_keys }})
    ) as stale
    where not exists (select 1 from latest where latest.{{ key_column }} = stale._key)
    {%- endif %}

)

select * from flagged
{%- endmacro %}
