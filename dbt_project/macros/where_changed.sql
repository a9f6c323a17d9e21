{#-
    In an incremental model keyed by an entity: the where clause that keeps only the rows of the
    entities that changed since the model's last build (`changed_keys` over `sources`). For incremental
    builds only, so the model asks `is_incremental()` itself (a unit test's override of it reaches the
    model's own calls, not a macro's):

        select * from {{ ref('stg_salesforce__leads') }}
        {{ where_changed('lead_id', [(ref('base_salesforce__leads'), '_key')]) if is_incremental() }}
-#}
{% macro where_changed(key_column, sources) -%}
    where {{ key_column }} in (
        {{- changed_keys(sources) | indent(4) }}
    )
{%- endmacro %}
