{#- In an incremental model: true when a batch of one of `objects` (reference data that applies to every
    day or every opportunity: CurrencyType, DatedConversionRate, OpportunityStage) arrived with files since
    this model's last build (`incremental_watermark`). The loader writes an audit row for every object and
    extract date of a run, files or not; a date without any file of the object delivered nothing. -#}
{% macro reference_batches_delivered(load_audits, objects) -%}
    exists (
        select 1 from {{ load_audits }}
        where object in ('{{ objects | join("', '") }}')
            and source_file_count > 0
            and loaded_at > {{ incremental_watermark('_built_at') }}
    )
{%- endmacro %}
