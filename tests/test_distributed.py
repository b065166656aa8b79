"""One logical run for a distributed job: ranks from the launcher's variables, real processes with
``torch.distributed`` on the CPU (gloo), and the store-based rendezvous for jobs without it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.runs.distributed import RankRun, job_key

pytestmark = pytest.mark.backends("sqlite", "postgres")

_LAUNCH_VARS = (
    "RANK", "LOCAL_RANK", "WORLD_SIZE", "GROUP_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
    "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS", "SLURM_NODEID",
    "RECORDKIT_JOB_ID", "RECORDKIT_RUN_ID",
)


@pytest.fixture(autouse=True)
def clean_launch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, (0, 0, 1, 0), id="single-process"),
        pytest.param({"RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "8", "GROUP_RANK": "2"}, (5, 1, 8, 2),
                     id="torchrun"),
        pytest.param({"RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4"}, (5, 1, 8, 1),
                     id="torchrun-node-from-local-size"),
        pytest.param({"SLURM_PROCID": "7", "SLURM_LOCALID": "3", "SLURM_NTASKS": "16", "SLURM_NODEID": "1"},
                     (7, 3, 16, 1), id="slurm"),
        pytest.param({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_SIZE": "4"},
                     (2, 0, 4, 0), id="openmpi"),
    ],
)
def test_dist_info_reads_the_launchers_variables(environ: dict[str, str], expected: tuple[int, ...]) -> None:
    info = rk.dist_info(environ)
    assert (info.rank, info.local_rank, info.world_size, info.node) == expected
    assert info.is_main == (expected[0] == 0)


def test_a_bad_rank_variable_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"RANK='x'"):
        rk.dist_info({"RANK": "x"})


def test_job_key_prefers_explicit_then_launcher_ids() -> None:
    assert job_key({"RECORDKIT_JOB_ID": "j1", "SLURM_JOB_ID": "9"}) == "j1"
    assert job_key({"TORCHELASTIC_RUN_ID": "none", "SLURM_JOB_ID": "9", "SLURM_STEP_ID": "2"}) == "slurm-9.2"
    assert job_key({"MASTER_ADDR": "n1", "MASTER_PORT": "29500"}) == "n1:29500"
    assert job_key({}) is None


def test_without_a_way_to_share_the_run_id_ranks_are_told_what_to_set(
    collection: rk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(rk.RunStateError, match="RECORDKIT_JOB_ID"):
        collection.start_run(capture=False, distributed=True)


def test_a_rank_attaches_to_a_run_named_in_the_environment(
    collection: rk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = fast_run(collection)
    monkeypatch.setenv("RECORDKIT_RUN_ID", main.id)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with collection.start_run(capture=False, distributed=True) as rank1:
        assert isinstance(rank1, RankRun) and rank1.id == main.id
        rank1.log(loss=0.5)
        rank1.scope(phase="eval").log(acc=0.9)
    assert main.status is rk.RunStatus.RUNNING  # a non-starting rank never ends the run
    main.log(loss=0.4)
    main.finish()
    records = list(main.records)

    def value(record: rk.Record, key: str) -> object:
        found = record.get(key)
        return -1 if found is None else found

    assert sorted((value(r, "rank"), value(r, "loss"), value(r, "acc")) for r in records) == [  # type: ignore[type-var]
        (-1, 0.4, -1), (1, -1, 0.9), (1, 0.5, -1)
    ]
    ranked = [r for r in records if r.get("rank") == 1]
    assert {r["rank_status"] for r in ranked} == {"finished"} and {r.get("phase") for r in ranked} == {None, "eval"}


def test_init_takes_the_distributed_arguments(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RECORDKIT_JOB_ID", "init-job")
    run = rk.init(project="p", store=store_url, capture=False, distributed=True, rank_zero_only=True)
    rk.log(loss=1.0)
    rk.finish()
    assert "job:init-job" in run.tags
    assert [(r["rank"], r["loss"]) for r in run.records] == [(0, 1.0)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


DDP_CHILD = """
import os, sys
import torch
import torch.distributed as dist
import recordkit as rk
from recordkit.runs import meta as _run

url, files, zero_only = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
rank = int(os.environ["RANK"])
_run._HOST = f"node{int(os.environ['GROUP_RANK'])}"    # simulated nodes
dist.init_process_group("gloo")
store = rk.open(url, files=files) if files else rk.open(url)
torch.manual_seed(rank)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
with store.collection("ddp").start_run(config={"lr": 0.1}, capture=False, distributed=True,
                                       rank_zero_only=zero_only) as run:
    for step in range(20):
        loss = model(torch.randn(8, 4)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.log(loss=loss.detach(), step=step)     # a tensor: converted in the writer thread
    dist.barrier()
print(run.id, flush=True)
dist.destroy_process_group()
store.close()
# Leave without interpreter finalisation: torch's gloo threads can abort it (SIGABRT, "terminate called
# without an active exception", pytorch/pytorch#179291) after everything here is done and stored.
sys.stdout.flush()
os._exit(0)
"""


def _launch(tmp_path: Path, script: str, url: str, files: str, world: int, env_extra: dict[str, str],
            args: list[str]) -> list[str]:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(script))
    base = {k: v for k, v in os.environ.items() if k not in _LAUNCH_VARS}
    base["PYTHONPATH"] = os.pathsep.join(sys.path)
    procs = []
    for rank in range(world):
        env = {**base, **env_extra, "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank % 2),
               "GROUP_RANK": str(rank // 2), "LOCAL_WORLD_SIZE": "2"}
        procs.append(subprocess.Popen([sys.executable, str(path), url, files, *args], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    return outputs


def _files_arg(fresh_store: rk.Store) -> str:
    return str(fresh_store.path) if fresh_store.path is not None else ""


@pytest.mark.slow
@pytest.mark.parametrize("zero_only", [False, True], ids=["all-ranks", "rank-zero-only"])
def test_ddp_job_with_gloo_is_one_run_with_every_ranks_records(
    fresh_store: rk.Store, store_url: str, tmp_path: Path, zero_only: bool
) -> None:
    pytest.importorskip("torch.distributed")
    world = 3
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    ids = _launch(tmp_path, DDP_CHILD, store_url, _files_arg(fresh_store), world, env, ["1" if zero_only else "0"])
    assert len(set(ids)) == 1  # every rank saw the same run id (broadcast by rank 0)
    runs = fresh_store.collection("ddp").runs()
    assert [r.id for r in runs] == ids[:1] and runs[0].status is rk.RunStatus.FINISHED
    records = list(runs[0].records)
    ranks = sorted({r["rank"] for r in records})
    assert ranks == ([0] if zero_only else [0, 1, 2])
    assert len(records) == 20 * len(ranks)
    for record in records:
        assert record["node"] == record["rank"] // 2 and record["host"] == f"node{record['rank'] // 2}"
        assert record["local_rank"] == record["rank"] % 2 and isinstance(record["loss"], float)
    # Each rank's values are their own series: rank 0's are the run's own (`loss`), as in one process.
    expected = {"loss" if rank == 0 else f"rank={rank}/loss": 20 for rank in ranks}
    assert runs[0].config == {"lr": 0.1}
    assert {label: s["count"] for label, s in runs[0].summary().items()} == expected


STORE_RENDEZVOUS_CHILD = """
import os, sys
import recordkit as rk
from recordkit.runs import meta as _run

url, files = sys.argv[1], sys.argv[2]
_run._HOST = f"node{os.environ['GROUP_RANK']}"
store = rk.open(url, files=files) if files else rk.open(url)
with store.collection("job").start_run(capture=False, distributed=True) as run:
    for i in range(30):
        run.log(i=i, rank_value=int(os.environ["RANK"]) * 100 + i)
    print(run.id, flush=True)
store.close()
"""


@pytest.mark.slow
def test_ranks_without_torch_distributed_meet_through_the_store(
    fresh_store: rk.Store, store_url: str, tmp_path: Path
) -> None:
    ids = _launch(tmp_path, STORE_RENDEZVOUS_CHILD, store_url, _files_arg(fresh_store), 4,
                  {"RECORDKIT_JOB_ID": "sweep-42"}, [])
    assert len(set(ids)) == 1
    (run,) = fresh_store.collection("job").runs()
    assert "job:sweep-42" in run.tags
    records = list(run.records)
    assert len(records) == 4 * 30
    assert sorted({(r["rank"], r["node"]) for r in records}) == [(0, 0), (1, 0), (2, 1), (3, 1)]
    assert all(r["rank_value"] == r["rank"] * 100 + r["i"] for r in records)
