"""Hugging Face Transformers: :class:`RecordkitCallback`, a ``TrainerCallback`` that records a training as a run.

>>> from recordkit.integrations.transformers import RecordkitCallback             # doctest: +SKIP
>>> Trainer(model, args, train_dataset=data, callbacks=[RecordkitCallback("glue")])  # doctest: +SKIP

The training arguments (and the model's config, under ``model``) become the run's config; everything
the Trainer logs (training loss, learning rate, ``eval_*`` metrics of each evaluation, the final
``train_*`` summary) and ``predict()``'s ``test_*`` metrics become records at the Trainer's global
step; the end of training finishes the run, and an ``evaluate()`` or ``predict()`` after it resumes
and ends the same run again. Only the main process records (``state.is_world_process_zero``), so a
distributed training is one run. Set ``report_to="none"`` in the arguments if other trackers should stay off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from recordkit._deps import require
from recordkit._store import Store
from recordkit.integrations._common import Metrics, end_run, given_run, needs_new_run, plain_config, reopened, start_run
from recordkit.runs.run import Run, RunStatus

_transformers = require("transformers", "the Transformers callback needs transformers")
_TrainerCallback: Any = _transformers.TrainerCallback


class RecordkitCallback(_TrainerCallback):  # type: ignore[misc]
    """Records a ``transformers.Trainer`` training as one run in a recordkit store.

    Parameters
    ----------
    project
        The collection the run goes to.
    store
        A store, or where to open one (default: ``RECORDKIT_STORE``, else ``./records``).
    name, tags, config, capture
        As for ``Collection.start_run``; ``config`` is merged under the training arguments. Without
        ``name``, a hyperparameter-search trial's name is used.
    run
        Record into this live run instead of starting one; the callback then never finishes it.
    log_checkpoints
        Record each checkpoint folder the Trainer saves (``<output_dir>/checkpoint-<step>``) as a
        reference ``checkpoints/checkpoint-<step>`` of the run (its path; nothing is copied).
    prefix
        Put before every logged key (``"hf/"``).

    Examples
    --------
    >>> callback = RecordkitCallback("glue", config={"task": "mrpc"})               # doctest: +SKIP
    >>> Trainer(model, args, train_dataset=train, callbacks=[callback]).train()      # doctest: +SKIP
    >>> callback.run.history("eval_loss")                                           # doctest: +SKIP
    """

    def __init__(
        self,
        project: str = "transformers",
        *,
        store: str | os.PathLike[str] | Store | None = None,
        name: str | None = None,
        tags: Sequence[str] = (),
        config: Any = None,
        capture: bool | Sequence[str] = True,
        run: Run | None = None,
        log_checkpoints: bool = True,
        prefix: str = "",
    ) -> None:
        self._project = project
        self._log_checkpoints = log_checkpoints
        self._start: dict[str, Any] = {"store": store, "tags": tags, "capture": capture}
        self._name, self._config = name, config
        #: The run recorded into (None until training starts, and on processes other than the main one).
        self.run: Run | None = given_run(run)
        self._owned = run is None
        self._metrics = Metrics(prefix)
        self._training = False

    def _new_run(self, args: Any, state: Any, model: Any) -> Run:
        config = {**plain_config(self._config), **training_config(args, model)}
        name = self._name or getattr(state, "trial_name", None)
        self.run, self._owned = start_run(project=self._project, config=config, name=name, **self._start)
        return self.run

    def _live(self, args: Any, state: Any, model: Any) -> Run:
        """The run to log into: started if there is none yet, resumed if a ``train()`` or ``evaluate()`` ended it."""
        if self.run is None:
            return self._new_run(args, state, model)
        self.run = reopened(self.run, self._owned)
        return self.run

    # --- the Trainer's events -------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self._training = True
        if needs_new_run(self.run, self._owned):
            self._new_run(args, state, model)

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
               model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        values = self._metrics(logs)
        if values:
            self._live(args, state, model).log(values, step=int(state.global_step))

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # The metrics came through on_log just before; an evaluate() outside train() ends the run again.
        if state.is_world_process_zero and not self._training:
            self.finish()

    def on_predict(self, args: Any, state: Any, control: Any, metrics: Mapping[str, Any] | None = None,
                   model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        values = self._metrics(metrics or {})  # predict() does not log its test_* metrics itself
        if values:
            self._live(args, state, model).log(values, step=int(state.global_step))
        if not self._training:
            self.finish()

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not self._log_checkpoints or not state.is_world_process_zero:
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if os.path.isdir(folder):  # the Trainer's layout; a custom _save_checkpoint may put it elsewhere
            self._live(args, state, model).reference(folder, name=f"checkpoints/checkpoint-{state.global_step}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self._training = False
            self.finish()

    def finish(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """Finish the callback's run now (the Trainer does it at the end of ``train()``); a run passed in stays open.

        A training that raises leaves its run to recordkit's exit handling: it reads ``failed`` when
        the exception ends the process.
        """
        if self.run is not None:
            end_run(self.run, self._owned, status)


def training_config(args: Any, model: Any = None) -> dict[str, Any]:
    """The training arguments (tokens left out) and, under ``model``, the model's own config."""
    values = plain_config(args.to_dict() if hasattr(args, "to_dict") else args)
    config = {key: value for key, value in values.items() if not key.endswith("_token")}
    model_config = getattr(model, "config", None)
    if model_config is not None and hasattr(model_config, "to_dict"):
        config["model"] = plain_config(model_config.to_dict())
    return config
