"""Keras 3: :class:`RecordkitCallback`, a ``keras.callbacks.Callback`` that records ``fit()`` as a run.

>>> from recordkit.integrations.keras import RecordkitCallback                   # doctest: +SKIP
>>> model.fit(x, y, epochs=5, callbacks=[RecordkitCallback("mnist")])            # doctest: +SKIP

Works with every Keras 3 backend (JAX, TensorFlow, PyTorch): it only reads what Keras hands to
callbacks. The model's config, its optimizer's config and the ``fit()`` parameters become the run's
config; each epoch's metrics (``val_*`` included) become a record with ``epoch``, at the number of
batches trained so far; with ``log_batches`` every n-th batch's metrics too; the end of ``fit()``
finishes the run. An ``evaluate()`` given the callback records its metrics as ``eval_*`` into the
same run (resumed, then ended again).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from recordkit._deps import require
from recordkit._store import Store
from recordkit.integrations._common import Metrics, end_run, given_run, needs_new_run, plain_config, reopened, start_run
from recordkit.runs.run import Run, RunStatus

_keras = require("keras", "the Keras callback needs keras")
_Callback: Any = _keras.callbacks.Callback


class RecordkitCallback(_Callback):  # type: ignore[misc]
    """Records a Keras ``fit()`` as one run in a recordkit store.

    Parameters
    ----------
    project
        The collection the run goes to.
    store
        A store, or where to open one (default: ``RECORDKIT_STORE``, else ``./records``).
    name, tags, config, capture
        As for ``Collection.start_run``; ``config`` is recorded beside the model's.
    run
        Record into this live run instead of starting one; the callback then never finishes it.
    log_batches
        Also record the metrics of every n-th training batch (``True``: every batch) in a scope
        ``phase="batch"``; epoch records stay in the run itself.
    prefix
        Put before every metric key (``"keras/"``).

    Examples
    --------
    >>> callback = RecordkitCallback("mnist", log_batches=10)                      # doctest: +SKIP
    >>> model.fit(x, y, validation_split=0.2, epochs=3, callbacks=[callback])      # doctest: +SKIP
    >>> callback.run.history("val_loss")                                           # doctest: +SKIP
    """

    def __init__(
        self,
        project: str = "keras",
        *,
        store: str | os.PathLike[str] | Store | None = None,
        name: str | None = None,
        tags: Sequence[str] = (),
        config: Any = None,
        capture: bool | Sequence[str] = True,
        run: Run | None = None,
        log_batches: bool | int = False,
        prefix: str = "",
    ) -> None:
        super().__init__()
        every = 1 if log_batches is True else int(log_batches)
        if every < 0:
            raise ValueError(f"log_batches must be True, False or a positive number of batches, not {log_batches!r}")
        self._project = project
        self._start: dict[str, Any] = {"store": store, "name": name, "tags": tags, "capture": capture}
        self._config = config
        #: The run recorded into (None until ``fit()`` starts).
        self.run: Run | None = given_run(run)
        self._owned = run is None
        self._every = every
        self._metrics = Metrics(prefix)
        self._batches = 0  # training batches seen over the run: the records' step
        self._batch_scope: Any = None
        self._fitting = False

    # --- Keras's events ------------------------------------------------------------------------
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._fitting = True
        if needs_new_run(self.run, self._owned):
            self._new_run()

    def _new_run(self) -> Run:
        config = {**plain_config(self._config), **model_config(self.model, self.params)}
        self.run, self._owned = start_run(project=self._project, config=config, **self._start)
        self._batches, self._batch_scope = 0, None
        return self.run

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """An ``evaluate()`` outside ``fit()``: its metrics as ``eval_*``, into the run (resumed if ended)."""
        if self._fitting or not logs:  # fit()'s own validation arrives as val_* in on_epoch_end
            return
        run = self.run = self._new_run() if self.run is None else reopened(self.run, self._owned)
        values = self._metrics({f"eval_{key}": value for key, value in logs.items()})
        if values:
            run.log(values, step=self._batches)
        self.finish()

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._batches += 1
        if self._every and self.run is not None and logs and self._batches % self._every == 0:
            if self._batch_scope is None:
                self._batch_scope = self.run.scope(phase="batch")
            values = self._metrics(logs)
            if values:
                self._batch_scope.log(values, step=self._batches)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.run is None:
            return
        values = self._metrics(logs or {})
        values[f"{self._metrics.prefix}epoch"] = epoch
        self.run.log(values, step=self._batches)
        self.run.next_epoch()

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._fitting = False
        self.finish()

    def finish(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """Finish the callback's run now (the end of ``fit()`` does it); a run passed in stays open.

        A ``fit()`` that raises gets no callback event: recordkit's exit handling then marks the run
        ``failed`` with the exception that ends the process.
        """
        if self.run is not None:
            end_run(self.run, self._owned, status)


def model_config(model: Any, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The model's class, size and config, its optimizer's config, and ``fit()``'s parameters."""
    config: dict[str, Any] = {"fit": plain_config(dict(params or {}))}
    if model is None:
        return config
    config["model_class"] = type(model).__name__
    with contextlib.suppress(Exception):  # a model not built yet has no parameter count
        config["parameters"] = int(model.count_params())
    with contextlib.suppress(Exception):  # a subclassed model without get_config()
        config["model"] = plain_config(model.get_config())
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "get_config"):
        config["optimizer"] = plain_config(optimizer.get_config())
    return config
