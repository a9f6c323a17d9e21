{#-
    The org's own sales process (OpportunityStage metadata), when landed. One row per stage value
    (ApiName, the value Opportunity.StageName carries; the loader fills it from MasterLabel when a file
    has only that). The latest extract wins. Stage semantics resolve in int_opportunity_stages_resolved:
    this object first, then the record's own IsClosed/IsWon, then the stage seeds.
-#}
{%- set has_api_name = clean_string('api_name') ~ ' is not null' -%}
{% call stage_latest_records(source('salesforce', 'opportunity_stage'), ['api_name'], where=has_api_name) %}
    -- the key: ApiName, trimmed (a row without one is dropped: has_api_name)
    {{ clean_string('api_name') }} as stage_name,
    cast(master_label as {{ dbt.type_string() }}) as stage_label,
    cast(coalesce(is_active, true) as {{ dbt.type_boolean() }}) as is_active,
    cast(is_closed as {{ dbt.type_boolean() }}) as is_closed,
    cast(is_won as {{ dbt.type_boolean() }}) as is_won,
    -- Salesforce stores percent (0-100); the warehouse keeps fractions 0..1.
    cast(default_probability as {{ type_double() }}) / 100.0 as default_probability,
    cast(forecast_category_name as {{ dbt.type_string() }}) as forecast_category,
    cast(sort_order as {{ dbt.type_bigint() }}) as sort_order
{% endcall %}
