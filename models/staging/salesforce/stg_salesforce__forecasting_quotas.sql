{% call stage_latest_records(source('salesforce', 'forecasting_quota'), ['id']) %}
    cast(id as {{ dbt.type_string() }}) as quota_id,
    cast(quota_owner_id as {{ dbt.type_string() }}) as rep_id,
    cast(start_date as date) as period_start,
    cast(quota_amount as {{ dbt.type_numeric() }}) as quota_amount,
    coalesce(
        upper({{ clean_string('currency_iso_code') }}),
        '{{ var("corporate_currency") }}'
    ) as currency_code,
    -- the forecast type the quota belongs to; null when the export has none (fct_quotas picks one type)
    {{ clean_string('forecasting_type_id') }} as forecasting_type_id
{% endcall %}
