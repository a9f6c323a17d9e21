{#-
    The body of a staging model that keeps EVERY version of a raw table's records (not only the latest):
    each extracted row, renamed and cast by the model, plus the lineage columns that order versions
    (`_extract_date`, `_loaded_at`, `_source_file`, `_source_line`, as `version_rank` reads them). For
    models that rebuild the past from the extracts (int_opportunity_states_ranged). Written as a call
    block, like `stage_latest_records`:

        {% call stage_all_versions(source('salesforce', 'opportunity')) %}
            cast(id as {{ dbt.type_string() }}) as opportunity_id
        {% endcall %}

    Layout of the compiled model: `staging_select`.
-#}
{% macro stage_all_versions(relation) -%}
    {%- set versions -%}
    select * from {{ relation }}
    {%- endset -%}
    {{ staging_select(versions, caller(), ['_extract_date', '_loaded_at', '_source_file', '_source_line']) }}
{%- endmacro %}
