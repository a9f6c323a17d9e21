with source as (

    select * from {{ source('salesforce', 'territory2') }}

),

ranked as (

    select
        source.*,
        {{ version_rank(['id']) }} as version_rank
    from source

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as territory_id,
        cast(name as {{ dbt.type_string() }}) as territory_name,
        cast(parent_territory2_id as {{ dbt.type_string() }}) as parent_territory_id,
        _extract_date,
        _loaded_at
    from ranked
    where version_rank = 1

)

select * from renamed
