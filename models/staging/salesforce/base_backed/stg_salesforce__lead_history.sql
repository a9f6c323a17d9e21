with latest as (

    -- latest version of each record (incremental base model); deleted records and tombstones dropped
    select * from {{ ref('base_salesforce__lead_history') }}
    where not _is_deleted

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
        _loaded_at,
        -- when the base model last (re)wrote this record: the watermark of incremental models downstream
        _built_at
    from latest

)

select * from renamed
