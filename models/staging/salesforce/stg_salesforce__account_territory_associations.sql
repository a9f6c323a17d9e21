with source as (

    select * from {{ source('salesforce', 'object_territory2_association') }}

),

ranked as (

    select
        source.*,
        {{ version_rank(['id']) }} as version_rank
    from source

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as account_territory_association_id,
        -- ObjectId is polymorphic in Salesforce; the contract only lands Account assignments.
        cast(object_id as {{ dbt.type_string() }}) as account_id,
        cast(territory2_id as {{ dbt.type_string() }}) as territory_id,
        _extract_date,
        _loaded_at
    from ranked
    where version_rank = 1

)

select * from renamed
