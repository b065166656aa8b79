"""Which run a reference names: a run id, a unique id prefix, or a run number.

A bare number (``3`` or ``"3"``) is always a run's experiment number, never the start of an id:
``recordkit rm 1`` must delete run 1, not whichever run's id happens to start with ``1``. The
number must then be unique across collections (else the error lists the collections that have it).
New ids start with a letter (:func:`recordkit.runs.meta.new_run_id`), so they never look like a
number; an older all-hex id made only of digits is still found when given in full.
"""

from __future__ import annotations

from recordkit._exceptions import RunNotFoundError
from recordkit.backends.base import Backend, RunRow


def is_run_number(ref: object) -> bool:
    """True for ``3`` and ``"3"``: a reference that names a run by its number."""
    if isinstance(ref, bool):
        return False
    if isinstance(ref, int):
        return True
    return isinstance(ref, str) and ref.isascii() and ref.isdigit()


def find_row(backend: Backend, ref: str | int) -> RunRow:
    """The stored run ``ref`` names (see the module docstring); RunNotFoundError if none or several."""
    if is_run_number(ref):
        return _by_number(backend, ref)
    if not isinstance(ref, str) or not ref:
        raise RunNotFoundError(f"a run is named by its id, an id prefix or its number, not {ref!r}")
    row = backend.get_run(ref)
    if row is not None:
        return row
    matches = backend.find_runs(id_prefix=ref)
    if len(matches) > 1:
        ids = ", ".join(m.id for m in matches[:5])
        raise RunNotFoundError(f"run id prefix {ref!r} is ambiguous ({ids}…); give more characters")
    if not matches:
        raise RunNotFoundError(f"no run with id {ref!r} in {backend.url!r}; list runs with `recordkit ls`")
    return matches[0]


def _by_number(backend: Backend, ref: str | int) -> RunRow:
    if isinstance(ref, str):
        exact = backend.get_run(ref)  # an old id made only of digits, given in full
        if exact is not None:
            return exact
    number = int(ref)
    rows = backend.find_runs(number=number)  # top-level runs only: sub-runs number among their siblings
    collections = sorted({row.collection for row in rows})
    if not rows:
        raise RunNotFoundError(f"no run number {number} in {backend.url!r}; list runs with `recordkit ls`")
    if len(collections) > 1:
        raise RunNotFoundError(
            f"run number {number} is in several collections ({', '.join(collections)}); "
            f"name one as COLLECTION/NUMBER, e.g. {collections[0]}/{number}"
        )
    return rows[-1]  # the latest attempt, as collection.run(number) gives
