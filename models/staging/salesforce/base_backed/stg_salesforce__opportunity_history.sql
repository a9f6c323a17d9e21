{% call stage_live_records(ref('base_salesforce__opportunity_history')) %}
    cast(id as {{ dbt.type_string() }}) as opportunity_history_id,
    cast(opportunity_id as {{ dbt.type_string() }}) as opportunity_id,
    cast(stage_name as {{ dbt.type_string() }}) as stage_name,
    cast(amount as {{ dbt.type_numeric() }}) as amount,
    cast(close_date as date) as close_date,
    cast(probability as {{ type_double() }}) / 100.0 as probability,
    cast(forecast_category as {{ dbt.type_string() }}) as forecast_category,
    cast(created_date as {{ dbt.type_timestamp() }}) as created_at,
    cast(system_modstamp as {{ dbt.type_timestamp() }}) as modified_at
{% endcall %}
