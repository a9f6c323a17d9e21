{% call stage_latest_records(source('salesforce', 'territory2'), ['id']) %}
    cast(id as {{ dbt.type_string() }}) as territory_id,
    cast(name as {{ dbt.type_string() }}) as territory_name,
    cast(parent_territory2_id as {{ dbt.type_string() }}) as parent_territory_id
{% endcall %}
