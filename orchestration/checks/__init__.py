"""Data-quality checks: landing batches (``landing``) and KPI marts (``marts``)."""
