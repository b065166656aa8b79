"""Module-level convenience: ``rk.init`` / ``rk.log`` / ``rk.finish`` act on the current run."""

from __future__ import annotations

import contextvars
import os
from collections.abc import Mapping, Sequence
from typing import Any

from recordkit._exceptions import NoActiveRunError
from recordkit._habits import CurrentConfig, CurrentSummary, DisabledRun
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
    notes: str | None = None,
    group: str | None = None,
    id: str | None = None,
    resume: str | None = None,
    mode: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    store: str | Store | None = None,
    capture: bool | Sequence[str] = True,
    seed: int | None = None,
    distributed: bool = False,
    rank_zero_only: bool = False,
    system_metrics: bool | float = False,
    capture_output: bool = False,
) -> Run:
    """Start a run in collection ``project`` (or resume one) and make it the current run.

    Parameters
    ----------
    project, config, name, tags, notes
        The collection, the run's config, name (default: one made from its id, ``brisk-otter-42``),
        tags and notes.
    group
        Groups runs (a sweep, the folds of a cross-validation): recorded as the tag ``group:<name>``
        (``recordkit ls --where tag=group:<name>``).
    id, resume
        ``id`` chooses the run's id. ``resume="allow"`` continues the run with that id if it exists
        (else starts it), ``"must"`` continues it or raises ``RunNotFoundError``, ``"never"`` (and the
        default) raises ``RunStateError`` if it exists. A resumed run's ``config`` may only add keys.
    mode
        ``"online"`` (the default: the store given), ``"offline"`` (always a local folder store, never a
        server: ``dir=``, else ``./records``; push it later with ``recordkit sync``) or ``"disabled"``
        (nothing is recorded; every call still works).
    dir, store
        Where the store is: a folder (``dir``, wandb's name) or a folder/URL/open Store (``store``);
        default ``RECORDKIT_STORE``, else ``./records``.

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
    if mode not in (None, "online", "offline", "disabled"):
        raise ValueError(f"mode is 'online', 'offline' or 'disabled', not {mode!r}")
    if resume not in (None, "allow", "must", "never"):
        raise ValueError(f"resume is 'allow', 'must' or 'never', not {resume!r}")
    if resume == "must" and id is None:
        raise ValueError("resume='must' needs the id= of the run to resume")
    if group is not None and (not isinstance(group, str) or not group):
        raise TypeError(f"group must be a non-empty string, not {group!r}")
    if dir is not None and store is not None:
        raise TypeError("give the store as store= or as dir=, not both")
    tags = [*tags, f"group:{group}"] if group is not None and not isinstance(tags, str) else tags
    if mode == "disabled":
        run: Any = DisabledRun(project, config, name, tags, notes)
    else:
        location = _location(dir if dir is not None else store, offline=mode == "offline")
        opened = location if isinstance(location, Store) else open_store(location)
        run = _start_or_resume(
            opened.collection(project), config, id=id, resume=resume, name=name, tags=tags, capture=capture,
            seed=seed, distributed=distributed, rank_zero_only=rank_zero_only, system_metrics=system_metrics,
            capture_output=capture_output,
        )
        if notes is not None:
            run.notes = notes
    _current.set(run)
    _latest = run
    return run  # type: ignore[no-any-return]


def _location(where: Any, *, offline: bool) -> Any:
    """The store to open; offline, never a server (a URL given, or set in RECORDKIT_STORE, is refused)."""
    if not offline:
        return where
    if where is None:
        from recordkit._settings import load_settings

        configured = load_settings().store
        where = configured if configured and "://" not in configured else "records"
    shown = where.url if isinstance(where, Store) else os.fspath(where)
    if "://" in str(shown):
        raise ValueError(f"mode='offline' records into a local folder, not {shown!r}; give dir= a folder "
                         "(and push it later with recordkit sync)")
    return where


def _start_or_resume(col: Any, config: Any, *, id: str | None, resume: str | None, **options: Any) -> Run:
    from recordkit._exceptions import RunNotFoundError, RunStateError

    existing = None if id is None else col.store.backend.get_run(id)
    if existing is not None and existing.collection != col.name:
        raise RunStateError(f"run {id!r} belongs to collection {existing.collection!r}, not {col.name!r}")
    if existing is None:
        if resume == "must":
            raise RunNotFoundError(f"resume='must': collection {col.name!r} has no run with id {id!r}")
        return col.start_run(config, run_id=id, **options)  # type: ignore[no-any-return]
    if resume != "allow" and resume != "must":
        raise RunStateError(f"a run with id {id!r} exists already; pass resume='allow' to continue it")
    run: Run = col.resume_run(existing.id, system_metrics=options["system_metrics"],
                              capture_output=options["capture_output"])
    if config is not None:
        run.update_config(config)  # new keys only: a resumed run's config stays what it was
    return run


def seed_everything(seed: int) -> dict[str, Any]:
    """Seed ``random``, numpy and torch (when installed) so two runs with one seed draw the same numbers.

    Returns what was seeded; ``start_run(seed=n)`` does the same and records it in ``run.env["seed"]``.
    """
    from recordkit.capture import seed_everything as seed_all

    return seed_all(seed)


def current_run() -> Run | None:
    """The run ``rk.log`` writes to (``rk.run``), or None."""
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


def finish(status: RunStatus | str | None = None, *, exit_code: int | None = None) -> None:
    """Finish the current run and forget it; without a current run, do nothing.

    ``exit_code`` (as a process's): 0 finishes the run, anything else marks it failed with that code.

    Examples
    --------
    >>> rk.finish(exit_code=1)          # doctest: +SKIP
    """
    global _latest
    run = current_run()
    if run is None:
        return
    error = None
    if exit_code is not None:
        if status is not None:
            raise TypeError("give finish() a status or an exit_code, not both")
        if type(exit_code) is not int:
            raise TypeError(f"exit_code is an int, not {exit_code!r}")
        status, error = (RunStatus.FINISHED, None) if exit_code == 0 else (RunStatus.FAILED, SystemExit(exit_code))
    try:
        if isinstance(run, DisabledRun):
            return
        if run.pending:  # what commit=False held back is written before the end
            run.commit()
        run.finish(RunStatus.FINISHED if status is None else status, error=error)
    finally:
        _current.set(None)
        if _latest is run:
            _latest = None


# rk.config and rk.summary: views of whatever run is current when read.
config = CurrentConfig(current_run)
summary = CurrentSummary(current_run)
