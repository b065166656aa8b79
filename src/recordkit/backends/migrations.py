"""Numbered schema steps, and the rule for applying them: an older store is upgraded when it is
opened, step by step in order; a store newer than this recordkit is refused. Each engine lists its
steps in its ``_schema.py``; every step only adds (older data stays as it is)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from recordkit._exceptions import StoreError


class Migration(NamedTuple):
    """One step: the schema ``version`` it brings a store to, what it adds, and its DDL."""

    version: int
    adds: str
    script: str

    def statements(self) -> list[str]:
        """The script's statements, one by one (for drivers that run one per call)."""
        return [part.strip() for part in self.script.split(";") if part.strip()]


def pending(found: int | None, migrations: Sequence[Migration], url: str) -> list[Migration]:
    """The steps a store at version ``found`` (None: a new store) still needs, in order.

    Raises StoreError for a store newer than the last step (a later recordkit wrote it).
    """
    latest = migrations[-1].version
    if found is not None and found > latest:
        raise StoreError(
            f"store {url!r} has schema version {found}, newer than this recordkit understands ({latest}); "
            "upgrade recordkit"
        )
    return [step for step in migrations if found is None or step.version > found]
