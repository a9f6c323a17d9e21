with source as (

    select * from {{ source('salesforce', 'user_role') }}

),

latest as (

    {{ latest_records('source', ['id']) }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as role_id,
        cast(name as {{ dbt.type_string() }}) as role_name,
        cast(parent_role_id as {{ dbt.type_string() }}) as parent_role_id,
        _extract_date,
        _loaded_at
    from latest

)

select * from renamed
