"""buti-recorder's API over recordkit: ``from recordkit.compat.butirecorder import Recorder``.

A ``Recorder`` is a run in collection ``butirecorder`` of the store at ``save_path`` (named after
``recorder_name``): ``checkpoint(data)`` logs ``data`` as a record at the step being taken,
``save_models()`` saves each model as a recordkit checkpoint (atomic, listed by ``run.checkpoints()``),
and ``save_checkpoints()`` writes the seed's ``<save_path>/<recorder_name>.json``
(``"data": {key: [(step, value), …]}``, ``steps``, ``epochs``…) as one JSON object. ``load(json_fp)``
reopens that run and returns the models with their saved weights; a JSON file the seed itself wrote
loads too (with the seed's ``<recorder_name>_<model>.pkl`` files), and its data is recorded in the store.

>>> recorder = Recorder(mode="torch", save_mode="state_dict", save_path="out", recorder_name="cnn")  # doctest: +SKIP
>>> recorder.set_models({"CNN_1": model}); recorder.checkpoint({"loss": 0.1}); recorder.step()       # doctest: +SKIP
>>> recorder.save_checkpoints(); recorder.save_models()                                             # doctest: +SKIP
>>> rk.open("out").collection("butirecorder").records.to_pandas()                                   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import recordkit as rk
from recordkit.compat._common import safe_file_name, to_plain, write_atomically

#: The collection every Recorder's run goes to.
COLLECTION = "butirecorder"
_MODES = ("torch", "keras", "tf")
_SAVE_MODES = ("state_dict", "model")


class Recorder:
    """Record training values by step and save models, the buti-recorder way, into a recordkit store.

    Parameters
    ----------
    mode
        The framework: only ``"torch"`` (the seed supports no other either).
    save_mode
        ``"state_dict"`` (weights; load into your models) or ``"model"`` (whole pickled modules).
    save_path
        The folder of the store, the JSON file and the checkpoints; default: ``RECORDKIT_STORE`` or
        ``./records`` for the store, and no JSON file until it is set.
    recorder_name
        The run's name and the JSON file's name.
    models
        ``{"name": module, …}``; see :meth:`set_models`.
    desp
        A description, kept in the JSON file and the run's config.
    """

    def __init__(
        self,
        mode: str,
        save_mode: str,
        save_path: str | os.PathLike[str] | None = None,
        recorder_name: str | None = None,
        models: Mapping[str, Any] | None = None,
        desp: str = "",
    ) -> None:
        if mode != "torch":
            raise ValueError(f"Recorder(mode=...) supports only 'torch' (as the seed does), not {mode!r}")
        self.mode = mode
        self.save_mode = save_mode
        self.save_path = None if save_path is None else os.fspath(save_path)
        self.recorder_name = recorder_name
        self.models: dict[str, Any] = dict(models or {})  # the seed shared one default dict between recorders
        self.model_names: list[str] | None = list(self.models) or None
        self.desp = desp
        self.data: dict[str, list[tuple[int, Any]]] = {}
        self.steps = 0
        self.epochs = 0
        self._store: rk.Store | None = None
        self._run: rk.Run | None = None  # started on first use, in the store at save_path then
        path = self._json_path()
        if path is not None and not path.exists():  # the seed writes the file as soon as it can
            self.save_checkpoints()

    def __setattr__(self, key: str, value: Any) -> None:
        # The seed checks these on every assignment; so does this.
        if key == "mode" and value not in _MODES:
            raise ValueError(f"Recorder parameter 'mode' requires one of {'/'.join(_MODES)}, but got {value!r}")
        if key == "save_mode" and value not in _SAVE_MODES:
            options = "/".join(_SAVE_MODES)
            raise ValueError(f"Recorder parameter 'save_mode' requires one of {options}, but got {value!r}")
        if key in ("recorder_name", "save_path") and not isinstance(value, (str, type(None))):
            raise TypeError(f"Recorder parameter {key!r} needs a string or None, but got {type(value).__name__}")
        if key == "recorder_name" and value is not None and safe_file_name(value) != value:
            raise rk.InvalidNameError(f"recorder_name {value!r} must be a plain file name (no slashes or leading dot)")
        if key == "models" and not isinstance(value, dict):
            raise TypeError(f"Recorder parameter 'models' needs a dict of name -> model, not {type(value).__name__}")
        super().__setattr__(key, value)

    @property
    def store(self) -> rk.Store:
        """The store at ``save_path`` (default ``RECORDKIT_STORE``, else ``./records``)."""
        if self._store is None:
            self._store = rk.open(self.save_path)
        return self._store

    @property
    def run(self) -> rk.Run:
        """The run this recorder records into (started on first use)."""
        if self._run is None:
            config = {"mode": self.mode, "save_mode": self.save_mode, "desp": self.desp}
            self._run = self.store.collection(COLLECTION).start_run(config=config, name=self.recorder_name)
            if self.epochs:
                self._run.next_epoch(self.epochs)
        return self._run

    @property
    def id(self) -> str:
        """The run's id, also the JSON file's ``id``."""
        return self.run.id

    # --- counters ------------------------------------------------------------------------------
    def step(self) -> None:
        """One training step done."""
        self.steps += 1

    def epoch(self) -> None:
        """One epoch done (the run's epoch counter follows)."""
        self.epochs += 1
        if self._run is not None:
            self._run.next_epoch()

    def get_steps(self) -> int:
        return self.steps

    def get_epochs(self) -> int:
        return self.epochs

    def set_models(self, models: Mapping[str, Any]) -> None:
        """The models ``save_models()`` saves and ``load()`` loads into: ``{"name": module, …}``."""
        self.models = dict(models)
        self.model_names = list(self.models) or None

    # --- data ----------------------------------------------------------------------------------
    def checkpoint(self, data: Mapping[str, Any]) -> None:
        """Record ``data`` at the step being taken (``steps + 1``, as the seed's README shows: the first
        step's values are labelled 1). Recorded twice in one step, the JSON keeps the last values."""
        label = self.steps + 1
        self.run.log(data, step=label)
        for key, value in data.items():
            series = self.data.setdefault(key, [])
            if series and series[-1][0] == label:
                series[-1] = (label, _plain(value))
            elif any(step == label for step, _ in series):
                raise ValueError(f"checkpoint() already recorded {key!r} at step {label}, before later steps")
            else:
                series.append((label, _plain(value)))

    def _json_path(self) -> Path | None:
        if self.save_path is None or self.recorder_name is None:
            return None
        return Path(self.save_path) / f"{self.recorder_name}.json"

    def save_checkpoints(self) -> None:
        """Write ``<save_path>/<recorder_name>.json`` (atomically) once the store holds every record."""
        path = self._json_path()
        if path is None:
            missing = "save_path" if self.save_path is None else "recorder_name"
            raise ValueError(f"save_checkpoints() needs {missing}; set recorder.{missing} before saving")
        self.run.flush()
        content = {
            "id": self.run.id, "recorder_name": self.recorder_name, "save_path": self.save_path, "mode": self.mode,
            "model_names": list(self.models) or self.model_names, "desp": self.desp, "steps": self.steps,
            "epochs": self.epochs, "data": self.data,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        # One JSON object (the seed wrote a JSON string holding the JSON text, which only it could read).
        write_atomically(path, json.dumps(content))

    # --- models --------------------------------------------------------------------------------
    def save_models(self) -> None:
        """Save every model as a checkpoint of the run at the current step (``save_mode`` decides how)."""
        if not self.models:
            raise ValueError("save_models() needs models: call recorder.set_models({'name': model, ...}) first")
        for name, model in self.models.items():
            self.run.save_model(model, name, mode=self.save_mode, step=self.steps)
        self.run.flush()

    def load(self, json_fp: str | os.PathLike[str]) -> dict[str, Any]:
        """Read a recorder's JSON file, continue its run, and return the models with their saved weights.

        ``models`` must hold modules to load ``state_dict`` weights into; with ``save_mode="model"`` the
        modules are loaded whole (their names come from the file). Without ``save_path`` set, the file's
        ``save_path`` is used.
        """
        with Path(json_fp).open(encoding="utf-8") as f:
            saved = json.load(f)
        if isinstance(saved, str):
            saved = json.loads(saved)  # written by the seed itself
        if self.save_path is None:
            self.save_path = saved.get("save_path")
        self.recorder_name = saved["recorder_name"]
        self.desp = saved.get("desp", "")
        self.model_names = saved.get("model_names")
        self.data = {key: [(int(step), value) for step, value in series] for key, series in saved["data"].items()}
        self.steps, self.epochs = int(saved["steps"]), int(saved["epochs"])
        names = list(self.models) or (self.model_names if self.save_mode == "model" else None) or []
        if not names:
            raise ValueError("load() needs the models to load into: Recorder(..., models={'name': model}) "
                             "or recorder.set_models(...) first")
        previous = self._find(str(saved.get("id", "")))
        if previous is None:
            self._import_data()
            self.models = {name: self._load_seed_file(name) for name in names}
        else:
            self._continue(previous)
            self.models = {name: self.run.load_model(name, into=self.models.get(name)) for name in names}
        self.save_checkpoints()
        return self.models

    def _find(self, run_id: str) -> rk.Run | None:
        stores = [] if self._store is None else [self._store]
        if self.save_path is not None and Path(self.save_path, "recordkit.db").exists():
            stores.append(rk.open(self.save_path, create=False))
        for store in stores:
            try:
                return store.run(run_id)
            except rk.RunNotFoundError:
                continue
        return None

    def _continue(self, previous: rk.Run) -> None:
        """Make ``previous`` this recorder's run; a run this recorder had started ends (its JSON file names it)."""
        fresh = self._run
        if fresh is not None:
            if fresh.id == previous.id:
                return
            fresh.finish()
        store = self._store = previous.collection.store
        held_here = store.run(previous.id) is store.run(previous.id)  # a run live in this process is one object
        self._run = store.run(previous.id) if held_here else previous.collection.resume_run(previous.id)

    def _import_data(self) -> None:
        """Record a seed-written file's data in this run (one record per step), so the store has it too."""
        by_step: dict[int, dict[str, Any]] = {}
        for key, series in self.data.items():
            for step, value in series:
                by_step.setdefault(step, {})[key] = value
        for step in sorted(by_step):
            self.run.log(by_step[step], step=step)

    def _load_seed_file(self, name: str) -> Any:
        torch = _torch()
        path = Path(self.save_path or ".") / f"{self.recorder_name}_{name}.pkl"
        if self.save_mode == "model":
            return torch.load(path, map_location="cpu", weights_only=False)  # a whole module: trusted files only
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = self.models[name]
        model.load_state_dict(state)
        return model

    def __repr__(self) -> str:
        run = "not started" if self._run is None else self._run.id
        return f"<Recorder {self.recorder_name!r} run {run} steps={self.steps} epochs={self.epochs}>"


def _plain(value: Any) -> Any:
    plain = to_plain(value)
    return plain[0] if isinstance(plain, list) and len(plain) == 1 and not isinstance(value, list) else plain


def _torch() -> Any:
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise rk.MissingDependencyError("buti-recorder models need PyTorch: pip install 'recordkit[torch]'") from exc
