{#- User has no IsDeleted: Salesforce deactivates users instead of deleting them. -#}
{% call stage_latest_records(source('salesforce', 'users'), ['id'], 'system_modstamp') %}
    cast(id as {{ dbt.type_string() }}) as user_id,
    cast(name as {{ dbt.type_string() }}) as user_name,
    cast(email as {{ dbt.type_string() }}) as email,
    cast(coalesce(is_active, true) as {{ dbt.type_boolean() }}) as is_active,
    cast(user_role_id as {{ dbt.type_string() }}) as role_id,
    cast(manager_id as {{ dbt.type_string() }}) as manager_id,
    cast(title as {{ dbt.type_string() }}) as title,
    cast(department as {{ dbt.type_string() }}) as department,
    cast(created_date as {{ dbt.type_timestamp() }}) as created_at,
    cast(system_modstamp as {{ dbt.type_timestamp() }}) as modified_at
{% endcall %}
