"""What a ``store.sql()`` query may do on SQLite: read, call listed functions, within a time and a size limit.

A query runs on its own read-only connection (``mode=ro``, ``PRAGMA query_only``); on top of that:

* an **authorizer** allows only reading (SELECT, reads, recursive CTEs) and the functions in
  :data:`FUNCTIONS` — SQLite's own functions that only compute, plus recordkit's ``rk_extra``. Anything
  else (``fts3_tokenizer``, ``load_extension``, a function a later SQLite adds) is refused when the
  statement is prepared, before it runs;
* a **length limit** (:data:`MAX_VALUE_BYTES`) on every string and blob, so ``randomblob(1e9)``,
  ``zeroblob(1e9)``, ``printf('%.*c', 1e9, 'x')`` or a runaway ``group_concat`` fail at once instead of
  allocating a gigabyte;
* a **time limit** (the ``sql_timeout`` setting): a progress handler interrupts the statement past its
  deadline, so an endless recursive CTE stops with a clear error.
"""

from __future__ import annotations

import sqlite3
import time

#: Functions a query may call. SQLite's core, aggregate, window, date/time, math and JSON functions
#: (``->`` and ``->>`` are the JSON operators), and ``rk_extra`` (values kept in ``extra``).
_FUNCTION_NAMES = """
    abs char coalesce concat concat_ws format glob hex ifnull iif instr length like likelihood likely lower
    ltrim max min nullif octet_length printf quote random randomblob replace round rtrim sign soundex
    sqlite_version substr substring trim typeof unhex unicode unlikely upper zeroblob
    avg count group_concat string_agg sum total
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
    date time datetime julianday unixepoch strftime timediff
    acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log log10 log2 mod pi
    pow power radians sin sinh sqrt tan tanh trunc
    json json_array json_array_length json_error_position json_extract json_insert json_object json_patch
    json_pretty json_quote json_remove json_replace json_set json_type json_valid json_group_array
    json_group_object -> ->>
    rk_extra
"""
FUNCTIONS = frozenset(_FUNCTION_NAMES.split())

#: The longest string or blob a query may make or read (64 MiB).
MAX_VALUE_BYTES = 64 * 2**20
# The progress handler runs every this many virtual machine steps (microseconds of work each time).
_PROGRESS_STEPS = 10_000

# Authorizer action codes: SQLITE_READ, SQLITE_SELECT, SQLITE_FUNCTION, SQLITE_RECURSIVE.
_READ, _SELECT, _FUNCTION, _RECURSIVE = 20, 21, 31, 33
_OK, _DENY = 0, 1


def _authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, origin: str | None) -> int:
    if action == _FUNCTION:
        return _OK if arg2 in FUNCTIONS else _DENY
    return _OK if action in (_READ, _SELECT, _RECURSIVE) else _DENY


def guard(conn: sqlite3.Connection) -> None:
    """Limit ``conn`` to reading, to :data:`FUNCTIONS` and to values of at most :data:`MAX_VALUE_BYTES`.

    Call it after the views are built (they are TEMP objects the authorizer would refuse to create).
    """
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(_authorize)


def limit_time(conn: sqlite3.Connection, timeout: float) -> None:
    """Interrupt whatever ``conn`` runs once ``timeout`` seconds have passed (building the views included)."""
    deadline = time.monotonic() + timeout
    conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
