{#-
    Every batch (object x extract date) the loader committed, with the rows its files held, loaded and
    rejected: the landing contract's "source rows = loaded rows + rejected rows", published for BI. The
    rejects themselves, by reason: dq_load_rejects.
-#}
with load_audits as (

    select * from {{ ref('stg_salesforce__load_audits') }}

),

final as (

    select
        cast(object as {{ dbt.type_string() }}) as object,
        cast(extract_date as date) as extract_date,
        cast(source_file_count as {{ dbt.type_bigint() }}) as source_file_count,
        cast(source_row_count as {{ dbt.type_bigint() }}) as source_row_count,
        cast(loaded_row_count as {{ dbt.type_bigint() }}) as loaded_row_count,
        cast(rejected_row_count as {{ dbt.type_bigint() }}) as rejected_row_count,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from load_audits

)

select * from final
