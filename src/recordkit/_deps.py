"""The one place optional libraries are imported, each with the extra that installs it.

``import recordkit`` imports none of them (DESIGN.md §5: it stays instant); a feature asks for its
library when it is used, and a missing one raises :class:`recordkit.MissingDependencyError` naming
the pip command that fixes it.

>>> pandas = require("pandas")            # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from recordkit._exceptions import MissingDependencyError

#: The extra of ``recordkit`` that installs each optional library, and what needs it.
EXTRAS: dict[str, tuple[str, str]] = {
    "pandas": ("analytics", "DataFrames"),
    "polars": ("analytics", "DataFrames"),
    "pyarrow": ("analytics", "Parquet and Arrow"),
    "pyarrow.parquet": ("analytics", "Parquet"),
    "duckdb": ("analytics", "DuckDB queries"),
    "torch": ("torch", "checkpoints"),
    "psycopg": ("postgres", "the PostgreSQL store"),
    "matplotlib": ("plot", "plots"),
    "tensorboard": ("tensorboard", "the TensorBoard mirror"),
    "starlette": ("ui", "the web page"),
    "uvicorn": ("ui", "the web page"),
    "psutil": ("system", "system metrics"),
    "PIL": ("media", "images"),
    "lightning": ("lightning", "the Lightning logger"),
    "pytorch_lightning": ("lightning", "the Lightning logger"),
    "transformers": ("transformers", "the Transformers callback"),
    "keras": ("keras", "the Keras callback"),
}


def require(module: str, purpose: str | None = None) -> Any:
    """Import ``module`` (e.g. ``"pyarrow.parquet"``), or raise MissingDependencyError with the install hint.

    ``purpose`` overrides what the message says needs it (``"checkpoints need PyTorch"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(install_hint(module, purpose)) from exc


def install_hint(module: str, purpose: str | None = None) -> str:
    """The message for a missing ``module``: what needs it and the pip command that installs it."""
    top = module.split(".", 1)[0]
    extra, needs = EXTRAS.get(module) or EXTRAS.get(top) or ("", "this feature")
    what = purpose or f"{needs} need {top}"
    if extra:
        return f"{what}: pip install 'recordkit[{extra}]' (or pip install {top})"
    return f"{what}: pip install {top}"
