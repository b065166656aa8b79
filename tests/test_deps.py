"""Optional libraries load through one place, and a missing one says how to install it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import recordkit as rk
from recordkit._deps import install_hint, require


def test_require_returns_the_module() -> None:
    import json

    assert require("json") is json


@pytest.mark.parametrize(
    ("module", "purpose", "expected"),
    [
        pytest.param("pyarrow.parquet", None, "Parquet need pyarrow: pip install 'recordkit[analytics]'", id="extra"),
        pytest.param("torch", "checkpoints need PyTorch", "checkpoints need PyTorch: pip install 'recordkit[torch]'",
                     id="purpose"),
        pytest.param("somelib", None, "this feature need somelib: pip install somelib", id="unknown"),
    ],
)
def test_install_hint_names_the_extra(module: str, purpose: str | None, expected: str) -> None:
    assert install_hint(module, purpose).startswith(expected)


def test_a_missing_library_raises_missing_dependency_error_with_the_hint() -> None:
    with pytest.raises(rk.MissingDependencyError, match=r"pip install 'recordkit\[analytics\]'") as caught:
        require("pyarrow.not_a_module_here")
    assert isinstance(caught.value, ImportError)  # `except ImportError` keeps working
    assert isinstance(caught.value.__cause__, ImportError)


def test_a_blocked_pandas_gives_the_hint_through_the_public_api(tmp_path: object) -> None:
    """With pandas unimportable, ``records.to_pandas()`` raises the hint (a real interpreter, no mocks)."""
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "import recordkit as rk\n"
        f"store = rk.open({str(tmp_path)!r} + '/records')\n"
        "with store.collection('c').start_run(capture=False) as run: run.log(x=1)\n"
        "try:\n    store.collection('c').records.to_pandas()\n"
        "except rk.MissingDependencyError as exc:\n    print('HINT', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HINT" in out and "pip install 'recordkit[analytics]'" in out
