"""Data-quality libraries: landing expectations (Great Expectations on small batches, SQL on large)."""
