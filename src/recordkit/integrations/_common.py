"""What the framework integrations share: their run, their config, their metrics.

Frameworks hand over hyperparameters and metrics in their own shapes (namespaces, tensors, objects
in a config); these functions turn them into what a run stores, and never stop training over a value
recordkit cannot store: such a config value is kept as its text, such a metric is left out with one
warning per key.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from recordkit._exceptions import ConfigError, RecordkitWarning
from recordkit._store import Store
from recordkit._store import open as open_store
from recordkit._values import RESERVED_KEYS
from recordkit.runs.run import Run, RunStatus

# A config value kept as text is cut at this length (a model's repr can run to pages).
_TEXT_LIMIT = 1000


def given_run(run: Run | None) -> Run | None:
    """The run a user passed to an integration's constructor, checked there rather than at the first log."""
    if run is not None and not isinstance(run, Run):
        raise TypeError(f"run= takes a live recordkit Run (from start_run or rk.init), not {run!r}")
    return run


def start_run(
    *,
    project: str,
    store: str | os.PathLike[str] | Store | None,
    config: Any,
    name: str | None,
    tags: Sequence[str],
    capture: bool | Sequence[str],
) -> tuple[Run, bool]:
    """A new run the integration owns (and so finishes); a run the user passed never comes here."""
    opened = store if isinstance(store, Store) else open_store(store)
    return opened.collection(project).start_run(plain_config(config), name=name, tags=tags, capture=capture), True


def plain_config(value: Any) -> dict[str, Any]:
    """Hyperparameters (a dict, namespace, dataclass, object with ``to_dict()``…) as a JSON-able dict."""
    if value is None:
        return {}
    plain = _plain(value, 0)
    if not isinstance(plain, dict):
        raise ConfigError(f"hyperparameters must be a mapping or an object with fields, not {type(value).__name__}")
    return plain


def _plain(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return _plain(value.value, depth)
    if depth > 20:  # a cycle, or nesting no config needs
        return _text(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
    item = _scalar(value)
    if item is not None:
        return _plain(item, depth)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        try:
            return _plain(to_dict(), depth + 1)
        except Exception:  # a to_dict() that needs arguments, or fails: keep the text
            return _text(value)
    if type(value).__name__ in ("Namespace", "SimpleNamespace", "AttributeDict"):
        return _plain(vars(value), depth + 1)
    return _text(value)


def _text(value: Any) -> str:
    try:
        text = str(value)
    except Exception:
        text = f"<{type(value).__qualname__}>"
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


def _scalar(value: Any) -> Any:
    """A one-element tensor or array (or a numpy scalar) as a Python number; None for anything else."""
    item = getattr(value, "item", None)
    if not callable(item):
        return None
    size = getattr(value, "size", None)
    count = getattr(value, "numel", None)
    try:
        n = count() if callable(count) else (size if isinstance(size, int) else 1)
        return item() if n == 1 else None
    except Exception:
        return None


def update_config(run: Run, params: Any) -> None:
    """Add the framework's hyperparameters to the run's config; one that changed is kept and warned about."""
    values = plain_config(params)
    try:
        run.update_config(values)
        return
    except ConfigError:
        pass
    kept = []
    for key, value in values.items():
        try:
            run.update_config({key: value})
        except ConfigError:
            kept.append(key)
    warnings.warn(
        f"hyperparameters {', '.join(map(repr, kept))} differ from run {run.id!r}'s config, which keeps its "
        "first values (a config is frozen once recorded; start a new run for new hyperparameters)",
        RecordkitWarning,
        stacklevel=3,
    )


class Metrics:
    """Turns a framework's metric dicts into records, warning once per key it has to leave out."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._warned: set[str] = set()

    def __call__(self, values: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key in skip:
                continue
            name = f"{self.prefix}{key}"
            if name in RESERVED_KEYS:  # "step" or "time" from a framework: keep it under a free name
                name += "_value"
            if value is None or isinstance(value, (bool, int, float, str)):
                out[name] = value
                continue
            item = _scalar(value)
            if item is not None:
                out[name] = item
            elif name not in self._warned:
                self._warned.add(name)
                warnings.warn(
                    f"metric {name!r} is a {type(value).__name__}, not a number; it is left out of the run "
                    "(log it yourself with run.log if you need it)",
                    RecordkitWarning,
                    stacklevel=3,
                )
        return out


def needs_new_run(run: Run | None, owned: bool) -> bool:
    """Whether a training that begins records into a new run: there is none yet, or the integration's
    own one has ended (a second ``fit()``, the next hyperparameter-search trial)."""
    return run is None or (owned and run.end_time is not None)


def reopened(run: Run, owned: bool) -> Run:
    """The run to log into again: the integration's own run, if ended (an ``evaluate()`` or ``test()``
    after training), is resumed; a run the user passed in is theirs to end, so it stays as it is."""
    if owned and run.end_time is not None:
        return run.collection.resume_run(run.id, from_checkpoint=False)
    return run


def end_run(run: Run, owned: bool, status: RunStatus | str, error: BaseException | None = None) -> None:
    """The training is over: the integration's own run is finished once, with the outcome; a run the
    user passed in stays open and is only flushed."""
    if run.end_time is not None:
        return
    if owned:
        run.finish(status, error=error)
    else:
        run.flush()
