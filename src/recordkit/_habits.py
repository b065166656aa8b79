"""The shapes wandb users type from memory: ``rk.config``, ``rk.summary`` and a run of ``mode="disabled"``.

``rk.config`` and ``rk.summary`` are views of whatever run is current when they are read (``rk.init``
makes one current), so ``import recordkit as rk; rk.config.lr`` works anywhere in a program. They
hold no state of their own: the run's config and summary in the store are the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from recordkit._exceptions import NoActiveRunError


class AttrView(Mapping[str, Any]):
    """A read-only mapping whose keys are also attributes (``config.opt.name``), nested views included."""

    def __init__(self, values: Callable[[], Mapping[str, Any]]) -> None:
        object.__setattr__(self, "_values", values)

    def __getitem__(self, key: str) -> Any:
        value = self._values()[key]
        return AttrView(lambda: value) if isinstance(value, Mapping) else value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            known = ", ".join(self._values()) or "none"
            raise AttributeError(f"the config has no key {name!r}; it has: {known}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())

    def __repr__(self) -> str:
        return repr(_plain(self._values()))


def _plain(value: Any) -> Any:
    return {k: _plain(v) for k, v in value.items()} if isinstance(value, Mapping) else value


class CurrentConfig(AttrView):
    """``rk.config``: the current run's config, read by key or attribute; ``update`` adds keys.

    Values are frozen once the run starts (DESIGN.md): ``update`` and assignment add new keys, and
    changing an existing value raises ``ConfigError``, as ``run.update_config`` does.

    Examples
    --------
    >>> rk.init(project="p", config={"lr": 0.1}); rk.config.lr       # doctest: +SKIP
    0.1
    >>> rk.config.update({"batch_size": 64}); rk.config.epochs = 3   # doctest: +SKIP
    """

    def __init__(self, current: Callable[[], Any]) -> None:
        super().__init__(lambda: _require(current, "rk.config").config)
        object.__setattr__(self, "_current", current)

    def update(self, values: Any = None, /, **more: Any) -> None:
        _require(self._current, "rk.config").update_config(values, **more)

    def __setattr__(self, name: str, value: Any) -> None:
        self.update({name: value})

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})


class CurrentSummary(MutableMapping[str, Any]):
    """``rk.summary``: the last value of each series of the current run; assign to record one.

    Reading ``rk.summary["acc"]`` gives the last value (a bare key means its only series, as
    ``phase=eval/acc``). Assigning ``rk.summary["best_acc"] = 0.97`` logs the value once at the
    current step without advancing it, so ``recordkit ls``, ``show`` and ``diff`` list it like any
    metric. Nothing recorded can be deleted.
    """

    def __init__(self, current: Callable[[], Any]) -> None:
        self._current = current

    def _stats(self) -> dict[str, dict[str, Any]]:
        return dict(_require(self._current, "rk.summary").summary())

    def __getitem__(self, key: str) -> Any:
        from recordkit.backends.labels import resolve

        stats = self._stats()
        found = resolve(key, stats, "the current run")
        if found is None:
            raise KeyError(key)
        return stats[found]["last"]

    def __setitem__(self, key: str, value: Any) -> None:
        _require(self._current, "rk.summary").log({key: value})

    def update(self, values: Any = (), /, **more: Any) -> None:  # type: ignore[override]
        given = {**dict(values), **more}
        if given:
            _require(self._current, "rk.summary").log(given)

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"summary values cannot be deleted (records are append-only); not deleting {key!r}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._stats())

    def __len__(self) -> int:
        return len(self._stats())

    def __repr__(self) -> str:
        return repr({key: stats["last"] for key, stats in self._stats().items()})


def _require(current: Callable[[], Any], what: str) -> Any:
    run = current()
    if run is None:
        raise NoActiveRunError(f"no current run: call rk.init(project=...) before using {what}")
    return run


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


class DisabledRun:
    """What ``rk.init(mode="disabled")`` returns: a run that accepts every call and records nothing.

    A script written for tracking runs unchanged with tracking off (a test, a debug session): logging,
    scopes, events and files are no-ops, the config reads back, the summary stays empty.
    """

    id = "disabled"
    number = 0
    error_number = 0
    status = "disabled"

    def __init__(self, project: str, config: Any, name: str | None, tags: Any, notes: str | None) -> None:
        from recordkit.capture import config_to_dict

        self.project, self.name, self.tags, self.notes = project, name, tuple(tags), notes
        self.config: dict[str, Any] = config_to_dict(config)
        self.pending: dict[str, Any] = {}
        self.step = 0
        self.epoch = 0

    def update_config(self, values: Any = None, /, **more: Any) -> None:
        from recordkit.capture import config_to_dict

        self.config.update(config_to_dict(values))
        self.config.update(config_to_dict(more))

    def log(self, values: Mapping[str, Any] | None = None, /, **kw: Any) -> None:
        self.pending = {}

    def next_step(self, count: int = 1) -> int:
        self.step += count
        return self.step

    def next_epoch(self, count: int = 1) -> int:
        self.epoch += count
        return self.epoch

    def scope(self, **fields: Any) -> DisabledRun:
        return self

    def summary(self) -> dict[str, dict[str, Any]]:
        return {}

    def history(self, key: str, /, **filters: Any) -> tuple[list[int], list[Any]]:
        return [], []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _nothing  # commit, event, attach, save_model, finish…: nothing to do

    def __enter__(self) -> DisabledRun:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __repr__(self) -> str:
        return f"<DisabledRun {self.project!r}: nothing is recorded>"
