{#-
    The loader's rejects (raw._rejects), one row per rejected cell or whole row, renamed. Not CRM data:
    the loader's bookkeeping, read here so that only staging calls source() (core.dq_load_rejects).
-#}
with rejects as (

    select * from {{ source('salesforce', 'rejects') }}

),

final as (

    select
        cast(object as {{ dbt.type_string() }}) as object,
        cast(extract_date as date) as extract_date,
        cast(source_file as {{ dbt.type_string() }}) as source_file,
        cast(source_line as {{ dbt.type_bigint() }}) as source_line,
        cast(column_name as {{ dbt.type_string() }}) as column_name,
        cast(value as {{ dbt.type_string() }}) as value,
        cast(reason as {{ dbt.type_string() }}) as reason,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        -- the loader's own rule (orchestration/ingestion/load.py): NULL, from before the column, is committed
        coalesce(committed, true) as is_committed
    from rejects

)

select * from final
