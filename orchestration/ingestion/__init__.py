"""Loading landing files into the raw layer. Callers use :mod:`.loader`; the steps, in load order:

- ``discovery``: batch folders and their files; ``dialect``: encoding, delimiter and a path DuckDB
  reads literally; ``headers``: headers matched to the contract, groups;
- ``readers``: Parquet, JSON Lines and the shared read helpers; ``csv_lines``: where CSV records start
  (quote state per line); ``csv_reader``: DuckDB's CSV reads matched to those starts;
- ``staging``: files into the stage; ``casting``: casts, formats, cell rejects;
- ``load``: the transaction (partitions, duplicates, audit); ``schema``: the raw tables;
- ``batch``: shared types; ``temp``: the load's temp tables; ``formats``, ``rejects``: date formats,
  reject summaries.
"""
