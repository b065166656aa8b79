"""The storage engines behind a Store, and the choice between them by the store's address.

``base.py`` is the seam every engine implements. SQLite and PostgreSQL share one SQL core:
``core.py`` (every seam method, written once), ``writing.py`` (the write pipeline), ``tables.py``
(the records tables, one per key set), ``dialect.py`` (what the engines spell differently) and
``migrations.py`` (numbered schema steps). What only one engine has lives in ``sqlite/`` and
``postgres/``.

This module imports no engine: ``import recordkit`` stays light, and psycopg loads only for a
PostgreSQL store.
"""

from __future__ import annotations

import os

from recordkit._deps import require
from recordkit._exceptions import StoreError
from recordkit.backends.base import Backend


def open_backend(target: str, *, create: bool, files: str | os.PathLike[str] | None = None) -> Backend:
    """The engine for a store's path or URL: a folder (or ``file://``) is SQLite, ``postgresql://``
    (or ``postgres://``) is PostgreSQL.

    With ``create`` False a store that does not exist raises :class:`recordkit.StoreNotFoundError`.
    ``files`` is the run-folder root of a PostgreSQL store (a folder store keeps them beside its
    database). A missing driver raises :class:`recordkit.MissingDependencyError` with the pip hint.

    Examples
    --------
    >>> backend = open_backend("records", create=True)                        # doctest: +SKIP
    >>> open_backend("postgresql://db.lab/runs?schema=vision", create=False)   # doctest: +SKIP
    Traceback (most recent call last):
    recordkit.StoreNotFoundError: no recordkit store in schema 'vision' at ...
    """
    if "://" in target:
        scheme, rest = target.split("://", 1)
        if scheme.lower() in ("postgresql", "postgres"):
            require("psycopg", "the PostgreSQL store needs psycopg 3")
            from recordkit.backends.postgres import PostgresBackend

            return PostgresBackend(target, create=create, files=files)
        if scheme.lower() != "file":
            raise StoreError(f"unknown store scheme {scheme.lower()!r}; use a folder path or postgresql://…")
        target = rest
    from recordkit.backends.sqlite import SQLiteBackend

    return SQLiteBackend(target, create=create)
