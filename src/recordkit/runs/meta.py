"""What every part of a run shares, with no behaviour of its own: ids, host, folders, meta.json, the
run-level fields of a flat record, frozen views of config and environment.

It imports nothing above the storage seam (``backends.base``), values and capture, so the run's
features, the readers and the facades can all use it without importing each other.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from recordkit._atomic import storage_error, write_text
from recordkit._exceptions import ConfigError
from recordkit._values import encode
from recordkit.backends.base import ERROR_STATUSES, RunRow


class FrozenList(list):  # type: ignore[type-arg]
    """A list that refuses changes, so ``run.config["layers"] == [64, 32]`` still holds."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a run's config and environment are frozen; use run.update_config() to add keys")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse  # type: ignore[assignment]
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse  # type: ignore[assignment]


def freeze(value: Any) -> Any:
    """A read-only view of nested dicts and lists (config and env are frozen once the run starts)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(freeze(v) for v in value)
    return value


def merge_new_keys(old: Mapping[str, Any], new: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    """``old`` with the keys of ``new`` added; changing an existing value raises ConfigError."""
    merged = dict(old)
    for key, value in new.items():
        where = f"{path}{key}"
        if key not in merged:
            merged[key] = value
        elif isinstance(merged[key], Mapping) and isinstance(value, Mapping):
            merged[key] = merge_new_keys(merged[key], value, where + ".")
        elif merged[key] != value or type(merged[key]) is not type(value):
            raise ConfigError(
                f"config value {where!r} is frozen at {merged[key]!r}; cannot change it to {value!r}. "
                "Start a new run for a new config, or add the value under a new key"
            )
    return merged


def code_hash(env: Mapping[str, Any]) -> str | None:
    """Hash of the git commit plus the uncommitted diff's hash, from a captured environment."""
    git = env.get("git")
    if not isinstance(git, Mapping) or not git.get("commit"):
        return None
    diff = git.get("diff") or {}
    text = f"{git['commit']}:{diff.get('sha256', '') if isinstance(diff, Mapping) else ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_hash_now(env_allow: Any, env_deny: Any, what: str) -> str:
    """The code identity of the working directory now, captured as ``start_run`` captures git."""
    from recordkit._exceptions import ConfigError
    from recordkit.capture import capture_environment

    env, _ = capture_environment(parts=["git"], env_allow=env_allow, env_deny=env_deny)
    found = code_hash(env)
    if found is None:
        raise ConfigError(f"{what} needs a git repository (the code identity is its commit plus the diff's "
                          "hash); run inside one, or leave code out")
    return found


def is_error_exit(exc: BaseException) -> bool:
    """A ``SystemExit`` with a failing code (``sys.exit(2)``), as opposed to a clean ``sys.exit()``."""
    return isinstance(exc, SystemExit) and exc.code not in (None, 0)


def describe_error(error: BaseException) -> dict[str, Any]:
    """What a failed run stores of its exception: type, message and the formatted traceback."""
    import traceback  # only when a run fails: keeps `import recordkit` light

    return {
        "type": type(error).__qualname__,
        "message": str(error),
        "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    }


def run_fields(row: RunRow) -> dict[str, Any]:
    """The fields rigorous-recorder adds to every record, plus the run's identity."""
    end = row.end_time
    return {
        "run_id": row.id,
        "run_name": row.name,
        "collection": row.collection,
        "status": row.status,
        "experiment_number": row.number,
        "error_number": row.error_number,
        "had_error": row.status in ERROR_STATUSES,
        "experiment_start_time": row.start_time,
        "experiment_end_time": end,
        "experiment_duration": None if end is None else end - row.start_time,
    }


def new_run_id() -> str:
    """A unique, stable id: ``r`` and 15 random hex characters (60 bits).

    The letter keeps an id from ever looking like a run number (``recordkit show 1`` names run 1);
    random, so any prefix after it is as good as any other. Older stores hold 16-hex-character ids,
    which keep working everywhere.
    """
    return "r" + os.urandom(8).hex()[:15]  # os.urandom, not uuid: no uuid import at start-up


_HOST: str | None = None


def this_host() -> str:
    """The host name, read once (readers compare it for every live run they list)."""
    global _HOST
    if _HOST is None:
        if hasattr(os, "uname"):
            _HOST = os.uname().nodename
        else:  # pragma: no cover - Windows
            import socket

            _HOST = socket.gethostname()
    return _HOST


def this_pid() -> int:
    return os.getpid()


def run_folder(root: Path | None, row: RunRow) -> Path:
    """Where a run's folder is: stored relative to the store's folder, so a store can be moved or
    opened by another path (older stores hold absolute folders, which are used as they are)."""
    folder = Path(row.folder)
    if root is None or folder.is_absolute():
        return folder.absolute()
    return root.absolute() / folder


def has_folder(row: RunRow, root: Path | None) -> bool:
    """A store without a files folder (PostgreSQL opened without ``files=``) keeps no run folders."""
    return bool(row.folder) and (root is not None or Path(row.folder).is_absolute())


def write_meta(row: RunRow, root: Path | None) -> None:
    """Write ``meta.json`` in the run folder atomically (temp file + rename), when the run has a folder."""
    if not has_folder(row, root):
        return
    from recordkit.capture import config_hash

    folder = run_folder(root, row)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(f"could not make the run folder {str(folder)!r}", exc) from exc
    meta = {
        "id": row.id,
        "collection": row.collection,
        "number": row.number,
        "error_number": row.error_number,
        "name": row.name,
        "status": row.status,
        "start_time": row.start_time,
        "end_time": row.end_time,
        "tags": row.tags,
        "notes": row.notes,
        "parent_id": row.parent_id,
        "config": encode(row.config),
        "config_hash": config_hash(row.config),
        "code_hash": code_hash(row.env),
        "env": encode(row.env),
        "error": row.error,
    }
    # A full disk raises StorageError and leaves the previous meta.json (no 0-byte temp file).
    write_text(folder / "meta.json", json.dumps(meta, indent=2, allow_nan=False, default=str) + "\n")
