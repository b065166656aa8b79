"""A real training loop with and without recordkit: ``examples/digits.py``'s epoch, time per step.

The loop is the example's own :func:`train_epoch` (an MLP of 64→64→10 on scikit-learn's digits,
batches of 32, SGD with momentum): the floor runs it with no run, recordkit runs it with a live run,
so each step also advances the run's step and logs the loss as a tensor, which the background
writer converts and commits while training goes on. Epochs alternate floor / recordkit (and swap
order every round, so drift hurts both alike) on one model and optimizer; torch uses one thread,
which keeps a tiny model's step time steady on a shared machine. The figure per side is the median
over epochs of (epoch time / steps); the run is started before timing (start-up is ``bench_start``'s).
Where torch sees a CUDA GPU, the same is measured there too (each epoch ends with a synchronize, on
both sides): the loss then stays a CUDA tensor in the training thread, and only the writer waits for it.
"""

from __future__ import annotations

import gc
import importlib.util
import time
from pathlib import Path
from types import ModuleType

from benchmarks._util import Result, median, percentile, say, temp_dir

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("recordkit_example_digits", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(quick: bool) -> list[Result]:
    """The loop on the CPU and, where torch sees one, on a CUDA GPU."""
    results = _measure(quick, "cpu")
    if results and _has_cuda():
        results += _measure(quick, "cuda")
    return results


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _measure(quick: bool, device: str) -> list[Result]:
    try:
        import sklearn  # noqa: F401
        import torch
    except ImportError as exc:
        say(f"skipped: {exc} (pip install torch scikit-learn)")
        return []
    import recordkit as rk

    digits = _example()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rounds = 20 if quick else 60
    train, _ = digits.load(0, device)
    model = digits.make_model(64).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    generator = torch.Generator().manual_seed(0)

    floor_us: list[float] = []
    recordkit_us: list[float] = []
    with temp_dir("training") as folder:
        store = rk.open(folder)
        live = store.collection("bench_training").start_run(config={"bench": "training"}, capture=False)
        for _ in range(3):  # warm up both paths: allocator, autograd, the record table
            digits.train_epoch(model, optimizer, train, 32, generator)
            digits.train_epoch(model, optimizer, train, 32, generator, live)
        live.flush()
        gc.collect()
        for index in range(rounds):
            sides = [(None, floor_us), (live, recordkit_us)]
            for run_, out in sides if index % 2 == 0 else sides[::-1]:
                t0 = time.perf_counter_ns()
                steps = digits.train_epoch(model, optimizer, train, 32, generator, run_)
                if device != "cpu":
                    torch.cuda.synchronize()  # the epoch's kernels are done on both sides alike
                out.append((time.perf_counter_ns() - t0) / steps / 1000)
        t0 = time.perf_counter()
        live.finish()
        finish_ms = (time.perf_counter() - t0) * 1000
        logged = len(live.history("loss")[0])
        store.close()

    floor, with_rk = median(floor_us), median(recordkit_us)
    where = "" if device == "cpu" else f" ({device})"
    floor_us.sort()
    recordkit_us.sort()
    say(f"{device} step: {with_rk:.1f} µs with recordkit, {floor:.1f} µs without ({with_rk / floor:.3f}×)")
    note = (
        f"{rounds} epochs a side of {steps} steps, interleaved; p90 {percentile(recordkit_us, 90):.1f} µs vs "
        f"{percentile(floor_us, 90):.1f} µs; {logged:,} losses stored, finish() {finish_ms:.0f} ms"
    )
    return [
        Result("training", f"training step, digits MLP, loss logged every step{where}", with_rk, "µs", floor,
               "the same loop without recordkit", note=note),
        Result("training", f"recordkit's cost per training step{where}", with_rk - floor, "µs"),
    ]
