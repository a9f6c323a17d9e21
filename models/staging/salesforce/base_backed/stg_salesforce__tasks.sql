{% call stage_live_records(ref('base_salesforce__tasks')) %}
    cast(id as {{ dbt.type_string() }}) as task_id,
    cast(owner_id as {{ dbt.type_string() }}) as rep_id,
    -- ActivityDate (due/done day) is optional in Salesforce: fall back to the day the task was created
    coalesce(cast(activity_date as date), cast(created_date as date)) as activity_date,
    cast(type as {{ dbt.type_string() }}) as task_type,
    cast(task_subtype as {{ dbt.type_string() }}) as task_subtype,
    cast(subject as {{ dbt.type_string() }}) as subject,
    cast(status as {{ dbt.type_string() }}) as status,
    cast(is_closed as {{ dbt.type_boolean() }}) as is_closed,
    cast(who_id as {{ dbt.type_string() }}) as who_id,
    cast(what_id as {{ dbt.type_string() }}) as what_id,
    cast(account_id as {{ dbt.type_string() }}) as account_id,
    cast(call_duration_in_seconds as {{ dbt.type_bigint() }}) as call_duration_seconds,
    cast(created_date as {{ dbt.type_timestamp() }}) as created_at,
    cast(system_modstamp as {{ dbt.type_timestamp() }}) as modified_at
{% endcall %}
