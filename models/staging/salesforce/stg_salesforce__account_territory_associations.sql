{% call stage_latest_records(source('salesforce', 'object_territory2_association'), ['id']) %}
    cast(id as {{ dbt.type_string() }}) as account_territory_association_id,
    -- ObjectId is polymorphic in Salesforce; the contract only lands Account assignments.
    cast(object_id as {{ dbt.type_string() }}) as account_id,
    cast(territory2_id as {{ dbt.type_string() }}) as territory_id
{% endcall %}
