"""The ``hardware`` part: CPU model and count, memory (and a container's limit), the disk the run uses.

Read from ``/proc``, ``/sys/fs/cgroup`` and ``os``; nothing is spawned. Byte counts are also written for
people with :func:`human_bytes`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from recordkit.capture._text import clean_text

__all__ = ["capture_hardware", "human_bytes"]


def capture_hardware(where: str | None) -> dict[str, Any]:
    """The ``hardware`` part; ``where`` is the folder whose disk is measured (``None``: no disk)."""
    memory = _memory_total()
    limit = _memory_limit()
    if limit is not None and memory is not None and limit >= memory:
        limit = None  # "no limit" is written as a huge number
    disk_total, disk_free = _disk_usage(where) if where is not None else (None, None)
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": len(affinity(0)) if affinity is not None else os.cpu_count(),
        "memory_total": memory,
        "memory_total_human": _maybe_human(memory),
        "memory_limit": limit,
        "memory_limit_human": _maybe_human(limit),
        "disk_path": clean_text(where) if where is not None else None,
        "disk_total": disk_total,
        "disk_total_human": _maybe_human(disk_total),
        "disk_free": disk_free,
        "disk_free_human": _maybe_human(disk_free),
    }


def _disk_usage(where: str) -> tuple[int | None, int | None]:
    """(total, free) bytes of the disk holding ``where``, as ``shutil.disk_usage`` gives them."""
    statvfs = getattr(os, "statvfs", None)
    try:
        if statvfs is None:  # Windows
            import shutil

            usage = shutil.disk_usage(where)
            return usage.total, usage.free
        # What shutil.disk_usage computes on POSIX; importing shutil would load zlib, bz2 and lzma (~3 ms).
        st = statvfs(where)
    except OSError:
        return None, None
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def _maybe_human(n: int | None) -> str | None:
    return human_bytes(n) if n is not None else None


def _cpu_model() -> str | None:
    import platform

    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    key, sep, value = line.partition(":")
                    # x86 writes "model name"; some ARM kernels write "Model" or "Hardware".
                    if sep and key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                        return value.strip() or None
        except OSError:
            pass
        # platform.processor() runs `uname -p` in a subprocess on Linux, so use the machine name.
        return platform.machine() or None
    return platform.processor() or platform.machine() or None


def _memory_total() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024  # the kernel writes kB meaning KiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _memory_limit() -> int | None:
    # A container's cgroup limit is what the run can really use.
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
        except OSError:
            continue
        return int(text) if text.isdigit() else None
    return None


_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def human_bytes(n: int) -> str:
    """Write a byte count the way people read it: ``"16 GB"``, ``"1.5 MB"``, ``"512 B"``.

    Decimal units (1 kB = 1000 B), as disk makers and the original *record* tool use; so 16 GiB of
    memory reads ``"17 GB"``. Below 10 one decimal is shown, unless it is ``.0``.

    Parameters
    ----------
    n
        A number of bytes.

    Returns
    -------
    str

    Examples
    --------
    >>> human_bytes(16_000_000_000), human_bytes(1_500_000), human_bytes(512)
    ('16 GB', '1.5 MB', '512 B')
    """
    sign = "-" if n < 0 else ""
    value = float(abs(n))
    for unit in _UNITS:
        text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        # Move up a unit when rounding reaches 1000 ("1000 kB" reads as "1 MB").
        if float(text) < 1000 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{sign}{int(value)} B"
            return f"{sign}{text.removesuffix('.0')} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover
