{#-
    Ranks the versions of each record of a raw table, newest first, so staging keeps rank 1.

    The newest version has the latest `version_column` (SystemModstamp for most objects); ties, and
    objects without a version field, are broken by the later extract, the later load, then the
    later file name and line, so the choice never depends on the engine's row order.

    Portable: a plain row_number() window (no QUALIFY). Staging models use it through
    latest_records (below), which keeps rank 1 and drops deleted records.
-#}
{% macro version_rank(key_columns, version_column=none) -%}
    row_number() over (
        partition by {{ key_columns | join(', ') }}
        order by
            {%- if version_column %}
            case when {{ version_column }} is null then 1 else 0 end,
            {{ version_column }} desc,
            {%- endif %}
            _extract_date desc,
            _loaded_at desc,
            _source_file desc,
            _source_line desc
    )
{%- endmacro %}

{#-
    The latest version of each record of a raw table, with all its columns (plus `version_rank`,
    always 1), so a staging model only renames and casts:
        latest as ( {{ latest_records('source', ['id'], 'system_modstamp', 'is_deleted') }} )

    `relation`: the import CTE's name or a relation. `deleted_column`: the soft-delete flag, for
    objects that have one; a null flag means not deleted. Deletion is decided on the latest version
    only, so a later undelete brings the record back (and a deleted record never falls back to an
    older, undeleted version).

    Portable: a subquery with a plain row_number() window (no QUALIFY, no `* exclude`).
-#}
{% macro latest_records(relation, key_columns, version_column=none, deleted_column=none) -%}
    select * from (
        select
            versions.*,
            {{ version_rank(key_columns, version_column) }} as version_rank
        from {{ relation }} as versions
    ) as ranked
    where version_rank = 1
    {%- if deleted_column %}
        and not coalesce({{ deleted_column }}, false)
    {%- endif %}
{%- endmacro %}
