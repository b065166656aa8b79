"""Capture the environment a run starts in: one JSON-able document with one key per part.

:func:`capture_environment` asks one module per part and puts the answers together: ``system``,
``python`` and ``process`` from :mod:`~recordkit.capture.system`, ``hardware`` from
:mod:`~recordkit.capture.hardware`, ``gpu`` from :mod:`~recordkit.capture.gpu`, ``packages`` from
:mod:`~recordkit.capture.packages`, ``git`` from :mod:`~recordkit.capture.git`, and ``env_vars``
redacted by :mod:`~recordkit.capture.redaction`. They read the system (``/proc``, environment variables,
``git``) and return plain values; the core stores them. Nothing heavy is imported (no numpy, torch or
importlib.metadata).

The document's keys, part by part:

``system``
    ``os`` (``os.name``), ``os_name`` (``"Linux"``), ``os_version`` (kernel release), ``os_build``,
    ``distribution`` (e.g. ``"Debian GNU/Linux 12 (bookworm)"``, or ``None``), ``machine``
    (``"x86_64"``), ``hostname``, ``user``.
``python``
    ``version``, ``implementation``, ``executable``, ``prefix``, ``virtualenv`` (bool) and
    ``libraries``: versions of well-known libraries *already imported* by the process (numpy, torch,
    ...), plus ``cuda``, the CUDA version torch was built with, when torch is imported.
``hardware``
    ``cpu_model``, ``cpu_count``, ``cpu_usable`` (CPUs this process may run on), ``memory_total``,
    ``memory_limit`` (a cgroup limit below the machine's memory, else ``None``), ``disk_path``,
    ``disk_total``, ``disk_free``; each byte count also as ``<key>_human`` (``"16 GB"``).
``gpu``
    ``devices`` (``index``, ``name``, ``uuid``, ``memory_total``, ``memory_total_human``), ``count``,
    ``driver_version``, ``cuda_driver_version``, ``visible_devices`` (``CUDA_VISIBLE_DEVICES``).
    Read through NVML (``pynvml``, from nvidia-ml-py) only when it is installed; otherwise
    ``devices`` is empty. NVML lists every GPU of the machine, whatever ``CUDA_VISIBLE_DEVICES`` says.
``packages``
    Installed distributions, normalised name to version, found without importing any of them.
``env_vars``
    The environment variables, with secret values replaced by ``"<redacted>"`` (see
    :func:`~recordkit.capture.redaction.redact_env`).
``git``
    ``root``, ``commit`` (``None`` before the first commit), ``branch`` (``None`` on a detached
    HEAD), ``upstream``, ``ahead``, ``behind``, ``remote_url`` (credentials stripped), ``dirty``
    (tracked files changed, staged or not), ``diff`` (``None`` when clean, else ``file``, ``size``,
    ``sha256``, ``truncated`` and ``redacted_lines``; the bytes themselves, redacted, are returned in
    ``files["git.diff"]``),
    ``untracked`` (paths, capped), ``untracked_count``, ``untracked_truncated``. The key is absent
    outside a repository or without a ``git`` program; ``error`` says why a repository could not be
    read.
``process``
    ``pid``, ``ppid``, ``cwd``, ``argv`` (``sys.argv`` with secret-looking values redacted).

A part whose capture fails unexpectedly is recorded as ``{"error": "..."}`` rather than stopping the run.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

from recordkit._exceptions import ConfigError
from recordkit.capture._text import clean_text
from recordkit.capture.git import DEFAULT_MAX_DIFF_BYTES, DEFAULT_MAX_UNTRACKED, capture_git
from recordkit.capture.gpu import capture_gpu
from recordkit.capture.hardware import capture_hardware
from recordkit.capture.packages import installed_packages
from recordkit.capture.redaction import check_names, known_secrets, redact_env
from recordkit.capture.secrets import Policy
from recordkit.capture.system import capture_process, capture_python, capture_system, getcwd

__all__ = ["PARTS", "capture_environment"]

#: Every part :func:`capture_environment` knows, in the order they appear in the document.
PARTS: tuple[str, ...] = ("system", "python", "hardware", "gpu", "packages", "env_vars", "git", "process")


def capture_environment(
    *,
    parts: Collection[str] | None = None,
    cwd: str | None = None,
    env_allow: Collection[str] = (),
    env_deny: Collection[str] = (),
    max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES,
    max_untracked: int = DEFAULT_MAX_UNTRACKED,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Capture the environment a run starts in.

    Parameters
    ----------
    parts
        Which parts to capture, a subset of :data:`PARTS`; ``None`` captures all. The module docstring
        lists each part's keys.
    cwd
        Where to look for the git repository and which disk to measure; defaults to the current
        directory. ``process.cwd`` is always the process's own working directory.
    env_allow, env_deny
        Passed to :func:`~recordkit.capture.redaction.redact_env` as ``allow`` and ``deny``.
    max_diff_bytes
        Largest git diff kept (default 1 MB).
    max_untracked
        Most untracked paths listed (default 100).

    Returns
    -------
    env : dict
        The JSON-able environment document, keys in :data:`PARTS` order.
    files : dict
        File name to bytes, for the core to store beside the run: ``"git.diff"`` when the working
        tree has uncommitted tracked changes.

    Raises
    ------
    ConfigError
        For an unknown part name.
    TypeError
        For ``parts``, ``env_allow`` or ``env_deny`` given as one str instead of a collection.

    Examples
    --------
    >>> env, files = capture_environment(parts=["python"])
    >>> sorted(env)
    ['python']
    """
    selected = _check_parts(parts)
    check_names("env_allow", env_allow)
    check_names("env_deny", env_deny)
    where = os.path.abspath(cwd) if cwd is not None else getcwd()
    environ = _clean_environ()
    # The literal secrets of this process, scrubbed from every part (a diff, the command line, other variables).
    secrets = known_secrets(environ, Policy(env_allow, env_deny))
    env: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    for part in PARTS:
        if part not in selected:
            continue
        try:
            if part == "system":
                env[part] = capture_system()
            elif part == "python":
                env[part] = capture_python()
            elif part == "hardware":
                env[part] = capture_hardware(where)
            elif part == "gpu":
                env[part] = capture_gpu()
            elif part == "packages":
                env[part] = installed_packages()
            elif part == "env_vars":
                env[part] = redact_env(environ, allow=env_allow, deny=env_deny, secrets=secrets)
            elif part == "git":
                if where is None:
                    continue
                git, git_files = capture_git(
                    where, max_diff_bytes=max_diff_bytes, max_untracked=max_untracked, secrets=secrets
                )
                if git is not None:
                    env[part] = git
                    files.update(git_files)
            else:
                env[part] = capture_process(secrets)
        except Exception as exc:  # capture is best effort: a broken part is recorded, the run goes on
            env[part] = {"error": f"{type(exc).__name__}: {exc}"}
    return env, files


def _check_parts(parts: Collection[str] | None) -> frozenset[str]:
    if parts is None:
        return frozenset(PARTS)
    check_names("parts", parts)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ConfigError(f"unknown environment part(s) {unknown!r}; choose from {list(PARTS)!r}")
    return frozenset(parts)


def _clean_environ() -> dict[str, str]:
    return {clean_text(k): clean_text(v) for k, v in os.environ.items()}
