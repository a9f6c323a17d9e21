{#-
    Tests that check each row of an incremental model once, when it is written, instead of every row on
    every build (issue 11: on a daily run these tests re-read whole tables for a day's rows).

    A test opts in with `config: {where: "__rows_not_yet_tested__"}` (models YAML). At run time the
    placeholder becomes `_built_at > <T>`, where T is the start of the last dbt invocation in which the
    model was built and every opted-in test of it ran and passed (`record_tested_rows`, on-run-end, in
    `<target schema>._tested_rows`). Every row written or changed since then is checked; rows kept from
    before T passed these tests when they were written and have not changed since, because every write to
    these models sets `_built_at` (delete+insert rows, `pipeline_regroup`'s update; the post-hooks that
    remove rows only delete). A failed or skipped build records nothing, so its rows are checked again
    by the next build, until one passes. No record yet, a `--full-refresh` (the pipeline's build after any
    change to the dbt project), Spark (it rebuilds these models as tables) or `--vars '{test_all_rows:
    true}'`: every row is tested.

    Which tests may opt in (docs/CHECKS.md): row-level ones (not_null, accepted_values, ranges,
    expressions) and uniqueness of column sets that contain the model's incremental `unique_key`, where a
    new row can only collide with another new row (delete+insert removed the kept rows of its key).
    Relationships (the parent table may have changed), uniqueness of other columns and singular tests
    always read the whole table; so do warn-severity tests, whose counts describe the whole table.
    Assumes one dbt build at a time on the warehouse (the pipeline's run lock) and a clock that does not
    go back between builds, as the incremental watermarks (`incremental_watermark`) already do.
-#}

{% macro tested_rows_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema=target.schema, identifier='_tested_rows')) }}
{%- endmacro %}

{% macro rows_not_yet_tested_placeholder() -%}
    {{ return('__rows_not_yet_tested__') }}
{%- endmacro %}

{#- on-run-start: the table of records (empty at first: every row is then tested). -#}
{% macro create_tested_rows() -%}
    {%- if target.type != 'spark' -%}
    create table if not exists {{ tested_rows_relation() }} (
        model_name {{ dbt.type_string() }},
        tested_through {{ dbt.type_timestamp() }}
    )
    {%- endif -%}
{%- endmacro %}

{#- The filter that replaces the placeholder: rows written since the model's last record, or every row. -#}
{% macro rows_not_yet_tested(relation) -%}
    {%- set every_row = '1 = 1' -%}
    {%- if not execute or target.type == 'spark' or flags.FULL_REFRESH or var('test_all_rows', false) -%}
        {{ return(every_row) }}
    {%- endif -%}
    {#- not there before the first build's on-run-start, nor under `dbt compile` / `docs generate` -#}
    {%- set records = tested_rows_relation() -%}
    {%- set exists -%}
        select count(*) from information_schema.tables
        where table_schema = '{{ records.schema }}' and table_name = '{{ records.identifier }}'
    {%- endset -%}
    {%- if run_query(exists).columns[0].values()[0] == 0 -%}
        {{ return(every_row) }}
    {%- endif -%}
    {%- set query -%}
        select max(tested_through) from {{ records }}
        where model_name = '{{ relation.identifier }}'
    {%- endset -%}
    {%- set through = run_query(query).columns[0].values()[0] -%}
    {%- if through is none -%}
        {{ return(every_row) }}
    {%- endif -%}
    {#- a literal, so the scan can skip the row groups of older builds (rows are kept in write order) -#}
    {{ return("_built_at > cast('" ~ through.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}

{#- dbt's own macro, overridden: a test's `where` with the placeholder filters the rows not yet tested. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- if rows_not_yet_tested_placeholder() in where -%}
            {%- set where = where | replace(rows_not_yet_tested_placeholder(), rows_not_yet_tested(relation)) -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#-
    on-run-end: a record for every model built in this invocation whose opted-in tests, all of them,
    ran in it and passed. A model with one of them failed, skipped, erroring or not selected gets none.
-#}
{% macro record_tested_rows(results) -%}
    {%- if execute and target.type != 'spark' -%}
    {%- set opted_in = {} -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'test' and node.attached_node -%}
        {%- if rows_not_yet_tested_placeholder() in (node.config.get('where') or '') -%}
            {%- do opted_in.setdefault(node.attached_node, []).append(node.unique_id) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set status = {} -%}
    {%- for result in results -%}
        {%- do status.update({result.node.unique_id: result.status | string}) -%}
    {%- endfor -%}
    {%- set passed = [] -%}
    {%- for model_id, test_ids in opted_in.items() if status.get(model_id) == 'success' -%}
        {%- set ran = [] -%}
        {%- for test_id in test_ids if status.get(test_id) == 'pass' -%}
            {%- do ran.append(test_id) -%}
        {%- endfor -%}
        {%- if ran | length == test_ids | length -%}
            {%- do passed.append(graph.nodes[model_id].alias or graph.nodes[model_id].name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if passed -%}
    insert into {{ tested_rows_relation() }} (model_name, tested_through)
    values
    {%- for name in passed %}
        ('{{ name }}', {{ built_at() }}){{ ',' if not loop.last }}
    {%- endfor %}
    {%- endif -%}
    {%- endif -%}
{%- endmacro %}
