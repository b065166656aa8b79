"""Journal marks: how far each process's journal (``recordkit/_journal.py``) is stored.

A batch read from a journal ends with a :class:`~recordkit.backends.base.JournalMark`; it is stored
in ``journal_marks`` in the batch's own transaction, so the records and the mark land together or not
at all. A batch whose mark is not beyond the stored one was committed before (a replay that overlaps
a commit, a spooled batch sent after a replay) and is skipped whole.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from recordkit.backends.base import JournalMark, WriteItem
from recordkit.backends.dialect import Dialect
from recordkit.backends.writing import apply_batch

_UPSERT = (
    "INSERT INTO journal_marks (journal, entries, ring_offset, time) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (journal) DO UPDATE SET entries = excluded.entries, ring_offset = excluded.ring_offset,"
    " time = excluded.time"
)


def advance_mark(conn: Any, dialect: Dialect, items: Sequence[WriteItem]) -> Sequence[WriteItem] | None:
    """The items to apply (without their mark), after storing the mark in the caller's transaction;
    None when the stored mark is already at or past it (nothing to apply)."""
    mark = items[-1] if items and type(items[-1]) is JournalMark else None
    if mark is None:
        return items
    found = conn.execute(
        dialect.sql(f"SELECT entries FROM journal_marks WHERE journal = ?{dialect.for_update}"), (mark.journal,)
    ).fetchone()
    if found is not None and found[0] >= mark.entries:
        return None
    conn.execute(dialect.sql(_UPSERT), (mark.journal, mark.entries, mark.offset, time.time()))
    return items[:-1]


class JournalMarks:
    """The journal's part of an SQL backend (mixed into SQLBackend): a batch applied at most once per
    mark, and ``Backend.journal_mark`` / ``forget_journal``."""

    dialect: Dialect

    def _apply_once(self, conn: Any, items: Sequence[WriteItem], batch_id: str | None) -> None:
        """Apply ``items`` in the caller's transaction unless their mark or ``batch_id`` was committed before."""
        todo = advance_mark(conn, self.dialect, items)
        if todo is not None and (batch_id is None or self._first_time(conn, batch_id)):  # type: ignore[attr-defined]
            apply_batch(conn, todo, self._registry)  # type: ignore[attr-defined]

    def journal_mark(self, journal: str) -> tuple[int, int] | None:
        with self._errors("reading a journal mark"):  # type: ignore[attr-defined]
            found = self._conn().execute(  # type: ignore[attr-defined]
                self.dialect.sql("SELECT entries, ring_offset FROM journal_marks WHERE journal = ?"), (journal,)
            ).fetchone()
        return None if found is None else (int(found[0]), int(found[1]))

    def forget_journal(self, journal: str) -> None:
        with self._write("forgetting a journal mark") as conn:  # type: ignore[attr-defined]
            conn.execute(self.dialect.sql("DELETE FROM journal_marks WHERE journal = ?"), (journal,))
