{#-
    The body of the staging model of a `base_` model (an incremental table holding the latest version
    of every record, `latest_versions`): its live records (deleted records and tombstones dropped),
    renamed and cast by the model, plus the lineage columns `_extract_date`, `_loaded_at` and
    `_built_at` (when the base model last (re)wrote the record: the watermark of the incremental models
    downstream). The model writes only its select list, as the body of a call block:

        {% call stage_live_records(ref('base_salesforce__events')) %}
            cast(id as {{ dbt.type_string() }}) as event_id,
            cast(owner_id as {{ dbt.type_string() }}) as rep_id
        {% endcall %}

    Layout of the compiled model: `staging_select`.
-#}
{% macro stage_live_records(relation) -%}
    {%- set live -%}
    select * from {{ relation }}
    where not _is_deleted
    {%- endset -%}
    {{ staging_select(live, caller(), ['_extract_date', '_loaded_at', '_built_at']) }}
{%- endmacro %}
