"""Runs and scopes: the lifecycle state machine, logging, counters.

A :class:`Scope` is a node of fields under a run; the :class:`Run` is the root scope. Logging is the
hot path: ``Scope.log`` validates the values (``_values.check_record``) and appends one tuple to the
writer's buffer. Everything else (creating runs, finishing them) may do I/O.
"""

from __future__ import annotations

import enum
import marshal
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from recordkit._exceptions import RunStateError, StepOrderError, StepOrderWarning
from recordkit._values import INT64_MAX, check_record, check_step, mixed_values
from recordkit.backends.base import ERROR_STATUSES, CreateScope, RunRow, UpdateRun, UpdateScope
from recordkit.runs import lifecycle
from recordkit.runs.checked import HOT as _HOT
from recordkit.runs.checked import log_checked, mixed_shape
from recordkit.runs.edit import NOT_GIVEN
from recordkit.runs.meta import code_hash, freeze, is_error_exit, merge_new_keys, write_meta

if TYPE_CHECKING:
    from recordkit._store import Collection, Store
    from recordkit.read.records import Records, Series
    from recordkit.runs.checkpoints import Checkpoint, LoadedCheckpoint, Retention
    from recordkit.runs.events import EventContext, Events, Timed
    from recordkit.runs.files import FileInfo
    from recordkit.runs.handle import RunHandle
    from recordkit.runs.lineage import Link

# A scope's last step before anything was logged: lower than any step.
_NO_STEP = -(2**62)
_dumps = marshal.dumps
_now = time.time


class RunStatus(str, enum.Enum):
    """Where a run is in its life. ``crashed`` means its process died without a word."""

    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CRASHED = "crashed"

    def __str__(self) -> str:
        return self.value


class Scope:
    """A node of key/value fields under a run; every record logged here reads them (nearest wins)."""

    def __init__(self, handle: RunHandle, scope_id: int, parent: Scope | None, fields: dict[str, Any]) -> None:
        self._handle = handle
        #: The scope's id (a record stores only this, not the fields).
        self.scope_id = scope_id
        self.parent = parent
        self._fields = fields
        #: Build a record in pieces, then ``commit()`` it.
        self.pending: dict[str, Any] = {}
        self._last_step = _NO_STEP  # steps logged in one scope must not go back (see Settings.out_of_order)

    # --- fields ------------------------------------------------------------------------------
    @property
    def fields(self) -> Mapping[str, Any]:
        """This scope's fields merged with its ancestors' (nearest wins)."""
        base = dict(self.parent.fields) if self.parent is not None else {}
        base.update(self._fields)
        return MappingProxyType(base)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def __setitem__(self, key: str, value: Any) -> None:
        """Add (or change) a field later; every record of this scope, past and future, sees it."""
        self._handle.require_writable()
        checked = check_record({key: value})
        self._fields[key] = checked[key]
        self._handle.channel.put(UpdateScope(self.scope_id, {key: checked[key]}))

    def scope(self, **fields: Any) -> Scope:
        """A child scope with these fields; scopes nest to any depth. Equal siblings stay distinct."""
        handle = self._handle
        handle.require_writable()
        checked = dict(check_record(fields))
        child = Scope(handle, handle.new_scope_id(), self, checked)
        # A copy: fields added later (scope["note"] = …) must not reach the queued item, which names the series.
        handle.channel.put(CreateScope(child.scope_id, handle.run_id, self.scope_id, dict(checked)))
        return child

    # --- records -----------------------------------------------------------------------------
    def log(
        self, values: Mapping[str, Any] | None = None, /, *, step: int | None = None, commit: bool | None = None,
        flatten: bool = True, **kw: Any,
    ) -> None:
        """Record ``values`` (a dict, or keyword values) in this scope at ``step`` (default: ``run.step``).

        ``run.log`` never advances the step (``run.next_step()`` does; ``rk.log`` advances it after each
        call). ``commit=False`` holds the values in ``pending`` for the next ``log``/``commit()`` to write
        as one record. Nested dicts flatten to ``a/b`` keys (``flatten=False`` keeps a dict as one JSON
        value). A dict and keyword values together is a ``TypeError``. Returns at once (stored within
        one flush interval); the dict is never mutated.

        Examples
        --------
        >>> run.log({"loss": 0.3, "acc": 0.9})        # doctest: +SKIP
        >>> run.log(loss=0.3, step=10)                 # doctest: +SKIP
        """
        handle = self._handle
        if handle.writable is not True:
            handle.require_writable()
        if values is None:
            values = kw
        elif kw or (type(values) is not dict and not isinstance(values, Mapping)):
            raise TypeError(mixed_values(values, kw))
        # The hot path (keys journalled, nothing pending): see runs.checked.hot_shape and mixed_shape.
        hot = handle.shapes.get(tuple(values)) if type(values) is dict and commit is None else None
        if hot is None or self.pending or (not hot[2] and not _HOT.issuperset(map(type, values.values()))):
            log_checked(self, values, step, commit, flatten)  # (a key set that held ints: types checked first)
            return
        if step is None:
            step = handle.step
        elif type(step) is not int or not 0 <= step <= INT64_MAX:
            step = check_step(step)  # raises for anything but a numpy int
        seq = next(handle.seq)  # (a record check_record then refuses leaves a gap: seqs only need to grow)
        try:
            payload = _dumps((_now(), *values.values(), self.scope_id, seq, step), 2)
        except ValueError:  # a value marshal cannot hold (a tensor, a numpy number...)
            payload = b""
        if payload[hot[1]] != hot[2] and not _HOT.issuperset(map(type, values.values())):
            handle.shapes[tuple(values)] = mixed_shape(hot[0])  # next time, no marshal before the check
            log_checked(self, values, step, commit, flatten, seq)  # moves run.step only if it stores the record
            return
        if step > handle.step:
            handle.step = step
        if step < self._last_step:
            self._out_of_order(step)  # raises, or warns and logs the record anyway
        else:
            self._last_step = step
        handle.journal.record(hot[0], payload)  # type: ignore[union-attr]  # a shape is known only with a journal

    def commit(self, *, step: int | None = None) -> None:
        """Log the ``pending`` record and start a new empty one."""
        pending, self.pending = self.pending, {}
        if pending:
            self.log(pending, step=step)

    def collect(
        self, objects: Any, step: int | None = None, attrs: str | Sequence[str] = ("_record_these",)
    ) -> dict[str, dict[str, Any]]:
        """Record the attributes each object lists in ``_record_these``, found recursively in ``objects``.

        Dicts, lists and objects' attributes are searched (cycles are safe; ``.module`` wrappers are
        unwrapped). Each object found is a group named by its path (``tuple_miner``, ``trainer.miner``),
        recorded as one record in a child scope ``group_name=<name>``. An object without the list records
        nothing. Returns the recorded values by group.

        Examples
        --------
        >>> run.collect({"tuple_miner": miner})                                   # doctest: +SKIP
        >>> run.collect(models, attrs=("_record_these", "_record_these_stats"))   # doctest: +SKIP
        >>> col.records.where(group_name="tuple_miner").mean("hardest_pos_pair_dist")  # doctest: +SKIP
        """
        from recordkit.runs.harvest import collect

        return collect(self, objects, step, (attrs,) if isinstance(attrs, str) else tuple(attrs))

    def _out_of_order(self, step: int) -> None:
        message = (
            f"step {step} logged after step {self._last_step} in scope {self.scope_id} of run "
            f"{self._handle.run_id!r}: steps of one scope should not go back (log into another scope, or set "
            "out_of_order='raise' to make this an error)"
        )
        if self._handle.settings.out_of_order == "raise":
            raise StepOrderError(message + "; the record was not logged")
        import warnings

        warnings.warn(message + "; the record is kept", StepOrderWarning, stacklevel=4)

    def __repr__(self) -> str:
        return f"<Scope {self.scope_id} of run {self._handle.run_id} {dict(self._fields)!r}>"


class Run(Scope):
    """One experiment attempt. Get one from ``Collection.start_run`` (live) or ``Collection.run`` (read)."""

    def __init__(self, store: Store, row: RunRow, *, live: bool) -> None:
        self._store = store
        handle = store._new_handle(row, live=live)
        self.config: Mapping[str, Any] = freeze(row.config)
        self._env: Mapping[str, Any] | None = None  # decoded and frozen on first read (listing skips it)
        #: The checkpoint ``collection.resume_run`` resumed this run from, if any.
        self.resumed_from: Checkpoint | None = None
        self._paused_at: float | None = None
        super().__init__(handle, row.root_scope, None, {})

    @property
    def _row(self) -> RunRow:
        return self._handle.row

    @property
    def retention(self) -> Retention | None:
        """The default checkpoint retention of ``save_model`` (None keeps every checkpoint)."""
        return self._handle.retention

    @retention.setter
    def retention(self, policy: Retention | None) -> None:
        self._handle.retention = policy

    @property
    def env(self) -> Mapping[str, Any]:
        """The captured environment (frozen): system, python, packages, git, process…"""
        if self._env is None:
            self._env = freeze(self._row.env)
        return self._env

    # --- identity ----------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The run's unique id (``r`` and 15 hex characters; 16 hex characters in older stores)."""
        return self._handle.run_id

    @property
    def number(self) -> int:
        """Experiment number: increments after each successful run; failed retries keep it."""
        return self._row.number

    @property
    def error_number(self) -> int:
        """0, or how many back-to-back failed runs this number has had, this one included."""
        return self._row.error_number

    @property
    def had_error(self) -> bool:
        return self._row.status in ERROR_STATUSES

    @property
    def name(self) -> str | None:
        """The run's name; assign to rename it (``run.name = "baseline"``), as :meth:`edit` does."""
        return self._row.name

    @name.setter
    def name(self, name: str | None) -> None:
        self.edit(name=name)

    @property
    def tags(self) -> tuple[str, ...]:
        """The run's tags; assign to replace them (``run.tags = [*run.tags, "best"]``), as :meth:`edit` does."""
        return tuple(self._row.tags)

    @tags.setter
    def tags(self, tags: Sequence[str]) -> None:
        self.edit(tags=tags)

    @property
    def notes(self) -> str | None:
        """Free text about the run (None when there is none); assign to change it."""
        return self._row.notes

    @notes.setter
    def notes(self, notes: str | None) -> None:
        self.edit(notes=notes)

    def edit(
        self,
        *,
        name: str | None = NOT_GIVEN,
        tags: Sequence[str] = NOT_GIVEN,
        notes: str | None = NOT_GIVEN,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
    ) -> None:
        """Change the name, tags or notes, at any time, from any process; records stay as they are.

        ``tags`` replaces the tags, ``add_tags``/``remove_tags`` change them; None or ``""`` clears
        the name or notes (see ``runs/edit.py``). CLI: ``recordkit tag RUN +best -old``, ``recordkit edit``.

        Examples
        --------
        >>> store.run(3).edit(name="baseline", add_tags=["best"], notes="lr too high")  # doctest: +SKIP
        """
        from recordkit.runs import edit

        edit.apply(self._handle, edit.changes(self._row.tags, name=name, tags=tags, notes=notes,
                                              add_tags=add_tags, remove_tags=remove_tags))

    @property
    def collection(self) -> Collection:
        return self._store.collection(self._row.collection)

    @property
    def status(self) -> RunStatus:
        handle = self._handle
        if not handle.writable and handle.row.status in ("running", "paused"):
            handle.row = self._store._refresh(handle.row)
        return RunStatus(self._row.status)

    @property
    def start_time(self) -> float:
        return self._row.start_time

    @property
    def end_time(self) -> float | None:
        return self._row.end_time

    @property
    def duration(self) -> float | None:
        end = self._row.end_time
        return None if end is None else end - self._row.start_time

    @property
    def error(self) -> Mapping[str, Any] | None:
        """For a failed run: the exception's ``type``, ``message`` and ``traceback``."""
        return None if self._row.error is None else MappingProxyType(self._row.error)

    @property
    def folder(self) -> Path:
        """The run's folder: meta.json, attachments, checkpoints (absolute)."""
        return self._handle.folder

    @property
    def parent_id(self) -> str | None:
        return self._row.parent_id

    @property
    def config_hash(self) -> str:
        """A stable hash of the config's content (key order does not matter)."""
        from recordkit.capture import config_hash

        return config_hash(self._row.config)

    @property
    def code_hash(self) -> str | None:
        """A hash of the code identity: git commit plus the uncommitted diff; None outside git."""
        return code_hash(self._row.env)

    def update_config(self, values: Any = None, /, **more: Any) -> None:
        """Add config keys after the start. Existing values are frozen: changing one raises ConfigError.

        Examples
        --------
        >>> run.update_config({"resolved_batch_size": 256})   # doctest: +SKIP
        """
        from recordkit.capture import config_to_dict, scrub_config

        if self._row.status not in ("running", "paused"):
            raise RunStateError(f"run {self.id!r} is {self._row.status}; its config can no longer change")
        added = config_to_dict(values)
        added.update(config_to_dict(more))
        settings = self._handle.settings
        added = scrub_config(added, allow=settings.env_allow, deny=settings.env_deny)
        merged = merge_new_keys(self._row.config, added)
        self._handle.backend.update_config(self.id, merged)
        self._row.config = merged
        self.config = freeze(merged)
        write_meta(self._row, self._handle.root)

    def run_fields(self) -> dict[str, Any]:
        """The run-level fields every flat record of this run carries."""
        from recordkit.runs.meta import run_fields

        return run_fields(self._row)

    # --- counters ----------------------------------------------------------------------------
    @property
    def step(self) -> int:
        return self._handle.step

    @property
    def epoch(self) -> int:
        return self._handle.epoch

    def next_step(self, count: int = 1) -> int:
        """Advance the step counter and return the new step."""
        self._handle.step = check_step(self._handle.step + check_step(count))
        return self._handle.step

    def next_epoch(self, count: int = 1) -> int:
        """Advance the epoch counter and return the new epoch."""
        handle = self._handle
        handle.epoch += count
        handle.channel.put(UpdateRun(self.id, step=handle.step, epoch=handle.epoch))
        return handle.epoch

    # --- lifecycle ---------------------------------------------------------------------------
    def _continue_from(self, step: int, epoch: int, next_seq: int, checkpoint: Checkpoint | None) -> None:
        """Set a resumed run's counters (``runs.resume``): logging continues at ``step``, sequence ``next_seq``."""
        import itertools

        handle = self._handle
        handle.seq = itertools.count(next_seq)
        handle.step, handle.epoch = step, epoch
        self._last_step = step
        self.resumed_from = checkpoint

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything logged so far is durable; raise a background storage error if any."""
        self._handle.flush(timeout)

    def pause(self) -> None:
        """Mark the run paused (logging raises until ``resume()``)."""
        handle = self._handle
        if handle.row.status != "running" or not handle.writable:
            raise RunStateError(f"only a running run can be paused; run {self.id!r} is {handle.row.status}")
        from recordkit.runs.events import emit

        emit(handle, "paused", {})
        self._paused_at = time.time()
        self.flush()
        handle.backend.set_status(self.id, "paused")
        handle.row.status = "paused"
        handle.writable = False

    def resume(self) -> None:
        """Continue a paused run (records a ``resumed`` event with how long it was paused)."""
        handle = self._handle
        if handle.row.status != "paused":
            raise RunStateError(f"only a paused run can be resumed; run {self.id!r} is {handle.row.status}")
        from recordkit.runs.events import emit

        handle.backend.set_status(self.id, "running")
        handle.row.status = "running"
        handle.writable = True
        paused_for = None if self._paused_at is None else time.time() - self._paused_at
        emit(handle, "resumed", {"paused_for": paused_for})

    def finish(self, status: RunStatus | str = RunStatus.FINISHED, *, error: BaseException | None = None) -> None:
        """End the run: drain its records, store the final status (and the error), update meta.json.

        A run never reads ``finished`` while records of it are not stored: when storage fails (a full
        disk, a lost server without a spool) the run stays ``running``, its unstored data stays in memory
        and is retried, and a :class:`~recordkit.StorageError` says what to do; call ``finish()`` again
        once the cause is fixed. Any other background error (an item that could not be stored at all)
        is raised after the status is stored.
        """
        status = RunStatus(status)
        if status in (RunStatus.RUNNING, RunStatus.PAUSED):
            raise RunStateError(f"finish() takes a final status, not {status.value!r}")
        from recordkit.runs.ending import end

        end(self._handle, status.value, error, forget=lambda: lifecycle.forget(self), ended=self._store._finished)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._row.end_time is not None:
            return  # finished inside the block
        if exc is None:
            self.finish()
        elif isinstance(exc, (KeyboardInterrupt, SystemExit)) and not is_error_exit(exc):
            self.finish(RunStatus.INTERRUPTED, error=exc)
        else:
            self.finish(RunStatus.FAILED, error=exc)
        # Returning None lets the exception propagate unchanged.

    # --- reading -----------------------------------------------------------------------------
    @property
    def records(self) -> Records:
        """Every record of this run, read flat."""
        from recordkit.read.records import Records

        return Records(self._store, run_ids=[self.id])

    def history(self, key: str, /, **filters: Any) -> tuple[list[int], list[Any]]:
        """(steps, values) of one series of ``key`` in log order, ``([], [])`` if never logged.

        Keyword filters pick the series by its scope fields (``phase="eval"``; a value or a callable,
        as ``where``), or ``key`` is its label (``"phase=eval/loss"``); a call matching several series, or
        none of them, raises ``QueryError`` naming
        them (:meth:`series` returns them all). Images, histograms and tables come back as
        ``rk.Image`` / ``rk.Histogram`` / ``rk.Table``.

        >>> steps, losses = run.history("loss", phase="eval")      # doctest: +SKIP
        """
        from recordkit.read.series import pick_one

        self._flush_if_live()
        found = pick_one(self.series, key, filters, f"run {self.id!r}")
        steps, values = ([], []) if found is None else (list(found.steps), list(found.values))
        if any(type(v) in (dict, list) for v in values):
            from recordkit.media import from_stored

            values = from_stored(values, self._handle.root)
        return steps, values

    def series(self, key: str, *, after_seq: int = -1) -> list[Series]:
        """One key's own values, one :class:`~recordkit.Series` per scope label, in scope order.

        A key logged under ``phase="train"`` and ``phase="eval"`` gives two series, labelled
        ``phase=train/loss`` and ``phase=eval/loss`` (counters such as ``epoch`` are not part of a
        label: see docs/design.md). Each holds ``seqs``, ``steps``, ``times`` and ``values`` in log
        order; only the key's column is read, so a million points take about a second, not a record
        per point. ``after_seq`` keeps only records logged after that sequence number (a live reader
        asks for what is new since the last ``seqs[-1]``).

        Examples
        --------
        >>> [(s.label, s.values[-1]) for s in run.series("loss")]      # doctest: +SKIP
        [('phase=train/loss', 0.12), ('phase=eval/loss', 0.19)]
        """
        from recordkit.read.series import run_series

        return run_series(self._store, self.id, self._row.root_scope, key, after_seq=after_seq)

    def plot(
        self, keys: str | Sequence[str], *, by: str | None = None, path: str | os.PathLike[str] | None = None
    ) -> Path:
        """Save a PNG of ``keys`` against step (one line per key, or per key and value of ``by``).

        Default path: ``<run folder>/plots/<keys>.png``. Needs matplotlib (``pip install 'recordkit[plot]'``).

        Examples
        --------
        >>> run.plot(["loss", "acc"])                 # doctest: +SKIP
        >>> run.plot("loss", by="model")              # doctest: +SKIP
        """
        from recordkit.read.plots import plot_run

        return plot_run(self, [keys] if isinstance(keys, str) else list(keys), by=by, path=path)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per series: last value, its step, min, max and count (kept on write; no scan).

        Keys are series labels: ``loss`` for the run's own records, ``phase=eval/loss`` for ``loss``
        logged in a scope ``phase="eval"`` (see :meth:`series`). A live run's logged values are
        flushed first, so a value logged just before is in the summary.
        """
        self._flush_if_live()
        return {
            key: {"last": s.last, "last_step": s.last_step, "min": s.min, "max": s.max, "count": s.count}
            for key, s in self._handle.backend.summary(self.id).items()
        }

    def _flush_if_live(self) -> None:
        if self._handle.writable:
            self.flush()

    # --- events ------------------------------------------------------------------------------
    def event(self, name: str, /, **data: Any) -> None:
        """Record an event: a hierarchical ``name`` (``"epoch/2/eval"``) and JSON-able data.

        Costs about as much as ``log`` (the background writer stores it). Lifecycle events (started,
        paused, resumed, finished, failed, attached, checkpoint, linked…) are written by recordkit.

        Examples
        --------
        >>> run.event("epoch/2/eval", acc=0.91)                 # doctest: +SKIP
        """
        (_EVENTS or _load_events()).user_event(self._handle, name, data)

    def context(self, name: str) -> EventContext:
        """A handle whose events are named ``<name>/…``; contexts nest."""
        from recordkit.runs.events import EventContext

        return EventContext(self._handle, name)

    def timed(self, name: str, /, **data: Any) -> Timed:
        """``with run.timed("eval"):`` records an event with the block's duration (also if it raises)."""
        from recordkit.runs.events import Timed, check_event_name

        return Timed(self._handle, check_event_name(name), data)

    @property
    def events(self) -> Events:
        """This run's events, oldest first (``.under("epoch/2")``, ``.to_jsonl(path)``)."""
        from recordkit.runs.events import Events

        return Events.load(self._handle, [self.id])

    # --- files -------------------------------------------------------------------------------
    def attach(self, source: Any, name: str | None = None) -> FileInfo:
        """Store a file's content in the store, once per distinct content (sha256), and record it.

        Parameters
        ----------
        source
            A path, ``bytes``, or a binary file object.
        name
            The name inside the run (``plots/loss.png``); default: the file's own name. Required for
            bytes. Names are labels: relative, ``/``-separated, never escaping the store.

        Examples
        --------
        >>> run.attach("plot.png")                               # doctest: +SKIP
        >>> run.attach(b"...", name="notes/summary.txt")          # doctest: +SKIP
        """
        from recordkit.runs.files import attach

        return attach(self._handle, source, name)

    def reference(self, path: str | os.PathLike[str], *, hash: bool = False, name: str | None = None) -> FileInfo:
        """Record a file or folder outside the store (path, size, mtime; sha256 with ``hash=True``), not copied."""
        from recordkit.runs.files import reference

        return reference(self._handle, path, hash=hash, name=name)

    @property
    def files(self) -> list[FileInfo]:
        """Attachments, references and checkpoints of this run, oldest first (removed ones left out)."""
        from recordkit.runs.files import files

        return files(self._handle)

    def open_file(self, name: str) -> Any:
        """Open the latest file recorded under ``name`` for reading (binary)."""
        from recordkit.runs.files import open_file

        return open_file(self._handle, name)

    # --- checkpoints -------------------------------------------------------------------------
    def save_model(
        self,
        model: Any,
        name: str,
        mode: str = "state_dict",
        step: int | None = None,
        *,
        optimizer: Any = None,
        extra: Any = None,
        metrics: Mapping[str, Any] | None = None,
        retention: Retention | None = None,
    ) -> Checkpoint:
        """Save a PyTorch checkpoint atomically (a kill mid-save never leaves a torn checkpoint).

        Parameters
        ----------
        model
            A ``torch.nn.Module`` (or anything with ``state_dict()`` for ``mode="state_dict"``).
        name
            The checkpoint's name; each name keeps its own series of steps.
        mode
            ``"state_dict"`` (the weights; loads safely) or ``"model"`` (the whole pickled module).
        step
            Default: ``run.step``.
        optimizer, extra
            An optimizer (its ``state_dict()`` is saved) and any other state to keep alongside.
        metrics
            Values to rank checkpoints by; a retention metric missing here is read from the run's log.
        retention
            Overrides ``run.retention`` for this save: which checkpoints of ``name`` stay on disk.

        Examples
        --------
        >>> run.save_model(model, "cnn", optimizer=opt, retention=rk.Retention(keep_last=3))  # doctest: +SKIP
        """
        from recordkit.runs.checkpoints import save_model

        return save_model(
            self._handle, model, name, mode=mode, step=step, optimizer=optimizer, extra=extra,  # type: ignore[arg-type]
            metrics=metrics, retention=retention,
        )

    def add_checkpoint(
        self,
        path: str | os.PathLike[str],
        name: str,
        step: int | None = None,
        *,
        metrics: Mapping[str, Any] | None = None,
        retention: Retention | None = None,
    ) -> Checkpoint:
        """Copy a checkpoint file another library saved (a Lightning ``.ckpt``) into the run as a checkpoint.

        Stored atomically like ``save_model``'s, under ``checkpoints/<name>/step-<step><suffix>``
        (``mode="file"``), and listed, ranked (``metrics``) and retained like them; ``load_model(name,
        into=module)`` loads the file's ``state_dict`` entry.

        Examples
        --------
        >>> run.add_checkpoint("lightning_logs/epoch=0-step=10.ckpt", "lightning", step=10)   # doctest: +SKIP
        """
        from recordkit.runs.checkpoints import add_checkpoint

        return add_checkpoint(self._handle, path, name, step=step, metrics=metrics, retention=retention)

    def load_model(
        self, name: str, into: Any = None, step: int | str = "latest", *, optimizer: Any = None, **options: Any
    ) -> Any:
        """Load a checkpoint: into ``into`` (a module, returned) or as stored (a state dict or a module).

        ``step`` is ``"latest"``, ``"best"`` (with ``metric=``, ``mode="min"|"max"``) or a step.
        ``optimizer`` gets its saved state back. Other options: ``map_location`` (default ``"cpu"``),
        ``weights_only`` (default True for state dicts), ``verify`` (check the sha256 first).

        Examples
        --------
        >>> run.load_model("cnn", into=model, optimizer=opt)       # doctest: +SKIP
        """
        from recordkit.runs.checkpoints import load_model

        return load_model(self._handle, name, into=into, step=step, optimizer=optimizer, **options)

    def load_checkpoint(self, name: str, step: int | str = "latest", **options: Any) -> LoadedCheckpoint:
        """Everything a checkpoint holds: ``model``, ``optimizer`` state, ``extra``, and its ``info``."""
        from recordkit.runs.checkpoints import load_checkpoint

        return load_checkpoint(self._handle, name, step=step, **options)

    def checkpoints(self, name: str | None = None, *, include_removed: bool = False) -> list[Checkpoint]:
        """Saved checkpoints (of one name, or all), by step; with their epochs, metrics and files."""
        from recordkit.runs.checkpoints import checkpoints

        return checkpoints(self._handle, name, include_removed=include_removed)

    # --- sub-runs and links ------------------------------------------------------------------
    def sub_run(
        self,
        kind: str,
        name: str | None = None,
        config: Any = None,
        *,
        tags: Sequence[str] = (),
        capture: bool | Sequence[str] = True,
        seed: int | None = None,
    ) -> Run:
        """Start a run whose parent is this one, in ``<this run's folder>/<kind>/<name>/``.

        The parent may have ended (a later script can add sub-runs to a finished run). Sub-runs are
        numbered among their parent's sub-runs and listed by ``children()``.

        Examples
        --------
        >>> with run.sub_run("squeeze", name="subexp_1", config={"ratio": 0.5}) as sub:   # doctest: +SKIP
        ...     sub.log(acc=0.9)
        """
        from recordkit.runs.lineage import check_sub_run, folder_claimer, record_sub_run

        kind = check_sub_run(kind, name)
        child = self.collection._start(
            config, name=name, tags=tags, capture=capture, seed=seed, parent_id=self.id,
            folder_of=folder_claimer(self._handle, kind, name),
        )
        record_sub_run(self._handle, child._handle, kind, name)
        return child

    def children(self, kind: str | None = None) -> list[Run]:
        """Sub-runs of this run (of one kind, or all), oldest first."""
        from recordkit.runs.lineage import kind_of

        return [
            run for run in self.collection.runs()
            if run.parent_id == self.id and (kind is None or kind_of(run._row) == kind)
        ]

    @property
    def parent_run(self) -> Run | None:
        """The run this one is a sub-run of, or None (``parent`` is the parent *scope*, as for any scope)."""
        return None if self.parent_id is None else self._store.run(self.parent_id)

    @property
    def kind(self) -> str | None:
        """A sub-run's kind (``"squeeze"``), or None for a top-level run."""
        from recordkit.runs.lineage import kind_of

        return kind_of(self._row)

    def link(self, other: Run | str, relation: str, /, **data: Any) -> Link:
        """Record that this run relates to ``other`` (a Run or id), e.g. ``run.link(base, "fine-tunes")``.

        Both runs list the link in ``links()``. Allowed on ended runs too: provenance may be added later.
        """
        from recordkit.runs.lineage import link

        other_id = other.id if isinstance(other, Run) else other
        if not isinstance(other_id, str):
            raise TypeError(f"link() takes a Run or a run id, not {other!r}")
        target = self._store.run(other_id)  # the other run must exist (a prefix is resolved)
        return link(self._handle, target.id, relation, data)

    def links(self, relation: str | None = None) -> list[Link]:
        """Links from and to this run (optionally of one relation), oldest first."""
        from recordkit.runs.lineage import links

        return links(self._handle, relation)

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<Run {self._row.collection}#{self.number}{name} {self.id} {self._row.status}>"


_EVENTS: Any = None  # recordkit.runs.events, imported on first use (a per-call import costs about 1 µs)


def _load_events() -> Any:
    global _EVENTS
    import recordkit.runs.events as events

    _EVENTS = events
    return events
