"""Dagster objects of the code location: assets (raw, dbt), asset checks (marts), the publish asset,
the job, schedule, sensor and resources. ``orchestration.definitions`` assembles them; the libraries
they call (ingestion, quality, publishing) live beside this package."""
