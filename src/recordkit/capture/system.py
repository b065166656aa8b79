"""The ``system``, ``python`` and ``process`` parts: the machine's OS, the interpreter and the process.

Everything is read from the standard library and ``sys.modules``; no library is imported to learn its
version. ``platform`` is imported by the functions that need it, so importing this module is cheap.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from typing import Any

from recordkit.capture._text import clean_text
from recordkit.capture.redaction import redact_argv

__all__ = ["capture_process", "capture_python", "capture_system", "getcwd"]

# Libraries whose version is worth recording when (and only when) the process has imported them.
_LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "polars",
    "sklearn",
    "torch",
    "torchvision",
    "lightning",
    "pytorch_lightning",
    "transformers",
    "accelerate",
    "datasets",
    "jax",
    "jaxlib",
    "flax",
    "tensorflow",
    "keras",
    "xgboost",
    "lightgbm",
)


def capture_system() -> dict[str, Any]:
    """The ``system`` part: OS, distribution, machine, host name and user."""
    import platform

    return {
        "os": os.name,
        "os_name": platform.system(),
        "os_version": platform.release(),
        "os_build": platform.version(),
        "distribution": _distribution(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "user": _user(),
    }


def _distribution() -> str | None:
    import platform

    system = platform.system()
    if system == "Linux":
        try:
            release = platform.freedesktop_os_release()
        except OSError:
            return None
        return release.get("PRETTY_NAME") or release.get("NAME")
    if system == "Darwin":
        version = platform.mac_ver()[0]
        return f"macOS {version}" if version else None
    if system == "Windows":
        win_release, win_version, _, _ = platform.win32_ver()
        return f"Windows {win_release} {win_version}".strip()
    return None


def _user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name and no passwd entry (common in containers)
        return None


def capture_python() -> dict[str, Any]:
    """The ``python`` part: the interpreter, its environment and the versions of imported libraries."""
    import platform

    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": clean_text(sys.executable),
        "prefix": clean_text(sys.prefix),
        "virtualenv": sys.prefix != sys.base_prefix,
        "libraries": _imported_libraries(),
    }


def _imported_libraries() -> dict[str, str]:
    # Read from sys.modules only: importing torch or tensorflow here would cost seconds.
    versions: dict[str, str] = {}
    for name in _LIBRARIES:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None)
        if isinstance(version, str):
            versions[name] = version
    torch = sys.modules.get("torch")
    cuda = getattr(getattr(torch, "version", None), "cuda", None)
    if isinstance(cuda, str):
        versions["cuda"] = cuda
    return versions


def capture_process(secrets: Collection[str] = ()) -> dict[str, Any]:
    """The ``process`` part: ids, working directory and the command line with secrets redacted
    (``secrets``: literal values to scrub, from :func:`~recordkit.capture.redaction.known_secrets`)."""
    cwd = getcwd()
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "cwd": clean_text(cwd) if cwd is not None else None,
        "argv": redact_argv([clean_text(a) for a in sys.argv], secrets),
    }


def getcwd() -> str | None:
    """The current working directory, or ``None`` when it was deleted under us."""
    try:
        return os.getcwd()
    except OSError:
        return None
