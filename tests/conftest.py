"""Shared fixtures, named for what they hand over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import recordkit as rk


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A path where a folder store may be created (it does not exist yet)."""
    return tmp_path / "records"


@pytest.fixture
def fresh_store(store_path: Path) -> Iterator[rk.Store]:
    """A new, empty folder store; closed after the test."""
    store = rk.open(store_path)
    yield store
    store.close()


@pytest.fixture
def collection(fresh_store: rk.Store) -> rk.Collection:
    return fresh_store.collection("study")


def fast_run(collection: rk.Collection, **kwargs: object) -> rk.Run:
    """A run without environment capture (keeps unit tests quick)."""
    return collection.start_run(capture=False, **kwargs)  # type: ignore[arg-type]
