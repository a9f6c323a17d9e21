with source as (

    select * from {{ source('salesforce', 'territory2') }}

),

latest as (

    {{ latest_records('source', ['id']) }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as territory_id,
        cast(name as {{ dbt.type_string() }}) as territory_name,
        cast(parent_territory2_id as {{ dbt.type_string() }}) as parent_territory_id,
        _extract_date,
        _loaded_at
    from latest

)

select * from renamed
