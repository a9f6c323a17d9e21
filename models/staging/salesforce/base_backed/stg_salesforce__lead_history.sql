{% call stage_live_records(ref('base_salesforce__lead_history')) %}
    cast(id as {{ dbt.type_string() }}) as lead_history_id,
    cast(lead_id as {{ dbt.type_string() }}) as lead_id,
    cast(field as {{ dbt.type_string() }}) as field_name,
    cast(old_value as {{ dbt.type_string() }}) as old_value,
    cast(new_value as {{ dbt.type_string() }}) as new_value,
    cast(created_date as {{ dbt.type_timestamp() }}) as created_at
{% endcall %}
