{#-
    The org's own lead process (LeadStatus metadata), when landed. One row per status value (ApiName,
    the value Lead.Status carries; the loader fills it from MasterLabel when a file has only that).
    Lifecycle stages resolve in int_lead_statuses_resolved: this object first (IsConverted = converted),
    then the lead_statuses seed.
-#}
{%- set has_api_name = clean_string('api_name') ~ ' is not null' -%}
{% call stage_latest_records(source('salesforce', 'lead_status'), ['api_name'], where=has_api_name) %}
    -- the key: ApiName, trimmed (a row without one is dropped: has_api_name)
    {{ clean_string('api_name') }} as status,
    cast(master_label as {{ dbt.type_string() }}) as status_label,
    cast(coalesce(is_converted, false) as {{ dbt.type_boolean() }}) as is_converted,
    cast(coalesce(is_default, false) as {{ dbt.type_boolean() }}) as is_default,
    cast(sort_order as {{ dbt.type_bigint() }}) as sort_order
{% endcall %}
