{% call stage_live_records(ref('base_salesforce__opportunities')) %}
    cast(id as {{ dbt.type_string() }}) as opportunity_id,
    cast(name as {{ dbt.type_string() }}) as opportunity_name,
    cast(account_id as {{ dbt.type_string() }}) as account_id,
    cast(owner_id as {{ dbt.type_string() }}) as rep_id,
    cast(stage_name as {{ dbt.type_string() }}) as stage_name,
    cast(amount as {{ dbt.type_numeric() }}) as amount,
    -- A missing currency means the corporate currency (landing contract).
    coalesce(
        upper({{ clean_string('currency_iso_code') }}),
        '{{ var("corporate_currency") }}'
    ) as currency_code,
    -- Salesforce stores percent (0-100); the warehouse keeps fractions 0..1.
    cast(probability as {{ type_double() }}) / 100.0 as probability,
    cast(is_closed as {{ dbt.type_boolean() }}) as is_closed_in_source,
    cast(is_won as {{ dbt.type_boolean() }}) as is_won_in_source,
    cast(forecast_category_name as {{ dbt.type_string() }}) as forecast_category_name,
    cast(lead_source as {{ dbt.type_string() }}) as lead_source,
    cast(type as {{ dbt.type_string() }}) as opportunity_type,
    cast(close_date as date) as close_date,
    cast(created_date as {{ dbt.type_timestamp() }}) as created_at,
    cast(system_modstamp as {{ dbt.type_timestamp() }}) as modified_at
{% endcall %}
