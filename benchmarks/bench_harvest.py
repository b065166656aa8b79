"""``run.collect`` overhead in the caller's thread: record-keeper's harvest of ``_record_these``.

Two object graphs, each harvested once per training step:

* ``miners``: the record-keeper README's case, a dict of five loss/miner objects (three of them
  nested in a dict and a list), each listing three float attributes: 5 groups, 15 values;
* ``torch``: the same plus a torch model of 24 modules (4 blocks of Linear, LayerNorm, ReLU,
  Dropout, nested Sequentials) wrapped in ``DataParallel``, walked to find objects that list attributes
  (the blocks list two one-element tensors each): 9 groups, 23 values.

The floor is what a user would write by hand to record the same values: one ``scope.log`` per group
into scopes made once, reading each attribute explicitly (no search). Both are timed per call with a
``perf_counter_ns()`` pair, in interleaved rounds, with the background writer running; medians and
p99 are reported, the timer's own cost subtracted.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from benchmarks._util import Result, median, percentile, say, temp_dir, timer_overhead_ns


class Miner:
    def __init__(self, seed: float) -> None:
        self._record_these = ["hardest_triplet_dist", "hardest_pos_pair_dist", "hardest_neg_pair_dist"]
        self.hardest_triplet_dist = seed
        self.hardest_pos_pair_dist = seed / 2
        self.hardest_neg_pair_dist = seed * 2


def _miners() -> dict[str, Any]:
    return {
        "tuple_miner": Miner(0.1),
        "subset_miner": Miner(0.2),
        "losses": {"metric": Miner(0.3), "extra": [Miner(0.4), Miner(0.5)]},
    }


def _torch_graph() -> dict[str, Any] | None:
    try:
        import torch
    except ImportError:
        return None

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(
                torch.nn.Linear(16, 16), torch.nn.LayerNorm(16), torch.nn.ReLU(), torch.nn.Dropout(0.1)
            )
            self._record_these = ["grad_norm", "act_mean"]
            self.grad_norm = torch.tensor(0.5)
            self.act_mean = torch.tensor(0.1)

    model = torch.nn.Sequential(*(Block() for _ in range(4)))
    return {**_miners(), "model": torch.nn.DataParallel(model)}


def _by_hand(run: Any, graph: dict[str, Any]) -> Any:
    """The floor: scopes made once, one explicit log per group."""
    from recordkit.runs.harvest import harvest

    groups = harvest(graph)
    scopes = {name: run.scope(group_name=f"hand.{name}") for name in groups}
    objects = _objects_by_path(graph, list(groups))

    def record() -> None:
        for name, obj in objects:
            scopes[name].log({attr: getattr(obj, attr) for attr in obj._record_these})

    return record


def _objects_by_path(graph: dict[str, Any], paths: list[str]) -> list[tuple[str, Any]]:
    found = []
    for path in paths:
        obj: Any = graph
        for part in path.split("."):
            if isinstance(obj, dict):
                obj = obj[part]
            elif isinstance(obj, list):
                obj = obj[int(part)]
            else:
                obj = getattr(obj, "module", obj)
                obj = obj._modules[part] if hasattr(obj, "_modules") and part in obj._modules else getattr(obj, part)
        found.append((path, getattr(obj, "module", obj)))
    return found


def _timed(call: Any, samples: int) -> list[int]:
    pc = time.perf_counter_ns
    out = [0] * samples
    for i in range(samples):
        t0 = pc()
        call()
        t1 = pc()
        out[i] = t1 - t0
    return out


def _case(name: str, graph: dict[str, Any], samples: int, rounds: int) -> list[Result]:
    import recordkit as rk

    with temp_dir(f"harvest-{name}") as folder:
        store = rk.open(folder, buffer_size=50_000_000)
        run = store.collection("bench_harvest").start_run(capture=False)
        collect = run.collect
        hand = _by_hand(run, graph)
        groups = len(collect(graph))
        for _ in range(500):  # warm up: scopes, tables, key-set caches
            collect(graph)
            hand()
        run.flush()
        overhead: list[int] = []
        harvested: list[int] = []
        manual: list[int] = []
        per = samples // rounds
        gc.collect()
        for _ in range(rounds):
            overhead += timer_overhead_ns(per)
            manual += _timed(hand, per)
            harvested += _timed(lambda: collect(graph), per)
        timer = median(overhead)
        h = sorted(max(0.0, (t - timer) / 1000) for t in harvested)
        m = sorted(max(0.0, (t - timer) / 1000) for t in manual)
        run.finish()
        store.close()
    h_med, m_med = median(h), median(m)
    say(f"{name}: collect {h_med:.1f} µs, by hand {m_med:.1f} µs ({groups} groups)")
    note = (
        f"{groups} groups per call, {samples:,} calls in {rounds} interleaved rounds; p99 collect "
        f"{percentile(h, 99):.1f} µs, by hand {percentile(m, 99):.1f} µs"
    )
    return [
        Result(
            "harvest",
            f"run.collect median, {name} ({groups} groups)",
            h_med,
            "µs",
            m_med,
            "one scope.log per group, by hand",
            "",
            None,
            note,
        ),
        Result(
            "harvest",
            f"run.collect per group, {name}",
            h_med / groups,
            "µs",
            m_med / groups,
            "by hand, per group",
        ),
    ]


def run(quick: bool) -> list[Result]:
    samples = 5_000 if quick else 20_000
    results = _case("miners", _miners(), samples, 10)
    graph = _torch_graph()
    if graph is None:
        say("torch is not installed: the torch case is skipped")
    else:
        results += _case("torch", graph, samples, 10)
    return results
