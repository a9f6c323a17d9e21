{#-
    Ranks the versions of each record of a raw table, newest first, so staging keeps rank 1.

    The newest version has the latest `version_column` (SystemModstamp for most objects); ties, and
    objects without a version field, are broken by the later extract, the later load, then the
    later file name and line, so the choice never depends on the engine's row order.

    Portable: a plain row_number() window (no QUALIFY). Staging models use it through
    latest_records (latest_records.sql), which keeps rank 1 and drops deleted records.
-#}
{% macro version_rank(key_columns, version_column=none) -%}
    row_number() over (
        partition by {{ key_columns | join(', ') }}
        order by
            {%- if version_column %}
            case when {{ version_column }} is null then 1 else 0 end,
            {{ version_column }} desc,
            {%- endif %}
            _extract_date desc,
            _loaded_at desc,
            _source_file desc,
            _source_line desc
    )
{%- endmacro %}
