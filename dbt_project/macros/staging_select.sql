{#-
    The one layout of every staging model, as it compiles: a CTE `latest` holding the `latest` select
    (the latest version of each record), a CTE `renamed` with the model's own select list (`columns`:
    renames and casts of the raw columns) followed by the `lineage_columns`, optionally filtered by
    `where` (a condition on the raw columns), then `select * from renamed`. Models do not call it
    directly: `stage_latest_records` (from a raw table) and `stage_live_records` (from a `base_` model)
    render it for them.
-#}
{% macro staging_select(latest, columns, lineage_columns, where=none) -%}
with latest as (

    {{ latest | trim }}

),

renamed as (

    select
        {{ columns | trim | indent(4) }},
        {{ lineage_columns | join(',\n        ') }}
    from latest
    {%- if where %}
    where {{ where }}
    {%- endif %}

)

select * from renamed
{%- endmacro %}
