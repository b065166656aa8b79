"""Small helpers the compat modules share: plain values, atomic files, safe file names."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[/\\\x00-\x1f:*?\"<>|]")


def to_plain(value: Any) -> Any:
    """``value`` with tensors, numpy values and pandas objects made plain Python, at any depth.

    One-element tensors and arrays stay arrays here (``[x]``); callers that want scalars unwrap them.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    detach = getattr(value, "detach", None)
    if callable(detach):  # a torch tensor: off the graph and onto the CPU first
        value = detach().cpu()
    if type(value).__name__ == "DataFrame":  # its rows, as the seed meant (it called a missing `pd.values`)
        return value.values.tolist()
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # tensors, numpy arrays and scalars, pandas Series
        return tolist()
    return value


def safe_file_name(name: str) -> str:
    """``name`` as one file name inside a folder: separators and control characters become ``_``."""
    cleaned = _UNSAFE.sub("_", name).strip() or "_"
    return "_" + cleaned[1:] if cleaned.startswith(".") else cleaned


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
