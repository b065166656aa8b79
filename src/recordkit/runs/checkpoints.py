"""PyTorch checkpoints of a run: save, load, list, and a retention policy.

A checkpoint is one ``torch.save`` file at ``<run folder>/checkpoints/<name>/step-<step>.pt`` holding
the model (its ``state_dict``, or the whole pickled module with ``mode="model"``), the optimizer's
state and any extra state. It is streamed to a temporary file in the same folder (hashing as it goes),
fsynced and renamed, and only then recorded: a process killed mid-save leaves a stray temporary file,
never a torn checkpoint that a load would pick up, and the previous checkpoint stays the latest.
A file another library saved (a Lightning ``.ckpt``) is copied in the same way by ``add_checkpoint``
(``mode="file"``); loading one gives its ``state_dict`` entry when it has one.

torch is imported only when a checkpoint is saved or loaded (``pip install 'recordkit[torch]'``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from recordkit import _values as V
from recordkit._deps import require
from recordkit._exceptions import RecordkitWarning, RunFileNotFoundError, StorageError, StoreError
from recordkit._names import check_name
from recordkit.backends.base import AddFile, FileRow, RemoveFile
from recordkit.runs.events import emit
from recordkit.runs.files import CHECKPOINT, HashingWriter, inside

if TYPE_CHECKING:
    from recordkit.runs.handle import RunHandle

FORMAT = "recordkit.checkpoint/1"
Mode = Literal["state_dict", "model"]


@dataclasses.dataclass(frozen=True)
class Retention:
    """Which checkpoints of a name to keep on disk after each save.

    The union is kept: the ``keep_last`` newest (by step), and the ``keep_best`` best by ``metric``
    (smallest with ``mode="min"``, largest with ``"max"``; checkpoints without a numeric value for it
    never count as best). Leave both None to keep everything.
    Deleted checkpoints stay listed with ``include_removed=True`` (their rows are never forgotten).

    Examples
    --------
    >>> run.retention = rk.Retention(keep_last=2, keep_best=1, metric="val_loss")   # doctest: +SKIP
    """

    keep_last: int | None = None
    keep_best: int | None = None
    metric: str | None = None
    mode: Literal["min", "max"] = "min"

    def __post_init__(self) -> None:
        for field in ("keep_last", "keep_best"):
            value = getattr(self, field)
            if value is not None and (type(value) is not int or value < 1):
                raise ValueError(f"{field} must be a positive int or None, not {value!r}")
        if self.keep_best is not None and not self.metric:
            raise ValueError("keep_best needs metric=, the logged key that ranks checkpoints")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {self.mode!r}")


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A saved checkpoint: which run, name, step and epoch, the file, and the metrics recorded with it."""

    run_id: str
    name: str
    step: int
    epoch: int
    mode: str
    path: Path
    size: int
    sha256: str
    time: float
    metrics: Mapping[str, Any]
    removed: float | None = None


@dataclasses.dataclass
class LoadedCheckpoint:
    """What ``run.load_checkpoint`` returns: the stored objects, and the ``Checkpoint`` they came from."""

    info: Checkpoint
    model: Any
    optimizer: Any
    extra: Any


def _torch() -> Any:
    return require("torch", "checkpoints need PyTorch")


def save_model(
    run: RunHandle,
    model: Any,
    name: str,
    *,
    mode: Mode = "state_dict",
    step: int | None = None,
    optimizer: Any = None,
    extra: Any = None,
    metrics: Mapping[str, Any] | None = None,
    retention: Retention | None = None,
) -> Checkpoint:
    name = check_name(name, "checkpoint name")
    if mode not in ("state_dict", "model"):
        raise ValueError(f"mode must be 'state_dict' or 'model', not {mode!r}")
    if step is not None:
        step = V.check_step(step)
    run.require_live("save a checkpoint")
    run.files_root()
    torch = _torch()
    policy, chosen = _policy_and_metrics(run, metrics, retention)
    if mode == "state_dict":
        if not hasattr(model, "state_dict"):
            raise TypeError(f"mode='state_dict' needs an object with .state_dict(), not {type(model).__name__}")
        stored_model = model.state_dict()
    else:
        stored_model = model
    step = run.step if step is None else step
    payload = {
        "format": FORMAT,
        "name": name,
        "mode": mode,
        "step": step,
        "epoch": run.epoch,
        "model": stored_model,
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "extra": extra,
        "metrics": chosen,
    }
    return _store(run, name, step, mode, chosen, policy, ".pt", lambda writer: torch.save(payload, writer))


def add_checkpoint(
    run: RunHandle,
    path: str | os.PathLike[str],
    name: str,
    *,
    step: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    retention: Retention | None = None,
) -> Checkpoint:
    """``run.add_checkpoint``: copy a checkpoint file another library wrote into the run, as a checkpoint.

    The copy goes the way ``save_model`` writes (temporary file hashed while written, fsynced,
    renamed), keeps the source's suffix, and is listed, ranked and retained like any checkpoint
    (``mode="file"``).
    """
    name = check_name(name, "checkpoint name")
    if step is not None:
        step = V.check_step(step)  # the same rule as save_model and log
    source = Path(path)
    if not source.is_file():
        raise RunFileNotFoundError(f"checkpoint file {str(source)!r} does not exist; pass the path of a saved file")
    run.require_live("add a checkpoint")
    run.files_root()
    policy, chosen = _policy_and_metrics(run, metrics, retention)

    def copy(writer: HashingWriter) -> None:
        with source.open("rb") as src:
            while chunk := src.read(1 << 22):
                writer.write(chunk)

    step = run.step if step is None else step
    suffix = source.suffix if re.fullmatch(r"\.[A-Za-z0-9_]{1,16}", source.suffix) else ".bin"
    return _store(run, name, step, "file", chosen, policy, suffix, copy)


def _policy_and_metrics(
    run: RunHandle, metrics: Mapping[str, Any] | None, retention: Retention | None
) -> tuple[Retention | None, dict[str, Any]]:
    """The retention this save applies (``retention``, else the run's) and the metrics it ranks by;
    a retention metric not given is read from the run's log."""
    policy = retention if retention is not None else run.retention
    chosen = dict(V._plain_json(dict(metrics))) if metrics else {}
    if policy is not None and policy.metric and policy.metric not in chosen:
        chosen[policy.metric] = _last_logged(run, policy.metric)
    return policy, chosen


def _store(
    run: RunHandle, name: str, step: int, mode: str, chosen: dict[str, Any], policy: Retention | None, suffix: str,
    write: Callable[[HashingWriter], None],
) -> Checkpoint:
    """Write a checkpoint through ``write`` into ``checkpoints/<name>/step-<step><suffix>``, record it, retain."""
    root = run.files_root()
    folder = run.folder / "checkpoints" / name
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step}{suffix}"
    tmp = folder / f".{final.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        with tmp.open("wb") as out, HashingWriter(out) as writer:
            write(writer)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    now = time.time()
    relative = os.path.relpath(final, root)
    meta = {"step": step, "epoch": run.epoch, "mode": mode, "metrics": chosen}
    run.channel.put(
        AddFile(run.run_id, name, CHECKPOINT, now, step, writer.size, writer.digest.hexdigest(), relative, None, meta)
    )
    emit(run, "checkpoint", {"name": name, "step": step, "path": relative, "size": writer.size, **chosen})
    saved = Checkpoint(run.run_id, name, step, run.epoch, mode, final, writer.size, writer.digest.hexdigest(), now,
                       MappingProxyType(chosen))
    if policy is not None and (policy.keep_last is not None or policy.keep_best is not None):
        _apply_retention(run, name, policy)
    return saved


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk (POSIX); not possible on Windows.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _last_logged(run: RunHandle, metric: str) -> Any:
    run.flush()
    from recordkit.backends.labels import resolve

    summary = run.backend.summary(run.run_id)
    metric = resolve(metric, summary, f"run {run.run_id!r}") or metric  # "loss" is its one series
    if metric not in summary:
        raise ValueError(
            f"the retention metric {metric!r} was never logged in run {run.run_id!r}; log it before save_model, "
            f"or pass metrics={{{metric!r}: value}}"
        )
    return summary[metric].last


def _from_row(root: Path, row: FileRow) -> Checkpoint:
    meta = row.meta
    return Checkpoint(
        row.run_id, row.name, int(meta.get("step", row.step)), int(meta.get("epoch", 0)), str(meta.get("mode")),
        inside(root, row.path or ""), int(row.size or 0), str(row.sha256), row.time,
        MappingProxyType(dict(meta.get("metrics") or {})), row.removed,
    )


def checkpoints(run: RunHandle, name: str | None = None, *, include_removed: bool = False) -> list[Checkpoint]:
    """Checkpoints of a run, oldest first (by step, then save time); one entry per file."""
    root = run.root
    if root is None:
        return []
    run.flush()
    latest: dict[str, Checkpoint] = {}
    for row in run.backend.files([run.run_id]):
        if row.kind == CHECKPOINT and (name is None or row.name == name):
            latest[row.path or ""] = _from_row(root, row)  # a re-save of the same step replaces the row
    found = [c for c in latest.values() if include_removed or c.removed is None]
    return sorted(found, key=lambda c: (c.step, c.time))


def _apply_retention(run: RunHandle, name: str, policy: Retention) -> list[Checkpoint]:
    live = checkpoints(run, name)
    keep: set[Path] = set()
    if policy.keep_last is not None:
        keep.update(c.path for c in live[-policy.keep_last:])
    if policy.keep_best is not None and policy.metric:
        metric = policy.metric
        ranked = [c for c in live if _rankable(c.metrics.get(metric))]
        ranked.sort(key=lambda c: (c.metrics[metric] if policy.mode == "min" else -c.metrics[metric], -c.step))
        keep.update(c.path for c in ranked[: policy.keep_best])
    removed = [c for c in live if c.path not in keep]
    if not removed:
        return removed
    root = run.files_root().resolve()  # checkpoint paths are resolved too (see inside())
    for c in removed:
        relative = os.path.relpath(c.path, root)
        run.channel.put(RemoveFile(run.run_id, relative, time.time()))
        emit(run, "checkpoint/removed", {"name": name, "step": c.step, "path": relative})
    # The removal rows are durable before a file goes: a kill in between leaves a file no run lists
    # (`recordkit gc` takes it), never a listed checkpoint that is gone.
    try:
        run.flush()
    except StorageError as exc:
        warnings.warn(
            f"recordkit kept {len(removed)} checkpoint file(s) of {name!r} that retention removes: their removal "
            f"is not stored yet ({exc}); `recordkit gc` deletes them once it is",
            RecordkitWarning, stacklevel=4,
        )
        return removed
    for c in removed:
        c.path.unlink(missing_ok=True)
    return removed


def _rankable(value: Any) -> bool:
    return type(value) in (int, float) and value == value


def find(run: RunHandle, name: str, step: int | str = "latest", *, metric: str | None = None,
         mode: Literal["min", "max"] = "min") -> Checkpoint:
    """The checkpoint ``load_model`` would read: ``"latest"`` (highest step), ``"best"`` by a metric, or a step."""
    name = check_name(name, "checkpoint name")
    live = checkpoints(run, name)
    if not live:
        names = sorted({c.name for c in checkpoints(run)})
        raise RunFileNotFoundError(
            f"run {run.run_id!r} has no checkpoint named {name!r} (its checkpoints: {', '.join(names) or 'none'})"
        )
    if step == "latest":
        return live[-1]
    if step == "best":
        metric = metric or (run.retention.metric if run.retention is not None else None)
        if not metric:
            raise ValueError("step='best' needs metric=, the key that ranks checkpoints")
        ranked = [c for c in live if _rankable(c.metrics.get(metric))]
        if not ranked:
            raise RunFileNotFoundError(f"no checkpoint {name!r} of run {run.run_id!r} recorded the metric {metric!r}")
        pick = min if mode == "min" else max
        return pick(ranked, key=lambda c: c.metrics[metric])
    if type(step) is not int:
        raise ValueError(f"step must be an int, 'latest' or 'best', not {step!r}")
    for c in reversed(live):
        if c.step == step:
            return c
    steps = ", ".join(str(c.step) for c in live)
    raise RunFileNotFoundError(f"checkpoint {name!r} of run {run.run_id!r} has no step {step} (steps kept: {steps})")


def load_checkpoint(
    run: RunHandle,
    name: str,
    *,
    step: int | str = "latest",
    metric: str | None = None,
    mode: Literal["min", "max"] = "min",
    map_location: Any = "cpu",
    weights_only: bool | None = None,
    verify: bool = False,
) -> LoadedCheckpoint:
    info = find(run, name, step, metric=metric, mode=mode)
    torch = _torch()
    if not info.path.is_file():
        raise RunFileNotFoundError(f"checkpoint file {str(info.path)!r} of run {run.run_id!r} is missing")
    size = info.path.stat().st_size
    if size != info.size:
        raise StoreError(f"checkpoint file {str(info.path)!r} has {size} bytes, {info.size} were saved: it is damaged")
    if verify:
        digest = hashlib.sha256()
        with info.path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != info.sha256:
            raise StoreError(f"checkpoint file {str(info.path)!r} does not match its recorded sha256: it is damaged")
    # A whole pickled module needs full unpickling: only load checkpoints you trust.
    safe = info.mode != "model" if weights_only is None else weights_only
    payload = torch.load(info.path, map_location=map_location, weights_only=safe)
    if info.mode == "file":  # another library's file (add_checkpoint): its weights, when it names them
        state = payload.get("state_dict") if isinstance(payload, dict) else None
        return LoadedCheckpoint(info, payload if state is None else state, None, payload)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise StoreError(f"{str(info.path)!r} is not a recordkit checkpoint")
    return LoadedCheckpoint(info, payload["model"], payload["optimizer"], payload["extra"])


def load_model(
    run: RunHandle,
    name: str,
    *,
    into: Any = None,
    step: int | str = "latest",
    optimizer: Any = None,
    **options: Any,
) -> Any:
    loaded = load_checkpoint(run, name, step=step, **options)
    if optimizer is not None:
        if loaded.optimizer is None:
            raise StoreError(f"checkpoint {name!r} step {loaded.info.step} was saved without an optimizer state")
        optimizer.load_state_dict(loaded.optimizer)
    if into is None:
        return loaded.model
    state = loaded.model.state_dict() if loaded.info.mode == "model" else loaded.model
    into.load_state_dict(state)
    return into
