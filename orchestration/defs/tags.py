"""Tag keys the code location sets on runs and assets, or reads from them, named once.

``WAREHOUSE_WRITER_TAG`` is also the key of the run-queue limit in ``orchestration/dagster.yaml`` (and the
Makefile's check of it); the ``dagster/...`` keys are Dagster's own partition tags, which its public API
does not export as constants.
"""

#: Tag on every run of the daily job. The instance config (``orchestration/dagster.yaml``) limits runs
#: carrying it to one at a time: DuckDB allows one writer process per file.
WAREHOUSE_WRITER_TAG = "sales_wh/warehouse_writer"
WAREHOUSE_WRITER_VALUE = "duckdb"

#: Dagster's tags of a run over one partition, or over a range of partitions as one run.
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

#: The extract dates of a run of the unpartitioned job (``build_defs(partitioned=False)``: the command
#: line's runs on an in-memory instance), first and last, inclusive.
EXTRACT_START_TAG = "sales_wh/extract_date_start"
EXTRACT_END_TAG = "sales_wh/extract_date_end"

#: On a landing sensor's run: how many newly landed extract folders it covers.
LANDING_FOLDERS_TAG = "landing_folders"

#: On each raw asset: whether its landing object is needed by the core KPIs ("true"/"false").
CORE_OBJECT_TAG = "core"

#: How the dbt step's log line starts when it had nothing to build (the same raw batches and dbt project
#: as the last publish); the command line's progress reads it.
NOTHING_NEW = "nothing new since the last publish"
