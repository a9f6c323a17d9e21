{% call stage_live_records(ref('base_salesforce__events')) %}
    cast(id as {{ dbt.type_string() }}) as event_id,
    cast(owner_id as {{ dbt.type_string() }}) as rep_id,
    cast(start_date_time as {{ dbt.type_timestamp() }}) as start_at,
    cast(end_date_time as {{ dbt.type_timestamp() }}) as end_at,
    cast(duration_in_minutes as {{ dbt.type_bigint() }}) as duration_minutes,
    -- ActivityDate is the local day of the event; fall back to the (UTC) start day.
    coalesce(cast(activity_date as date), cast(start_date_time as date)) as activity_date,
    cast(type as {{ dbt.type_string() }}) as event_type,
    -- EventSubtype (`Event` for calendar events) classifies an event without Type
    cast(event_subtype as {{ dbt.type_string() }}) as event_subtype,
    cast(subject as {{ dbt.type_string() }}) as subject,
    cast(who_id as {{ dbt.type_string() }}) as who_id,
    cast(what_id as {{ dbt.type_string() }}) as what_id,
    cast(account_id as {{ dbt.type_string() }}) as account_id,
    cast(system_modstamp as {{ dbt.type_timestamp() }}) as modified_at
{% endcall %}
