"""One settings object, and the one list of ``RECORDKIT_*`` variables that feed it.

Precedence: a keyword argument beats an environment variable, which beats the default. Every setting
belongs to the store opened with it: two stores in one process may flush, buffer and block differently
(the process has one writer thread, which serves each store's buffer at that store's interval).

| variable                       | setting             | default |
|--------------------------------|---------------------|---------|
| ``RECORDKIT_STORE``            | store               | records |
| ``RECORDKIT_FLUSH_INTERVAL``   | flush_interval (s)  | 0.5     |
| ``RECORDKIT_BATCH_SIZE``       | batch_size          | 20000   |
| ``RECORDKIT_BUFFER_SIZE``      | buffer_size         | 1000000 |
| ``RECORDKIT_JOURNAL``          | journal             | 1       |
| ``RECORDKIT_JOURNAL_SIZE``     | journal_size (B)    | 33554432 |
| ``RECORDKIT_FSYNC``            | fsync               | none    |
| ``RECORDKIT_ON_FULL``          | on_full             | block   |
| ``RECORDKIT_BLOCK_TIMEOUT``    | block_timeout (s)   | 30      |
| ``RECORDKIT_HEARTBEAT``        | heartbeat (s)       | 5       |
| ``RECORDKIT_LEASE``            | lease (s)           | 60      |
| ``RECORDKIT_ENV_ALLOW``        | env_allow           | (none)  |
| ``RECORDKIT_ENV_DENY``         | env_deny            | (none)  |
| ``RECORDKIT_SEAL``             | seal                | 1       |
| ``RECORDKIT_MIRRORS``          | mirrors             | (none)  |
| ``RECORDKIT_OUT_OF_ORDER``     | out_of_order        | warn    |
| ``RECORDKIT_SQL_TIMEOUT``      | sql_timeout (s)     | 30      |
| ``RECORDKIT_OUTPUT_LIMIT``     | output_limit (B)    | 10000000 |

``RECORDKIT_ENV_ALLOW`` and ``RECORDKIT_ENV_DENY`` are comma-separated names or globs of environment
variables to keep unredacted, or to redact beyond the built-in secret patterns.
``RECORDKIT_FSYNC`` is ``none``, ``finish`` or a number of seconds (see ``Settings.fsync``).
``RECORDKIT_SEAL`` (``1``/``0``, ``true``/``false``) seals each finished run into Parquet in the background.
``RECORDKIT_MIRRORS`` is a comma-separated list of mirrors (``tensorboard``, ``csv``) every store feeds.

Read where they are used (the shared store and distributed jobs, docs/postgres.md):
``RECORDKIT_FILES`` (run folders of a PostgreSQL store), ``RECORDKIT_SPOOL`` (its local spool folder),
``RECORDKIT_PG_SCHEMA`` (default schema), ``RECORDKIT_JOB_ID`` and ``RECORDKIT_RUN_ID`` (which run the
ranks of a job share).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Literal

OnFull = Literal["block", "drop", "raise"]
Fsync = Literal["none", "finish"] | float
OutOfOrder = Literal["warn", "raise"]

_ENV: dict[str, tuple[str, type]] = {
    "store": ("RECORDKIT_STORE", str),
    "flush_interval": ("RECORDKIT_FLUSH_INTERVAL", float),
    "batch_size": ("RECORDKIT_BATCH_SIZE", int),
    "buffer_size": ("RECORDKIT_BUFFER_SIZE", int),
    "journal": ("RECORDKIT_JOURNAL", bool),
    "journal_size": ("RECORDKIT_JOURNAL_SIZE", int),
    "fsync": ("RECORDKIT_FSYNC", str),
    "on_full": ("RECORDKIT_ON_FULL", str),
    "block_timeout": ("RECORDKIT_BLOCK_TIMEOUT", float),
    "heartbeat": ("RECORDKIT_HEARTBEAT", float),
    "lease": ("RECORDKIT_LEASE", float),
    "env_allow": ("RECORDKIT_ENV_ALLOW", str),
    "env_deny": ("RECORDKIT_ENV_DENY", str),
    "seal": ("RECORDKIT_SEAL", bool),
    "mirrors": ("RECORDKIT_MIRRORS", str),
    "out_of_order": ("RECORDKIT_OUT_OF_ORDER", str),
    "sql_timeout": ("RECORDKIT_SQL_TIMEOUT", float),
    "output_limit": ("RECORDKIT_OUTPUT_LIMIT", int),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """How recordkit buffers, flushes and decides a run has crashed.

    Parameters
    ----------
    store
        Default store path or URL for ``rk.init`` and the CLI.
    flush_interval
        Seconds between background commits; at most this much data is lost on SIGKILL.
    batch_size
        The writer commits early once this many records are waiting.
    buffer_size
        Items (records, events...) waiting for the writer at most; beyond this ``on_full`` decides.
    journal
        Keep the items waiting for the writer in a memory-mapped file under the store (``.journal/``),
        so a killed process loses nothing ``log()`` returned from; the next process to open the store
        commits what it left. Off: the same bounded ring in anonymous memory, lost with the process.
    journal_size
        The journal's byte cap: bytes of items waiting for the writer at most (the memory it takes);
        beyond this ``on_full`` decides.
    fsync
        Power loss: ``"none"`` (default) leaves the journal's pages to the kernel (a killed process
        loses nothing; a power cut may lose what the last seconds logged), ``"finish"`` forces them
        to disk when a run finishes, a number of seconds forces them that often.
    on_full
        ``"block"`` waits up to ``block_timeout`` for the writer, then drops with a warning;
        ``"drop"`` drops at once with a warning; ``"raise"`` raises ``RunStateError``.
    heartbeat
        Seconds between liveness marks of a running run.
    lease
        A run whose heartbeat is older than this (and whose process cannot be checked) is crashed.
    env_allow, env_deny
        Environment variable names (or globs) never redacted / always redacted in captured environments.
    seal
        Seal each finished run into ``<run folder>/records.parquet`` (zstd) in the background; needs pyarrow
        (without it, runs are sealed later, when exported).
    mirrors
        Names of the mirrors (``"tensorboard"``, ``"csv"``) every store opened with these settings feeds.
    out_of_order
        A step lower than one already logged in the same scope: ``"warn"`` (``StepOrderWarning``, the
        record is kept) or ``"raise"`` (``StepOrderError``, the record is not logged). Never dropped silently.
    sql_timeout
        Seconds a ``store.sql()`` query may run before it is stopped with ``QueryError``.
    output_limit
        Bytes of console output ``start_run(capture_output=True)`` keeps in a run's ``output.log``; the
        terminal still shows everything past it.
    """

    store: str = "records"
    flush_interval: float = 0.5
    batch_size: int = 20_000
    buffer_size: int = 1_000_000
    journal: bool = True
    journal_size: int = 32 * 1024 * 1024
    fsync: Fsync = "none"
    on_full: OnFull = "block"
    block_timeout: float = 30.0
    heartbeat: float = 5.0
    lease: float = 60.0
    env_allow: tuple[str, ...] = ()
    env_deny: tuple[str, ...] = ()
    seal: bool = True
    mirrors: tuple[str, ...] = ()
    out_of_order: OutOfOrder = "warn"
    sql_timeout: float = 30.0
    output_limit: int = 10_000_000

    def __post_init__(self) -> None:
        if self.on_full not in ("block", "drop", "raise"):
            raise ValueError(f"on_full must be 'block', 'drop' or 'raise', not {self.on_full!r}")
        if self.out_of_order not in ("warn", "raise"):
            raise ValueError(f"out_of_order must be 'warn' or 'raise', not {self.out_of_order!r}")
        if isinstance(self.fsync, str) and self.fsync not in ("none", "finish"):
            try:
                object.__setattr__(self, "fsync", float(self.fsync))
            except ValueError:
                raise ValueError(f"fsync must be 'none', 'finish' or seconds, not {self.fsync!r}") from None
        if isinstance(self.fsync, (int, float)) and not isinstance(self.fsync, bool):
            if self.fsync <= 0:
                raise ValueError(f"fsync must be a positive number of seconds, not {self.fsync!r}")
            object.__setattr__(self, "fsync", float(self.fsync))
        if self.journal_size < 1 << 16:
            raise ValueError(f"journal_size must be at least 65536 bytes, not {self.journal_size!r}")
        for name in ("flush_interval", "batch_size", "buffer_size", "heartbeat", "lease", "sql_timeout",
                     "output_limit"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")


def load_settings(**overrides: Any) -> Settings:
    """Settings from keyword arguments, then ``RECORDKIT_*`` variables, then defaults."""
    unknown = set(overrides) - set(_ENV)
    if unknown:
        raise TypeError(f"unknown setting(s) {sorted(unknown)!r}; known: {sorted(_ENV)!r}")
    values: dict[str, Any] = {}
    for name, (variable, kind) in _ENV.items():
        if overrides.get(name) is not None:
            values[name] = overrides[name]
        elif variable in os.environ:
            raw = os.environ[variable]
            try:
                if name in ("env_allow", "env_deny", "mirrors"):
                    values[name] = _split(raw)
                elif kind is bool:
                    values[name] = _boolean(raw)
                else:
                    values[name] = kind(raw)
            except ValueError:
                raise ValueError(f"{variable}={raw!r} is not a valid {kind.__name__}") from None
    for name in ("env_allow", "env_deny", "mirrors"):
        if isinstance(values.get(name), str):
            values[name] = _split(values[name])
        elif name in values:
            values[name] = tuple(values[name])
    return Settings(**values)


def _split(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _boolean(raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(raw)
