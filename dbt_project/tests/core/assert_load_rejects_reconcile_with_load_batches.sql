-- The published rejects add up: every batch's rejected rows (dq_load_batches, from the loader's audit)
-- are the distinct rows of its committed rejects, and dq_load_rejects summarises every reject once.
-- Returns a row per mismatch. Attached to dq_load_rejects (several parents: dagster-dbt needs telling),
-- so it is a blocking check of the published rejects.
{{ config(meta={'dagster': {'ref': {'name': 'dq_load_rejects'}}}) }}

with rejects as (

    select * from {{ ref('stg_salesforce__load_rejects') }}

),

batches as (

    select * from {{ ref('dq_load_batches') }}

),

summary as (

    select * from {{ ref('dq_load_rejects') }}

),

rejected_lines as (

    select distinct
        object,
        extract_date,
        source_file,
        source_line
    from rejects
    where is_committed

),

rejected_rows_by_batch as (

    select
        object,
        extract_date,
        count(*) as rejected_row_count
    from rejected_lines
    group by object, extract_date

),

batch_mismatches as (

    select
        coalesce(batches.object, rejected_rows_by_batch.object) as object,
        coalesce(batches.extract_date, rejected_rows_by_batch.extract_date) as extract_date,
        coalesce(batches.rejected_row_count, 0) as audited,
        coalesce(rejected_rows_by_batch.rejected_row_count, 0) as found
    from batches
    full outer join rejected_rows_by_batch
        on batches.object = rejected_rows_by_batch.object
        and batches.extract_date = rejected_rows_by_batch.extract_date
    where coalesce(batches.rejected_row_count, 0) <> coalesce(rejected_rows_by_batch.rejected_row_count, 0)

),

summary_totals as (

    select coalesce(sum(reject_count), 0) as summarised
    from summary

),

reject_totals as (

    select count(*) as found
    from rejects

),

summary_mismatch as (

    select
        'dq_load_rejects' as object,
        cast(null as date) as extract_date,
        summary_totals.summarised as audited,
        reject_totals.found
    from summary_totals
    cross join reject_totals
    where summary_totals.summarised <> reject_totals.found

),

final as (

    select * from batch_mismatches
    union all
    select * from summary_mismatch

)

select * from final
