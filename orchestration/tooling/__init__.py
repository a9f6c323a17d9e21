"""Tooling around the pipeline: the ``sales-wh`` command, benchmarks, the KPI report, ``validate``,
in-process runs, and the demo-data generator."""
