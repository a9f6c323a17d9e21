"""Publishing: the atomic, read-only copy of the checked warehouse that BI tools open."""
