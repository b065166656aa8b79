"""The one place psycopg errors become recordkit errors.

=================================================================  =========================
psycopg error                                                      recordkit error
=================================================================  =========================
DeadlockDetected, SerializationFailure, LockNotAvailable           StorageConflictError
class 53, insufficient resources (DiskFull, OutOfMemory...)       StorageError
class 58 and XX, the server's own failure (IoError, internal)     StorageError
InsufficientPrivilege                                              StoreError (grant rights)
OperationalError or InterfaceError from the connection itself      StorageUnavailableError
(no SQLSTATE: refused, closed, timed out; class 08; 57P shutdown)
any other psycopg.Error (QueryCanceled, a bad statement...)        StoreError
=================================================================  =========================

A lost connection is also dropped, so the next call opens a new one; an ``OSError`` (a socket cut
by the write watchdog) drops it too and passes through. Every message has the passwords the user
gave scrubbed out (libpq may echo connection details).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from recordkit._deps import require
from recordkit._exceptions import StorageConflictError, StorageError, StorageUnavailableError, StoreError


class Translator:
    """A context manager: psycopg errors raised inside become recordkit errors, chained with ``from``."""

    def __init__(self, action: str, url: str, secrets: Sequence[str], drop_connection: Callable[[], None]) -> None:
        self.action = action
        self.url = url
        self.secrets = secrets
        self.drop_connection = drop_connection

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        psycopg = require("psycopg", "the PostgreSQL store needs psycopg 3")
        if not isinstance(exc, psycopg.Error):
            if isinstance(exc, OSError):
                self.drop_connection()
            return
        error = self.translate(psycopg, exc)
        if isinstance(error, StorageUnavailableError):
            self.drop_connection()
        raise error from exc

    def translate(self, psycopg: Any, exc: BaseException) -> StoreError:
        text = clean(str(exc), self.secrets)
        action = self.action
        errors = psycopg.errors
        if isinstance(exc, (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable)):
            return StorageConflictError(f"{action}: a concurrent writer got in the way ({text}); retried")
        state = getattr(exc, "sqlstate", None) or ""
        if state.startswith("53"):  # insufficient resources: DiskFull, OutOfMemory, TooManyConnections
            return StorageError(f"{action}: the server is out of resources ({text})")
        if state.startswith(("58", "XX")):  # the server's own failure (an I/O error, an internal error)
            return StorageError(f"{action}: the server failed ({text}); the data is kept and retried")
        if isinstance(exc, errors.InsufficientPrivilege):
            return StoreError(f"{action}: the database user may not do this ({text}); grant it rights on the schema")
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and _connection_lost(exc):
            return StorageUnavailableError(
                f"{action}: lost the PostgreSQL server at {self.url!r} ({text}); check that it is running and reachable"
            )
        return StoreError(f"{action}: {text}")


def _connection_lost(exc: Any) -> bool:
    """Whether the error is the connection's, not the statement's: raised by the client (no SQLSTATE:
    refused, closed, timed out), a connection exception (class 08) or a server shutting down (57P)."""
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith(("08", "57P"))


def clean(text: str, secrets: Sequence[str]) -> str:
    """An engine message with any password the user gave removed, on one line."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text.strip().replace("\n", " ")
