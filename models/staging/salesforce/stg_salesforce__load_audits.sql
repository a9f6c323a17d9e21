{#-
    The loader's audit (raw._load_audit): one row per object and extract date loaded, with the rows the
    batch's files held, loaded and rejected. Not CRM data: read here so that only staging calls source()
    (core.dq_load_batches).
-#}
with load_audit as (

    select * from {{ source('salesforce', 'load_audit') }}

),

final as (

    select
        cast(object as {{ dbt.type_string() }}) as object,
        cast(extract_date as date) as extract_date,
        cast(source_files as {{ dbt.type_bigint() }}) as source_file_count,
        cast(source_rows as {{ dbt.type_bigint() }}) as source_row_count,
        cast(loaded_rows as {{ dbt.type_bigint() }}) as loaded_row_count,
        cast(rejected_rows as {{ dbt.type_bigint() }}) as rejected_row_count,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from load_audit

)

select * from final
