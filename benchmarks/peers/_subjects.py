"""Who is measured: recordkit (this checkout's source), two floors, and the peers, each with how it is
installed and how much of the 3M-record workload it gets (slow peers are scaled down, and the table says so).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Subject:
    #: Short name: for ``--only``, ``--scale`` and the venv's folder.
    key: str
    name: str
    #: The module that drives it, run by ``benchmarks.peers._child``.
    module: str
    #: "recordkit", "floor" or "peer".
    kind: str
    #: pip requirements of its own venv; empty: it runs in this interpreter.
    requirements: tuple[str, ...] = ()
    #: The distribution whose version the table shows.
    distribution: str = ""
    #: Fraction of the full workload's records logged (the rest is extrapolated, and labelled so).
    scale: float = 1.0
    #: Fraction of the hot path's and the SIGKILL test's steps (for a peer whose every call takes milliseconds).
    steps_scale: float = 1.0
    #: How the subject is used, for the notes under the table.
    how: str = ""


SUBJECTS = (
    Subject(
        "recordkit",
        "recordkit",
        "benchmarks.peers._recordkit",
        "recordkit",
        how="this checkout's source; a run per experiment, `run.scope(episode=…).log({x, y})` per record; "
        "workload with `seal=False`",
    ),
    Subject(
        "sqlite-floor",
        "floor: SQLite writer thread",
        "benchmarks.peers._floor_sqlite",
        "floor",
        how="a deque drained by one thread into a plain table, 20,000 rows per transaction, WAL, synchronous=NORMAL",
    ),
    Subject(
        "file-floor",
        "floor: file append",
        "benchmarks.peers._floor_file",
        "floor",
        how="one unbuffered `write()` of a CSV line per step or record",
    ),
    Subject(
        "tensorboardx",
        "tensorboardX",
        "benchmarks.peers._tensorboardx",
        "peer",
        ("tensorboardX", "tensorboard"),
        "tensorboardX",
        scale=0.1,
        how="`SummaryWriter` per experiment, `add_scalar` per value (10 per step; x and y per record, "
        "tags `episode_N/x`), read back with tensorboard's event file loader",
    ),
    Subject(
        "aim",
        "Aim",
        "benchmarks.peers._aim",
        "peer",
        ("aim",),
        "aim",
        scale=0.01,
        how="`Run.track(dict, step=…)` per step or record, context `{episode: N}`; read back with `aim.Repo` after "
        "rebuilding its index as `aim storage reindex` does (new runs are invisible to readers until `aim up` "
        "or a reindex has run), included in the query time",
    ),
    Subject(
        "wandb",
        "wandb (offline)",
        "benchmarks.peers._wandb",
        "peer",
        ("wandb",),
        "wandb",
        scale=0.01,
        how="`WANDB_MODE=offline`, `run.log(dict, step=…)`; a run per experiment; read back from the "
        "offline `.wandb` files (wandb's own protobuf records; its Python file reader is gone since 0.19, so the "
        "framing is undone in `_wandb_file.py`); its service `wandb-core` is a separate process",
    ),
    Subject(
        "trackio",
        "trackio",
        "benchmarks.peers._trackio",
        "peer",
        ("trackio",),
        "trackio",
        scale=0.01,
        how="`trackio.log(dict, step=…)` into a local project (`TRACKIO_DIR` in the scratch folder); read back "
        "from trackio's SQLite file",
    ),
    Subject(
        "mlflow",
        "MLflow",
        "benchmarks.peers._mlflow",
        "peer",
        ("mlflow",),
        "mlflow",
        scale=0.001,
        steps_scale=0.1,
        how="its default local tracking store (SQLite), `mlflow.log_metrics(dict, step=…)` (synchronous, the "
        "default), a nested run per episode; read back with `MlflowClient.get_metric_history`; a tenth of the "
        "steps for the hot path and SIGKILL",
    ),
)

BY_KEY = {s.key: s for s in SUBJECTS}
#: ``--only floors`` picks both floors.
GROUPS = {"floors": ("sqlite-floor", "file-floor")}
