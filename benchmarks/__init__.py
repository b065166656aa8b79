"""recordkit benchmarks: every target of DESIGN.md §5, side by side with a floor measured in the same run.

Run them all with ``python -m benchmarks`` from the repository root (``--quick`` for smaller sizes,
``--only NAME`` for one of them). Each benchmark runs in its own fresh interpreter, so the process-wide
writer thread, the garbage collector and the page cache state of one never leak into the next.

The machine these run on is shared and noisy, so every figure is printed twice: as an absolute number and
as a ratio against a floor (the simplest thing that does the same job) measured moments before or after
it, in the same process. Timings are reported, never asserted.
"""

BENCHMARKS = (
    "log", "ingest", "workload", "import", "start", "query", "ls", "harvest", "export", "postgres", "files", "ui",
    "training", "media",
)
