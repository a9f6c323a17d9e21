with source as (

    select * from {{ source('salesforce', 'object_territory2_association') }}

),

latest as (

    {{ latest_records('source', ['id']) }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as account_territory_association_id,
        -- ObjectId is polymorphic in Salesforce; the contract only lands Account assignments.
        cast(object_id as {{ dbt.type_string() }}) as account_id,
        cast(territory2_id as {{ dbt.type_string() }}) as territory_id,
        _extract_date,
        _loaded_at
    from latest

)

select * from renamed
