{% call stage_latest_records(source('salesforce', 'account'), ['id'], 'system_modstamp', 'is_deleted') %}
    cast(id as {{ dbt.type_string() }}) as account_id,
    cast(name as {{ dbt.type_string() }}) as account_name,
    cast(owner_id as {{ dbt.type_string() }}) as owner_rep_id,
    cast(industry as {{ dbt.type_string() }}) as industry,
    cast(type as {{ dbt.type_string() }}) as account_type,
    cast(billing_country as {{ dbt.type_string() }}) as billing_country,
    cast(number_of_employees as {{ dbt.type_bigint() }}) as number_of_employees,
    cast(annual_revenue as {{ dbt.type_numeric() }}) as annual_revenue,
    {{ clean_string('segment__c') }} as segment,
    cast(created_date as {{ dbt.type_timestamp() }}) as created_at,
    cast(system_modstamp as {{ dbt.type_timestamp() }}) as modified_at
{% endcall %}
