"""Fixtures of the PostgreSQL tests: a TCP proxy in front of the shared server, to cut the network."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from tests.conftest import pg_base_url
from tests.pgproxy import Proxy


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    """A proxy to the test server (``proxy.via(pg_url)`` leads through it); closed after the test."""
    parts = urlsplit(pg_base_url())
    p = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield p
    p.close()
