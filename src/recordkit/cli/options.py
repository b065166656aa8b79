"""What a command is given: the shared options and arguments, and how their values are read.

Every command takes its store the same way (``--store PATH``, or for listings also a first
positional ``[STORE]``), names runs the same way (a run number, ``COLLECTION/NUMBER``, an id or a
unique id prefix; a bare number is never an id prefix) and spells the shared options the same way
(``--format``, ``--where``, ``--columns``, ``--limit``, ``--collection``): the decorators below are
the only definitions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

import recordkit as rk

F = TypeVar("F", bound=Callable[..., Any])


# --- shared options ------------------------------------------------------------------------------


def store_option(function: F) -> F:
    """``--store PATH``; left out, the library's default applies ($RECORDKIT_STORE, else ./records)."""
    return click.option(
        "--store",
        "-s",
        "store",
        metavar="PATH",
        default=None,
        help="Store folder or URL.  [default: $RECORDKIT_STORE, else ./records]",
    )(function)


def store_argument(function: F) -> F:
    """An optional positional ``[STORE]``, the same as ``--store`` (both, differing, is a usage error)."""

    @functools.wraps(function)
    def merged(*args: Any, store_path: str | None = None, **kwargs: Any) -> Any:
        given = kwargs.get("store")
        if store_path is not None:
            if given is not None and given != store_path:
                raise click.UsageError(f"give the store once: STORE {store_path!r} or --store {given!r}")
            kwargs["store"] = store_path
        return function(*args, **kwargs)

    return click.argument("store_path", required=False, metavar="[STORE]")(merged)  # type: ignore[return-value]


def collection_option(function: F) -> F:
    return click.option("--collection", "-C", "collection", metavar="NAME", default=None, help="Only this collection.")(
        function
    )


def where_option(function: F) -> F:
    return click.option(
        "--where",
        "-w",
        "where",
        multiple=True,
        metavar="KEY=VALUE",
        help="Keep only matches: KEY=VALUE, or a comparison KEY>VALUE (>=, <, <=, !=); VALUE is read as JSON "
        "when it parses (0.1, true, null), else as text. Repeat to combine.",
    )(function)


def limit_option(function: F) -> F:
    return click.option(
        "--limit", "-n", "limit", type=click.IntRange(min=0), default=None, metavar="N", help="Show at most N rows."
    )(function)


def columns_option(function: F) -> F:
    return click.option(
        "--columns",
        "-c",
        "columns",
        multiple=True,
        metavar="A,B,…",
        help="Exactly these columns, in this order (comma-separated or repeated).",
    )(function)


def format_option(*choices: str) -> Callable[[F], F]:
    """``--format`` with the given choices; the first is the default."""

    def decorate(function: F) -> F:
        return click.option(
            "--format",
            "-f",
            "fmt",
            type=click.Choice(choices),
            default=choices[0],
            show_default=True,
            help="Output format.",
        )(function)

    return decorate


# --- reading the values --------------------------------------------------------------------------


def parse_columns(texts: Iterable[str]) -> list[str] | None:
    """``["a,b", "c"]`` → ``["a", "b", "c"]``; None when nothing was given.

    A comma inside parentheses belongs to the name: ``"name,mean(acc,10)"`` → ``["name", "mean(acc,10)"]``.
    """
    names: list[str] = []
    for text in texts:
        depth, start = 0, 0
        for i, ch in enumerate(text + ","):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth = max(0, depth - 1)
            elif ch == "," and depth == 0:
                names.append(text[start:i].strip())
                start = i + 1
    return [name for name in names if name] or None


def resolve_run_ref(ref: str) -> tuple[str, int] | None:
    """``"demo/3"`` → ``("demo", 3)``; None for a run id or id prefix; RunNotFoundError if malformed."""
    if "/" not in ref:
        return None
    collection, _, number = ref.rpartition("/")
    try:
        value = int(number)
    except ValueError:
        value = -1
    if not collection or value < 0:
        raise rk.RunNotFoundError(f"{ref!r} is neither a run id nor COLLECTION/NUMBER (e.g. demo/3)")
    return collection, value


def open_store(path: str | None) -> rk.Store:
    """An existing store (a missing one is an error: reading commands never create a store)."""
    try:
        return rk.open(path, create=False)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, rk.RecordkitError):
            raise
        raise click.ClickException(str(exc)) from exc  # e.g. a bad RECORDKIT_* variable


def find_collection(store: rk.Store, name: str) -> rk.Collection:
    """``store.collection(name)``, but an unknown name is an error rather than an empty collection."""
    collection = store.collection(name)
    known = [c.name for c in store.collections()]
    if name not in known:
        raise rk.QueryError(
            f"no collection {name!r} in {store.url!r}; collections: {', '.join(map(repr, known)) or 'none yet'}"
        )
    return collection


def find_run(store: rk.Store, ref: str) -> rk.Run:
    """A run by number (unique across collections), ``COLLECTION/NUMBER``, id or unique id prefix."""
    parsed = resolve_run_ref(ref)
    if parsed is None:
        return store.run(ref)
    name, number = parsed
    return store.collection(name).run(number)
