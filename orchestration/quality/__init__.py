"""Data-quality libraries: the landing expectation plan (``plan``), its two engines (``gx_engine`` for
small batches, ``sql_engine`` for large ones) and the entry points the raw assets call (``landing``)."""
