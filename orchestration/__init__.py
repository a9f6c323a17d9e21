"""Sales-tracking warehouse: landing contract, demo data, loaders and the Dagster code location."""
