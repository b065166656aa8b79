"""Module-level convenience: ``rk.init`` / ``rk.log`` / ``rk.finish`` act on the current run."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping, Sequence
from typing import Any

from recordkit._exceptions import NoActiveRunError
from recordkit._store import Store
from recordkit._store import open as open_store
from recordkit.runs.run import Run, RunStatus

_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar("recordkit_run", default=None)
# Threads started before init() do not inherit the context; they fall back to the latest run.
_latest: Run | None = None


def init(
    project: str = "default",
    *,
    config: Any = None,
    name: str | None = None,
    tags: Sequence[str] = (),
    store: str | Store | None = None,
    capture: bool | Sequence[str] = True,
    seed: int | None = None,
    distributed: bool = False,
    rank_zero_only: bool = False,
    system_metrics: bool | float = False,
    capture_output: bool = False,
) -> Run:
    """Start a run in collection ``project`` and make it the current run.

    With ``distributed=True`` every rank of a torchrun / DDP / Slurm job joins one run (see
    ``Collection.start_run``); ``rank_zero_only=True`` then makes ``rk.log`` a no-op on other ranks.
    ``system_metrics=True`` (or an interval in seconds) samples the machine in the background;
    ``capture_output=True`` keeps stdout and stderr in the run file ``output.log`` (see ``start_run``).

    Examples
    --------
    >>> run = rk.init(project="mnist", config={"lr": 0.1})   # doctest: +SKIP
    >>> rk.log({"loss": 0.3})                                # doctest: +SKIP
    >>> rk.finish()                                          # doctest: +SKIP
    """
    global _latest
    opened = store if isinstance(store, Store) else open_store(store)
    run = opened.collection(project).start_run(
        config, name=name, tags=tags, capture=capture, seed=seed, distributed=distributed,
        rank_zero_only=rank_zero_only, system_metrics=system_metrics, capture_output=capture_output,
    )
    _current.set(run)
    _latest = run
    return run


def seed_everything(seed: int) -> dict[str, Any]:
    """Seed ``random``, numpy and torch (when installed) so two runs with one seed draw the same numbers.

    Returns what was seeded; ``start_run(seed=n)`` does the same and records it in ``run.env["seed"]``.
    """
    from recordkit.capture import seed_everything as seed_all

    return seed_all(seed)


def current_run() -> Run | None:
    """The run ``rk.log`` writes to, or None."""
    return _current.get() or _latest


def _require_run() -> Run:
    run = current_run()
    if run is None:
        raise NoActiveRunError("no current run: call rk.init(project=...) before rk.log()")
    return run


def log(
    values: Mapping[str, Any] | None = None, /, *, step: int | None = None, commit: bool | None = None, **kw: Any
) -> None:
    """Log to the current run; each call without ``step=`` is the next step (wandb's habit).

    ``rk.log(d)`` records ``d`` at ``run.step``, then advances the step by one. ``commit=False`` holds
    the values back: the next committed call (``commit`` left out or True) writes them with its own,
    as one record at that step, and then advances. With ``step=n`` the record is at step ``n`` and the
    step is not advanced (the next plain call is step ``n`` too, then ``n + 1``); values held back for
    another step are written at theirs first. Nested dicts flatten to ``a/b`` keys. Values come as
    a dict or as keywords, not both (``rk.log({"loss": 0.1}, acc=1)`` is a ``TypeError``).

    Examples
    --------
    >>> rk.log({"loss": 0.5})                   # step 0     # doctest: +SKIP
    >>> rk.log({"acc": 0.7}, commit=False)      # held back   # doctest: +SKIP
    >>> rk.log({"loss": 0.4})                   # step 1: loss and acc   # doctest: +SKIP
    """
    run = _require_run()
    if step is not None and run.pending and step != run.step:
        run.commit()  # what commit=False held back belongs to the step it was logged at
    run.log(values, step=step, commit=commit, **kw)
    if commit is not False and step is None:
        run.next_step()


def finish(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """Finish the current run and forget it."""
    global _latest
    run = _require_run()
    try:
        run.finish(status)
    finally:
        _current.set(None)
        if _latest is run:
            _latest = None
