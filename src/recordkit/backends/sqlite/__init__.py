"""The folder store's engine: SQLite, with the SQL views of ``store.sql()``.

``backend.py`` (the Backend: folder, connections, garbage collection), ``dialect.py`` (how SQLite
spells what the SQL core asks), ``_schema.py`` (the tables, as numbered migrations), ``errors.py``
(the one place sqlite3 errors become recordkit errors), ``views.py`` (``store.sql()``'s read-only views).
"""

from recordkit.backends.sqlite.backend import DB_NAME, SQLiteBackend

__all__ = ["DB_NAME", "SQLiteBackend"]
