{#-
    In an incremental model keyed by an entity (a lead, an opportunity): the keys whose rows changed
    since this model's last build, from each `(relation, key column)` pair, i.e. the rows written there
    after the latest `_built_at` this model keeps (`incremental_watermark`; all keys when it is empty).
    Rebuilding these keys from all their rows, with delete+insert on the key, gives what a full build
    gives. An import CTE keeps their rows with `where_changed`, or with the keys themselves:
        where lead_id in ({{ changed_keys([(ref('base_salesforce__leads'), '_key')]) }})
-#}
{% macro changed_keys(sources) -%}
    {%- for relation, column in sources %}
    select {{ column }} from {{ relation }}
    where _built_at > {{ incremental_watermark('_built_at') }}
    {%- if not loop.last %}
    union
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
