"""recordkit beside other experiment trackers, in one harness: ``python -m benchmarks.peers``.

Each peer (tensorboardX, Aim, wandb offline, trackio, MLflow) gets its own virtual environment under
``benchmarks/.peer-venvs`` (created once, reused); recordkit runs from this checkout's source; two
floors (a plain background SQLite writer thread, a plain file append) show what the simplest code does.
Every subject goes through the same phases, each in its own process (see ``_child``): the hot path of
10 floats per step, SIGKILL right after the last log (steps read back with the subject's own reader),
and the hierarchical 3M-record workload (time to durable, peak RSS, disk, a query's time and answer).
"""
