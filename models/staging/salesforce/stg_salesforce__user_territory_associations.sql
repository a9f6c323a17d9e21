with source as (

    select * from {{ source('salesforce', 'user_territory2_association') }}

),

latest as (

    {{ latest_records('source', ['id']) }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as user_territory_association_id,
        cast(user_id as {{ dbt.type_string() }}) as rep_id,
        cast(territory2_id as {{ dbt.type_string() }}) as territory_id,
        _extract_date,
        _loaded_at
    from latest

)

select * from renamed
