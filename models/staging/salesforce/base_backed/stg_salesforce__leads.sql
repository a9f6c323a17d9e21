{% call stage_live_records(ref('base_salesforce__leads')) %}
    cast(id as {{ dbt.type_string() }}) as lead_id,
    cast(status as {{ dbt.type_string() }}) as status,
    cast(owner_id as {{ dbt.type_string() }}) as rep_id,
    cast(lead_source as {{ dbt.type_string() }}) as lead_source,
    cast(company as {{ dbt.type_string() }}) as company,
    cast(industry as {{ dbt.type_string() }}) as industry,
    cast(coalesce(is_converted, false) as {{ dbt.type_boolean() }}) as is_converted,
    cast(converted_date as date) as converted_date,
    cast(converted_opportunity_id as {{ dbt.type_string() }}) as converted_opportunity_id,
    cast(converted_account_id as {{ dbt.type_string() }}) as converted_account_id,
    cast(created_date as {{ dbt.type_timestamp() }}) as created_at,
    cast(system_modstamp as {{ dbt.type_timestamp() }}) as modified_at
{% endcall %}
