"""Reading what a store holds: the flat records, run listings, SQL results, Parquet, exports, sync, plots.

* ``records.py``: the flat :class:`~recordkit.Records` view (filters planned into the backend's query)
* ``listing.py``: run rows for ``ls`` (filters, sorting, the ``--where`` parser)
* ``parquet.py``: sealing a finished run into ``records.parquet``; ``export.py``: datasets for DuckDB/Polars/Spark
* ``sync.py``: copying one store into another, exactly once; ``plots.py``: PNG plots with matplotlib

These modules read through the backend seam and never import the Store, Run or CLI above them.
"""
