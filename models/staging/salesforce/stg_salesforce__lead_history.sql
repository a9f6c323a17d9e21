with source as (

    select * from {{ source('salesforce', 'lead_history') }}

),

latest as (

    -- History rows are immutable: a row seen in several extracts is the same fact, kept once.
    {{ latest_records('source', ['id'], 'created_date') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as lead_history_id,
        cast(lead_id as {{ dbt.type_string() }}) as lead_id,
        cast(field as {{ dbt.type_string() }}) as field_name,
        cast(old_value as {{ dbt.type_string() }}) as old_value,
        cast(new_value as {{ dbt.type_string() }}) as new_value,
        cast(created_date as {{ dbt.type_timestamp() }}) as created_at,
        _extract_date,
        _loaded_at
    from latest

)

select * from renamed
