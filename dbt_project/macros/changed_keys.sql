{#-
    In an incremental model keyed by an entity (a lead, an opportunity): the keys whose rows changed
    since this model's last build, from each `(relation, key column)` pair, i.e. the rows written there
    after the latest `_built_at` this model keeps (all keys when it is empty). Rebuilding these keys
    from all their rows, with delete+insert on the key, gives what a full build gives.
        where lead_id in ({{ changed_keys([(ref('base_salesforce__leads'), '_key')]) }})
-#}
{% macro changed_keys(sources) -%}
    {%- for relation, column in sources %}
    select {{ column }} from {{ relation }}
    where _built_at > (
        select coalesce(max(_built_at), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }}
    )
    {%- if not loop.last %}
    union
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
