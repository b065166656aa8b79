"""One logical run for a distributed job (torchrun, DDP, Slurm, MPI): every rank attaches to it.

Rank, local rank, world size and node come from the launcher's standard variables (``RANK`` /
``LOCAL_RANK`` / ``WORLD_SIZE`` / ``GROUP_RANK`` from torchrun, ``SLURM_PROCID`` / ``SLURM_LOCALID`` /
``SLURM_NTASKS`` / ``SLURM_NODEID`` from Slurm, ``OMPI_COMM_WORLD_*`` from Open MPI).

Rank 0 starts the run; the other ranks learn its id, in this order of preference:

1. ``RECORDKIT_RUN_ID``: every rank (rank 0 included) attaches to that existing run;
2. ``torch.distributed`` is initialised: rank 0 broadcasts the id (``broadcast_object_list``);
3. the store: rank 0 tags the run ``job:<key>`` and the others wait for it, where the key is
   ``RECORDKIT_JOB_ID``, ``TORCHELASTIC_RUN_ID``, ``SLURM_JOB_ID`` (with the step) or
   ``MASTER_ADDR:MASTER_PORT``.

Every rank logs into its own scope ``{rank, local_rank, node, host}`` under the run, so each record
carries its rank and ranks never collide on record numbers. Only the process that started the run
finishes it (and sends heartbeats); another rank's ``finish()`` flushes its records and detaches,
noting its outcome in its scope's ``rank_status`` field. ``rank_zero_only=True`` makes logging on
every other rank a no-op.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from recordkit._exceptions import RunNotFoundError, RunStateError
from recordkit.runs.meta import this_host
from recordkit.runs.run import Run, RunStatus

if TYPE_CHECKING:
    from recordkit._store import Collection

# How long ranks other than 0 wait for rank 0's run to appear in the store.
ATTACH_TIMEOUT = 300.0
# A finished run of the job counts if it started at most this long before the rank asked.
ATTACH_WINDOW = 120.0


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a distributed job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    node: int = 0
    host: str = ""

    @property
    def is_main(self) -> bool:
        """True on global rank 0."""
        return self.rank == 0


def _first_int(environ: Mapping[str, str], names: Sequence[str], default: int) -> int:
    for name in names:
        raw = environ.get(name)
        if raw not in (None, ""):
            try:
                return int(str(raw).split("(")[0].split(",")[0])
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not an integer; fix the launcher's environment") from None
    return default


def dist_info(environ: Mapping[str, str] | None = None) -> DistInfo:
    """This process's rank, local rank, world size and node, read from the launcher's variables.

    Examples
    --------
    >>> rk.dist_info({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "8", "GROUP_RANK": "1"}).node
    1
    """
    env = os.environ if environ is None else environ
    rank = _first_int(env, ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"), 0)
    local = _first_int(env, ("LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"), 0)
    world = _first_int(env, ("WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"), 1)
    per_node = _first_int(env, ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE", "OMPI_COMM_WORLD_LOCAL_SIZE"), 0)
    node = _first_int(env, ("GROUP_RANK", "SLURM_NODEID", "NODE_RANK"), rank // per_node if per_node else 0)
    return DistInfo(rank=rank, local_rank=local, world_size=world, node=node, host=this_host())


def job_key(environ: Mapping[str, str] | None = None) -> str | None:
    """A string every rank of one job shares and no other job does, or None."""
    env = os.environ if environ is None else environ
    for name in ("RECORDKIT_JOB_ID", "TORCHELASTIC_RUN_ID"):
        value = env.get(name)
        if value and value != "none":
            return value
    if env.get("SLURM_JOB_ID"):
        return f"slurm-{env['SLURM_JOB_ID']}.{env.get('SLURM_STEP_ID', '0')}"
    if env.get("MASTER_ADDR") and env.get("MASTER_PORT"):
        return f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}"
    return None


class _Silent:
    """The buffer of a rank whose logging is off (``rank_zero_only``): everything put is dropped."""

    def put(self, item: Any) -> None:
        pass


class RankRun(Run):
    """A rank's view of a run another process started: logs into the rank's scope, never ends the run."""

    def finish(self, status: RunStatus | str = RunStatus.FINISHED, *, error: BaseException | None = None) -> None:
        """Flush this rank's records and detach; the run's status is the starting rank's to set."""
        status = RunStatus(status)
        if getattr(self, "_detached", False):
            raise RunStateError(f"this rank already detached from run {self.id!r}; it can finish only once")
        service_error = self._handle.stop_services(error)
        if self._handle.writable and not isinstance(self._handle.channel, _Silent):
            self["rank_status"] = status.value
            if error is not None:
                import traceback

                self["rank_error"] = "".join(traceback.format_exception_only(type(error), error)).strip()
            self.flush()
        self._handle.writable = False
        self._detached = True
        if service_error is not None:
            raise service_error

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if not getattr(self, "_detached", False):
            self.finish(RunStatus.FINISHED if exc is None else RunStatus.FAILED, error=exc)


def start_distributed_run(
    collection: Collection,
    config: Any = None,
    *,
    name: str | None = None,
    tags: Sequence[str] = (),
    capture: bool | Sequence[str] = True,
    seed: int | None = None,
    rank_zero_only: bool = False,
    info: DistInfo | None = None,
    timeout: float = ATTACH_TIMEOUT,
) -> Run:
    """Start (rank 0) or attach to (other ranks) the one run of a distributed job.

    Called by ``collection.start_run(..., distributed=True)``; see the module docstring.
    """
    info = info or dist_info()
    store = collection.store
    run_id = os.environ.get("RECORDKIT_RUN_ID") or None
    key = job_key()
    broadcast = _torch_group_ready()
    if run_id is None and info.world_size > 1 and key is None and not broadcast:
        raise RunStateError(
            "cannot tell which run the ranks of this job share: initialise torch.distributed first, "
            "or set RECORDKIT_JOB_ID (or RECORDKIT_RUN_ID) to the same value on every rank"
        )
    owner = run_id is None and info.rank == 0
    if owner:
        job_tags = [*tags, f"job:{key}"] if key else list(tags)
        run = collection.start_run(config, name=name, tags=job_tags, capture=capture, seed=seed)
        if broadcast:
            _broadcast(run.id)
    else:
        if run_id is None and broadcast:
            run_id = _broadcast(None)
        if run_id is None:
            run_id = _wait_for_run(collection, f"job:{key}", timeout)
        row = store.run(run_id)._row
        if seed is not None:
            from recordkit.capture import seed_everything

            seed_everything(seed + info.rank)
        run = RankRun(store, row, live=True)
    if rank_zero_only and info.rank != 0:
        run._handle.channel = _Silent()
        run._handle.journal = None  # every record then goes to the silent channel
        return run
    scope = run.scope(rank=info.rank, local_rank=info.local_rank, node=info.node, host=info.host)
    # The run's own logging goes to the rank's scope (and so do the scopes made from it).
    run.scope_id = scope.scope_id
    run._fields = dict(scope._fields)
    return run


def _torch_group_ready() -> bool:
    dist = sys.modules.get("torch.distributed")
    return bool(dist is not None and dist.is_available() and dist.is_initialized())


def _broadcast(run_id: str | None) -> str:
    import torch.distributed as dist

    box: list[Any] = [run_id]
    dist.broadcast_object_list(box, src=0)
    return str(box[0])


def _wait_for_run(collection: Collection, tag: str, timeout: float) -> str:
    # A live run of the job, or one that started (and maybe already ended) since this rank was launched;
    # an older run with the same key belongs to an earlier job (e.g. the same MASTER_ADDR:MASTER_PORT).
    launched = time.time() - ATTACH_WINDOW
    deadline = time.monotonic() + timeout
    while True:
        found = [
            r for r in collection.runs(tags=[tag]) if r.status in ("running", "paused") or r.start_time >= launched
        ]
        if found:
            return found[-1].id
        if time.monotonic() > deadline:
            raise RunNotFoundError(
                f"rank 0 of job {tag[4:]!r} did not start a run in {collection.name!r} within {timeout:.0f} s; "
                "check that rank 0 uses the same store and collection"
            )
        time.sleep(0.2)
