"""What may run beside a live run: the system-metrics sampler and the console capture.

``start_run(system_metrics=…, capture_output=…)`` checks its arguments with :func:`plan` *before* the
run exists (bad input creates no run), then :func:`start` attaches the services to the run's handle.
``Run.finish`` stops them first (``RunHandle.stop_services``), so the last sample and the last line of
output belong to the run, and raises a service's failure after the run's status is stored.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordkit._exceptions import StoreError

if TYPE_CHECKING:
    from recordkit.runs.run import Run


@dataclasses.dataclass(frozen=True)
class Plan:
    """Checked service arguments: a sampling interval (None: off), whether to capture the console."""

    interval: float | None
    capture_output: bool

    def __bool__(self) -> bool:
        return self.interval is not None or self.capture_output


def plan(system_metrics: object, capture_output: object, root: Path | None) -> Plan:
    """Check ``system_metrics`` and ``capture_output``; raise a one-line error before any run starts."""
    from recordkit.runs.system_metrics import interval_of

    interval = interval_of(system_metrics)
    if not isinstance(capture_output, bool):
        raise TypeError(f"capture_output takes True or False, not {capture_output!r}")
    if interval is not None:
        from recordkit._deps import require

        require("psutil", "system metrics need psutil")
    if capture_output:
        from recordkit.runs.console import check_free

        if root is None:
            raise StoreError("capture_output needs a store with run folders (open PostgreSQL with files=…)")
        check_free()
    return Plan(interval, capture_output)


def output_file(rank: int | None) -> str:
    """The run file console output goes to: ``output.log``, or ``output.rank<k>.log`` for rank k > 0 of a job."""
    return "output.log" if not rank else f"output.rank{rank}.log"


def start(run: Run, planned: Plan, *, output_limit: int, rank: int | None = None) -> None:
    """Start what ``planned`` asks for (``rank``: this process's rank in a distributed run); a failure ends
    the run as failed and propagates."""
    handle = run._handle
    try:
        if planned.capture_output:
            from recordkit.runs.console import ConsoleCapture

            path = run.folder / output_file(rank)
            handle.services.append(ConsoleCapture(path, output_limit, run.id).start())
        if planned.interval is not None:
            from recordkit.runs.system_metrics import start_sampler

            handle.services.append(start_sampler(run.scope, planned.interval, handle.root))
    except BaseException as exc:
        run.finish("failed", error=exc)
        raise


def stop_all(services: list[Any], error: BaseException | None) -> BaseException | None:
    """Stop services newest first; return the first failure (each is stopped whatever the others do)."""
    first: BaseException | None = None
    for service in reversed(services):
        try:
            failure = service.stop(error)
        except Exception as exc:
            failure = exc
        if first is None:
            first = failure
    return first
