with source as (

    select * from {{ source('salesforce', 'forecasting_quota') }}

),

latest as (

    {{ latest_records('source', ['id']) }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as quota_id,
        cast(quota_owner_id as {{ dbt.type_string() }}) as rep_id,
        cast(start_date as date) as period_start,
        cast(quota_amount as {{ dbt.type_numeric() }}) as quota_amount,
        coalesce(
            upper({{ clean_string('currency_iso_code') }}),
            '{{ var("corporate_currency") }}'
        ) as currency_code,
        -- the forecast type the quota belongs to; null when the export has none (fct_quotas picks one type)
        {{ clean_string('forecasting_type_id') }} as forecasting_type_id,
        _extract_date,
        _loaded_at
    from latest

)

select * from renamed
