"""Lightning: :class:`RecordkitLogger`, a Lightning ``Logger`` that records the training as one run.

>>> from recordkit.integrations.lightning import RecordkitLogger              # doctest: +SKIP
>>> trainer = L.Trainer(logger=RecordkitLogger("mnist", store="records"))      # doctest: +SKIP

Hyperparameters (``save_hyperparameters()``, the datamodule's) become the run's config, metrics
are records at the trainer's global step, every checkpoint ``ModelCheckpoint`` saves is copied into
the run (``run.checkpoints("lightning")``) and pruned as Lightning prunes its own, and the trainer's
outcome becomes the run's status. Under DDP only global rank 0 records, so the ranks make one run
(Lightning already reduces metrics logged with ``sync_dist=True``).

Works with ``lightning`` (``import lightning.pytorch``) and, when only that is installed, with
``pytorch_lightning``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar, cast

from recordkit._deps import require
from recordkit._store import Store
from recordkit.integrations._common import Metrics, end_run, given_run, reopened, start_run, update_config
from recordkit.runs.run import Run, RunStatus


def _import_lightning() -> Any:
    try:
        return importlib.import_module("lightning.pytorch")
    except ImportError:
        return require("pytorch_lightning", "the Lightning logger needs lightning")


_F = TypeVar("_F", bound=Callable[..., Any])

_pl = _import_lightning()
_Logger: Any = _pl.loggers.Logger
# Lightning's own decorators: the method on global rank 0, a no-op (or a dummy experiment) elsewhere.
_rank_zero_only: Any = _pl.utilities.rank_zero_only
_on_rank_zero = cast(Callable[[_F], _F], _rank_zero_only)
_rank_zero_experiment = cast(Callable[[_F], _F], _pl.loggers.logger.rank_zero_experiment)


class RecordkitLogger(_Logger):  # type: ignore[misc]
    """A Lightning logger that records one run in a recordkit store.

    Parameters
    ----------
    project
        The collection the run goes to.
    store
        A store, or where to open one (default: ``RECORDKIT_STORE``, else ``./records``).
    name, tags, config, capture
        As for ``Collection.start_run``; ``config`` is recorded before the hyperparameters are.
    run
        Record into this live run instead of starting one; the logger then never finishes it.
    log_checkpoints
        Copy each checkpoint ``ModelCheckpoint`` saves into the run, under ``checkpoint_name``, and
        remove the copies Lightning's ``save_top_k`` would no longer keep.
    checkpoint_name
        The name of the checkpoints in the run (``run.checkpoints("lightning")``).
    prefix
        Put before every metric key (``"pl/"``).

    Examples
    --------
    >>> logger = RecordkitLogger("mnist", config={"data": "v2"})     # doctest: +SKIP
    >>> L.Trainer(logger=logger, max_epochs=3).fit(model, data)      # doctest: +SKIP
    >>> logger.run.checkpoints("lightning")                          # doctest: +SKIP
    """

    def __init__(
        self,
        project: str = "lightning",
        *,
        store: str | os.PathLike[str] | Store | None = None,
        name: str | None = None,
        tags: Sequence[str] = (),
        config: Any = None,
        capture: bool | Sequence[str] = True,
        run: Run | None = None,
        log_checkpoints: bool = True,
        checkpoint_name: str = "lightning",
        prefix: str = "",
    ) -> None:
        super().__init__()
        self._project = project
        self._start: dict[str, Any] = {"store": store, "config": config, "name": name, "tags": tags, "capture": capture}
        self._run: Run | None = given_run(run)
        self._owned = run is None
        self._log_checkpoints = log_checkpoints
        self._checkpoint_name = checkpoint_name
        self._metrics = Metrics(prefix)
        self._last_saved_step: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        """``strategy="ddp_spawn"`` pickles the logger into each process, before any run starts there."""
        if self._run is not None or isinstance(self._start["store"], Store):
            raise TypeError(
                "a RecordkitLogger holding a live run or an open Store cannot be sent to other processes "
                "(strategy='ddp_spawn'): pass store= as a path or URL and no run=, or use strategy='ddp'"
            )
        return self.__dict__.copy()

    # --- what Lightning asks of a logger -------------------------------------------------------
    @property
    def name(self) -> str:
        """The collection (Lightning puts checkpoints under ``<root>/<name>/<version>/checkpoints``)."""
        return self._project

    @property
    def version(self) -> str | None:
        """The run's id on rank 0 (other ranks get rank 0's checkpoint folder from Lightning)."""
        if _rank_zero_only.rank > 0:
            return None
        return str(self.experiment.id)

    @property
    def run(self) -> Run | None:
        """The run recorded so far, as it is (None before training starts and on ranks other than 0)."""
        return self._run

    @property
    @_rank_zero_experiment
    def experiment(self) -> Run:
        """The run (started on first use; a run that ``fit()`` ended is resumed for a later ``test()``)."""
        if self._run is None:
            self._run, self._owned = start_run(project=self._project, **self._start)
        else:
            self._run = reopened(self._run, self._owned)
        return self._run

    @_on_rank_zero
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        update_config(self.experiment, params)

    @_on_rank_zero
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        values = self._metrics(metrics)
        if values:
            self.experiment.log(values, step=step)

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Copy the checkpoint just saved into the run, and mirror Lightning's top-k as retention."""
        if not self._log_checkpoints or _rank_zero_only.rank > 0:
            return
        # The file just written (Lightning 2 keeps its path); else the newest of those it names.
        path = getattr(checkpoint_callback, "_last_checkpoint_saved", None) or checkpoint_callback.last_model_path
        run = self.experiment
        step = getattr(checkpoint_callback, "_last_global_step_saved", None)
        step = run.step if type(step) is not int else step
        # save_last writes last.ckpt right after the top-k file, at the same step: one copy is enough.
        if not path or not os.path.isfile(path) or step == self._last_saved_step:
            return
        self._last_saved_step = step
        metrics = {}
        monitor, score = checkpoint_callback.monitor, checkpoint_callback.current_score
        if monitor and score is not None:
            metrics[monitor] = float(score)
        # Without the monitored score there is nothing to rank by yet: prune at the next save.
        retention = _retention_of(checkpoint_callback) if metrics or not monitor else None
        run.add_checkpoint(path, self._checkpoint_name, step, metrics=metrics, retention=retention)

    def save(self) -> None:
        """Nothing to wait for: Lightning calls this after every ``log_metrics``, and the background
        writer stores records within one flush interval anyway (``finalize`` waits for them)."""

    @_on_rank_zero
    def finalize(self, status: str) -> None:
        """End the run with the trainer's outcome (``success``, ``failed``; ``finished`` only flushes).

        Lightning calls ``finalize("failed")`` while it handles the exception, so the run records it
        (a Ctrl-C reads ``interrupted``).
        """
        run = self._run
        if run is None:
            return
        if status == "success":
            end_run(run, self._owned, RunStatus.FINISHED)
        elif status == "failed":
            error = sys.exc_info()[1]
            interrupted = isinstance(error, KeyboardInterrupt)
            end_run(run, self._owned, RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED, error)
        elif run.end_time is None:  # Slurm's requeue signal ("finished"): the run goes on
            run.flush()


def _retention_of(callback: Any) -> Any:
    """Lightning's keep policy (``save_top_k``, ``monitor``, ``mode``, ``save_last``) as a recordkit Retention."""
    from recordkit.runs.checkpoints import Retention

    top_k = getattr(callback, "save_top_k", -1)
    if top_k is None or top_k < 0:
        return None
    last = 1 if getattr(callback, "save_last", False) else None
    if top_k == 0:  # only last.ckpt, if anything
        return Retention(keep_last=1)
    if callback.monitor:
        mode: Literal["min", "max"] = "max" if getattr(callback, "mode", "min") == "max" else "min"
        return Retention(keep_last=last, keep_best=max(top_k, 1), metric=callback.monitor, mode=mode)
    return Retention(keep_last=max(top_k, last or 1))
