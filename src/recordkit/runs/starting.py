"""Starting a run: check what was given, capture, number it, and make it live.

``Collection.start_run`` and ``Run.sub_run`` both come here (through ``Collection._start``). An unnamed
top-level run is named from its id (``runs/naming.py``); ``seed=`` sets ``PYTHONHASHSEED`` for the
run's lifetime only (``capture.seed.EnvRestore``, a service stopped when the run ends).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from recordkit import _values as V
from recordkit._exceptions import RunStateError
from recordkit._names import check_label
from recordkit.backends.base import NewRun
from recordkit.capture import capture_environment, config_to_dict, scrub_config, seed_everything
from recordkit.capture.seed import EnvRestore
from recordkit.runs import lifecycle
from recordkit.runs.events import emit
from recordkit.runs.meta import new_run_id, this_host, this_pid, write_meta
from recordkit.runs.naming import check_run_id, friendly_name
from recordkit.runs.run import Run

if TYPE_CHECKING:
    from recordkit._store import Collection


def start(
    collection: Collection,
    config: Any,
    *,
    name: str | None,
    tags: Sequence[str],
    capture: bool | Sequence[str],
    seed: int | None,
    parent_id: str | None = None,
    folder_of: Callable[[str], str] | None = None,
    run_id: str | None = None,
) -> Run:
    """Start a live run in ``collection`` (see ``Collection.start_run`` for the arguments)."""

    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string, not {type(name).__name__} {name!r}")
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise TypeError(f"tags must be a list of strings, not {tags!r}")
    for what, text in [("run name", name or ""), *(("tag", t) for t in tags)]:
        problem = V.text_problem(text)
        if problem:
            raise ValueError(f"{what} {text!r} {problem}; choose another")
        check_label(text, what)  # a right-to-left override would make it display as another
    settings = collection.store.settings
    config_dict = scrub_config(config_to_dict(config), allow=settings.env_allow, deny=settings.env_deny)
    env: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if capture:
        parts = None if capture is True else list(capture)  # type: ignore[arg-type]
        env, files = capture_environment(parts=parts, env_allow=settings.env_allow, env_deny=settings.env_deny)
    restore = EnvRestore("PYTHONHASHSEED") if seed is not None else None  # set for this run only
    if seed is not None:
        env["seed"] = seed_everything(seed)
    collection.store._reap_if_reachable()  # a crashed predecessor must not count as a success when numbering
    backend = collection.store.backend
    if run_id is None:
        run_id = new_run_id()
    elif backend.get_run(check_run_id(run_id)) is not None:
        raise RunStateError(f"a run with id {run_id!r} exists already; resume it, or choose another id")
    if name is None and parent_id is None:  # people say and remember names, not ids
        name = friendly_name(run_id)
    root = collection.store.path
    # Relative to the store's folder (the store may move); a sub-run's is nested in its parent's.
    folder = folder_of(run_id) if folder_of is not None and root is not None else f"{collection.name}/{run_id}"
    scope_ids = iter(backend.reserve_scope_ids(64))
    row = backend.create_run(
        NewRun(
            id=run_id,
            collection=collection.name,
            name=name,
            start_time=time.time(),
            config=config_dict,
            env=env,
            tags=list(tags),
            parent_id=parent_id,
            host=this_host(),
            pid=this_pid(),
            folder=folder,
            root_scope=next(scope_ids),
        )
    )
    run = Run(collection.store, row, live=True)
    handle = run._handle
    handle.scope_ids = scope_ids
    handle.services.extend([restore] if restore is not None else [])
    if root is not None:
        write_meta(row, root)
        for file_name, content in files.items():
            (handle.folder / file_name).write_bytes(content)
    lifecycle.remember(run)
    handle.track()
    emit(handle, "started", {"number": row.number, "name": name, "pid": row.pid, "host": row.host,
                             "parent_id": parent_id})
    return run
