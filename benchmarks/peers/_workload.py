"""What every subject is asked to do, as pure data: the same steps and records for all of them.

* steps: ``n`` dicts of 10 floats (``metric_0`` … ``metric_9``), one per step, made before the timed loop;
* the hierarchical workload: 3 experiments × 10 episodes × ``per_episode`` records ``{x, y}``, where
  ``y = experiment + u`` with ``u`` uniform in [0, 1), so the answer to "mean y per experiment" is about
  ``experiment + 0.5``. Each episode has its own seeded generator, so a scaled-down workload logs a prefix
  of every episode of the full one.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

METRICS = tuple(f"metric_{i}" for i in range(10))
EXPERIMENTS = 3
EPISODES = 10
FULL_PER_EPISODE = 100_000


def step_values(n: int, seed: int = 12) -> list[dict[str, float]]:
    rng = random.Random(seed)
    return [{key: rng.random() for key in METRICS} for _ in range(n)]


def episode_values(experiment: int, episode: int, n: int) -> Iterator[tuple[float, float]]:
    rng = random.Random(experiment * 1000 + episode)
    draw = rng.random
    for _ in range(n):
        x = draw()
        yield x, experiment + draw()


def complete_steps(found: dict[int, int]) -> int:
    """How many steps were read back with all 10 of their values."""
    return sum(1 for count in found.values() if count >= len(METRICS))
