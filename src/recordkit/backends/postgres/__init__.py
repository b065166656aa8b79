"""The shared store's engine: PostgreSQL through psycopg 3.

``backend.py`` (the Backend: connections, exactly-once batches, outages), ``dialect.py`` (how
PostgreSQL spells what the SQL core asks: COPY, advisory locks, typed columns), ``_schema.py`` (the
tables, as numbered migrations), ``errors.py`` (the one place psycopg errors become recordkit
errors), ``url.py`` (URL parsing and password redaction), ``spool.py`` (the local queue of batches
that wait out an outage).
"""

from recordkit.backends.postgres.backend import PostgresBackend

__all__ = ["PostgresBackend"]
