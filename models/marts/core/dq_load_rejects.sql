{#-
    The loader's rejects, summarised for BI (the published file has no raw schema): one row per object,
    extract date, reason and column (NULL: the whole row was rejected) and whether the load committed,
    with how many rejects and distinct rows, and the first example by file and line.
    A row with bad cells in two columns counts once in each of their rows here: rows rejected per batch,
    without double counting, are dq_load_batches.rejected_row_count.
-#}
with rejects as (

    select * from {{ ref('stg_salesforce__load_rejects') }}

),

ranked as (

    select
        object,
        extract_date,
        reason,
        column_name,
        is_committed,
        source_file,
        source_line,
        value,
        loaded_at,
        row_number() over (
            partition by object, extract_date, reason, column_name, is_committed
            order by source_file, source_line
        ) as example_rank,
        -- the first reject of each file and line in the group: counts the group's distinct rows
        row_number() over (
            partition by object, extract_date, reason, column_name, is_committed, source_file, source_line
            order by loaded_at
        ) as line_rank
    from rejects

),

summarised as (

    select
        object,
        extract_date,
        reason,
        column_name,
        is_committed,
        count(*) as reject_count,
        sum(case when line_rank = 1 then 1 else 0 end) as rejected_row_count,
        max(case when example_rank = 1 then source_file end) as example_source_file,
        max(case when example_rank = 1 then source_line end) as example_source_line,
        -- a 5 MB field is not published whole
        max(case when example_rank = 1 then substr(value, 1, 200) end) as example_value,
        max(loaded_at) as loaded_at
    from ranked
    group by object, extract_date, reason, column_name, is_committed

),

final as (

    select
        cast(object as {{ dbt.type_string() }}) as object,
        cast(extract_date as date) as extract_date,
        cast(reason as {{ dbt.type_string() }}) as reason,
        cast(column_name as {{ dbt.type_string() }}) as column_name,
        cast(is_committed as {{ dbt.type_boolean() }}) as is_committed,
        cast(reject_count as {{ dbt.type_bigint() }}) as reject_count,
        cast(rejected_row_count as {{ dbt.type_bigint() }}) as rejected_row_count,
        cast(example_source_file as {{ dbt.type_string() }}) as example_source_file,
        cast(example_source_line as {{ dbt.type_bigint() }}) as example_source_line,
        cast(example_value as {{ dbt.type_string() }}) as example_value,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from summarised

)

select * from final
