{% call stage_latest_records(source('salesforce', 'user_role'), ['id']) %}
    cast(id as {{ dbt.type_string() }}) as role_id,
    cast(name as {{ dbt.type_string() }}) as role_name,
    cast(parent_role_id as {{ dbt.type_string() }}) as parent_role_id
{% endcall %}
