{#-
    Post-hook of `incremental_by_entity`: on an incremental build, deletes from this model the entities
    removed from the source, i.e. the `key` values of rows flagged `_is_deleted` in each `model` of
    `removed_in` (deleted records and tombstones of `base_` models), except those still present in its
    `unless_in` model. A full build writes no removed entity, so it deletes nothing.
-#}
{% macro delete_removed_entities(unique_key, removed_in) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where {{ unique_key }} in (
        {%- for removal in removed_in %}
        select {{ removal.key }} from {{ ref(removal.model) }}
        where _is_deleted
            {%- if removal.get("unless_in") %}
            and {{ removal.key }} not in (
                select {{ unique_key }} from {{ ref(removal.unless_in) }}
                where {{ unique_key }} is not null
            )
            {%- endif %}
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    )
    {%- endif -%}
{%- endmacro %}
