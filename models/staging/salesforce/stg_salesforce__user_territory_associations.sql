{% call stage_latest_records(source('salesforce', 'user_territory2_association'), ['id']) %}
    cast(id as {{ dbt.type_string() }}) as user_territory_association_id,
    cast(user_id as {{ dbt.type_string() }}) as rep_id,
    cast(territory2_id as {{ dbt.type_string() }}) as territory_id
{% endcall %}
