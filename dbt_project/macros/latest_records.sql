{#-
    The latest version of each record of a raw table, with all its columns (plus `version_rank`,
    always 1), so a staging model only renames and casts (`stage_latest_records` calls it there):
        latest as ( {{ latest_records(source('salesforce', 'account'), ['id'], 'system_modstamp', 'is_deleted') }} )

    `relation`: a relation or the name of a CTE. `deleted_column`: the soft-delete flag, for
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
