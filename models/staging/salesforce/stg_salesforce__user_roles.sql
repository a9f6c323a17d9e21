with source as (

    select * from {{ source('salesforce', 'user_role') }}

),

ranked as (

    select
        source.*,
        {{ version_rank(['id']) }} as version_rank
    from source

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as role_id,
        cast(name as {{ dbt.type_string() }}) as role_name,
        cast(parent_role_id as {{ dbt.type_string() }}) as parent_role_id,
        _extract_date,
        _loaded_at
    from ranked
    where version_rank = 1

)

select * from renamed
