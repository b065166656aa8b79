"""The shared options and arguments: the store given first, --where, --columns, run references."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.helpers import invoke, ok

import recordkit as rk
from recordkit.cli.options import parse_columns, resolve_run_ref
from recordkit.read.listing import parse_where


@pytest.mark.parametrize("command", ["ls", "records"])
def test_the_store_may_be_the_first_argument(tiny_store: Path, command: str) -> None:
    by_option = ok(command, "-f", "json", store=tiny_store)
    assert ok(command, str(tiny_store), "-f", "json") == by_option
    assert ok(command, str(tiny_store), "-f", "json", store=tiny_store) == by_option  # the same, twice: fine
    result = invoke(command, str(tiny_store), store=tiny_store / "other")
    assert result.exit_code == 2 and "give the store once" in result.stderr


def test_parse_where() -> None:
    assert parse_where(["lr=0.1", "name=base", 'tag="3"', "x=a=b", "n=null"]) == {
        "lr": 0.1,
        "name": "base",
        "tag": "3",
        "x": "a=b",
        "n": None,
    }
    with pytest.raises(rk.QueryError, match="KEY=VALUE"):
        parse_where(["oops"])


def test_parse_columns() -> None:
    assert parse_columns(["a,b", " c ", ""]) == ["a", "b", "c"]
    assert parse_columns([]) is None


def test_resolve_run_ref() -> None:
    assert resolve_run_ref("demo/3") == ("demo", 3)
    assert resolve_run_ref("3fa2") is None
    for bad in ("demo/", "/3", "demo/-1", "demo/x"):
        with pytest.raises(rk.RunNotFoundError):
            resolve_run_ref(bad)
