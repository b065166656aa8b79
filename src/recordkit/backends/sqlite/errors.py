"""The one place sqlite3 errors become recordkit errors, for the store and for ``store.sql()``.

==========================================  =======================  ==========================
sqlite3 error                               in the store's methods   in ``store.sql(query)``
==========================================  =======================  ==========================
OperationalError: locked or busy            StorageError             StorageError
OperationalError: disk full or failing      StorageError             QueryError
OperationalError: anything else             StorageError             QueryError
DatabaseError: refused by the read guards   (no guards there)        QueryError ("only reads")
refused function (not in guard.FUNCTIONS)   (no guards there)        QueryError (names it)
OperationalError: interrupted (time limit)  (no limit there)         QueryError (the limit)
DataError: string or blob too big           StoreError               QueryError (the limit)
IntegrityError                              StoreError (a bug)       QueryError
ProgrammingError (two statements, closed)   StoreError (a bug)       QueryError
DatabaseError: not a database, damaged      StoreError               QueryError
==========================================  =======================  ==========================
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from recordkit._exceptions import QueryError, StorageError, StoreError

# What SQLite says when the authorizer, query_only or mode=ro stops a statement.
_REFUSALS = ("not authorized", "authorization denied", "readonly", "read-only", "cannot modify")


@contextlib.contextmanager
def translate(
    action: str, *, query: str | None = None, views: str = "", timeout: float | None = None
) -> Iterator[None]:
    """Turn sqlite3 errors raised inside into recordkit errors, chained with ``from``.

    ``action`` says what was being done. With ``query`` (a user's ``store.sql()`` statement), an
    error of the statement is the user's (QueryError); ``views`` names the views it may read and
    ``timeout`` is the time limit it ran under.
    """
    try:
        yield
    except sqlite3.DatabaseError as exc:  # every sqlite3 error but Warning (which SQLite never raises here)
        if query is not None:
            raise _query_error(exc, query, views, timeout) from exc
        raise _store_error(exc, action) from exc


def _locked(exc: sqlite3.DatabaseError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _store_error(exc: sqlite3.DatabaseError, action: str) -> StoreError:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError):
        if _locked(exc):
            return StorageError(
                f"{action}: the database stayed locked by another process past the busy timeout ({text}); "
                "retry, or check for a stuck process holding the store"
            )
        if "disk" in text or "full" in text:
            return StorageError(f"{action}: the disk is full or failing ({text}); free space and retry")
        return StorageError(f"{action}: {text}")
    if isinstance(exc, sqlite3.IntegrityError):
        return StoreError(f"{action}: a constraint failed ({text}); this is a recordkit bug, please report it")
    if isinstance(exc, sqlite3.ProgrammingError):
        return StoreError(f"{action}: {text.rstrip('.')}; this is a recordkit bug, please report it")
    return StoreError(f"{action}: the store's database is not a recordkit SQLite file or is damaged ({text})")


def _query_error(
    exc: sqlite3.DatabaseError, query: str, views: str, timeout: float | None = None
) -> StoreError | QueryError:
    text = str(exc)
    statement = query.strip()[:80]
    if "not authorized to use function" in text:
        name = text.rsplit(" ", 1)[-1]
        return QueryError(
            f"store.sql() does not allow the function {name} in {statement!r}: queries may call SQLite's "
            "computing functions only (see docs/analytics.md for the list)"
        )
    if text == "interrupted" and timeout is not None:
        return QueryError(
            f"store.sql() stopped {statement!r} after {timeout:g} s, its time limit: narrow the query (a WHERE on "
            "run_id or step, a LIMIT, a recursive CTE that ends), or raise the sql_timeout setting "
            "(RECORDKIT_SQL_TIMEOUT)"
        )
    if "too big" in text:
        return QueryError(
            f"store.sql() stopped {statement!r}: a value grew past the 64 MiB limit of a query's strings and "
            f"blobs ({text})"
        )
    if any(word in text for word in _REFUSALS):
        return QueryError(
            f"store.sql() only reads: {statement!r} would change something ({text}); "
            "use the Python API to record, and recordkit commands to delete"
        )
    if _locked(exc):
        return StorageError(f"store.sql(): the database stayed locked ({text}); retry")
    return QueryError(f"store.sql() could not run {statement!r}: {text}. Views: {views} (see docs/analytics.md)")
