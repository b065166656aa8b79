"""Runs: the Run and Scope facades and everything a run does.

``run.py`` is the facade users hold; it gives each feature a narrow :class:`~recordkit.runs.handle.RunHandle`
(identity, the writer's channel, the backend, counters, a liveness check), never itself:

* ``meta.py``: ids, host, run folders, ``meta.json``, the run fields of a flat record (imports nothing above it)
* ``handle.py``: the handle; ``lifecycle.py``: this process's live runs and what happens to them at exit
* ``liveness.py``: whether a live-looking run's process is gone (then it reads ``crashed``)
* ``events.py``, ``files.py``, ``checkpoints.py``, ``lineage.py``, ``harvest.py``: the features
* ``resume.py``, ``distributed.py``: starting a Run in special ways (a reopened run, one run per DDP job)

Nothing here is imported by ``import recordkit`` beyond the facade and what it needs.
"""
