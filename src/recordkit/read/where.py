"""The one parser of filter texts: ``KEY=VALUE``, comparisons (``acc>0.9``) and ``KEY~TEXT`` (contains),
for ``--where``, ``store.runs(where=[...])``, ``collection.run_table(where=[...])``,
``records.where("loss<0.5")`` and the web page's filter box.

A value is read as JSON when it parses, else as text; a comparison becomes a :class:`Compare` and a
``~`` a :class:`Contains`, callables the readers apply to a column's value (see ``read/listing.py``
and ``read/records.py``). Nothing here builds SQL: a filter is data handed to the readers.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Iterable
from typing import Any

from recordkit._exceptions import QueryError


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (``0.1``, ``true``, ``null``, ``"3"``), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class Compare:
    """A comparison from a ``--where`` text (``acc>0.9``): called with a column's value, True when it holds.

    A missing value (None, NaN) never matches, nor does one that cannot be compared (text with a number).
    """

    __slots__ = ("op", "value")

    def __init__(self, op: str, value: Any) -> None:
        self.op = op
        self.value = value

    def __call__(self, actual: Any) -> bool:
        if actual is None or (isinstance(actual, float) and math.isnan(actual)):
            return False
        try:
            return bool(_OPERATORS[self.op](actual, self.value))
        except TypeError:
            return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Compare) and (self.op, self.value) == (other.op, other.value)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Compare({self.op!r}, {self.value!r})"


class Contains:
    """A ``KEY~TEXT`` filter: True when the value's text holds TEXT in any case (a list: any item's text).

    A missing value (None) never matches.
    """

    __slots__ = ("needle", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.needle = text.lower()

    def __call__(self, actual: Any) -> bool:
        if actual is None:
            return False
        if isinstance(actual, (list, tuple)):
            return any(self.needle in str(item).lower() for item in actual)
        return self.needle in str(actual).lower()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Contains) and self.text == other.text

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Contains({self.text!r})"


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}
_ALL_OPERATORS = (*_OPERATORS, "==", "=", "~")


def split_expression(expression: str) -> tuple[str, str, str] | None:
    """``"acc>=0.9"`` → ``("acc", ">=", "0.9")``: at the first operator (the longest one there); None if none.

    The first operator wins, so a value may hold any (``name=lr=0.1`` is the name ``lr=0.1``), after a
    series label's leading ``name=value/`` parts: ``phase=eval/acc>0.9`` compares ``phase=eval/acc``
    (unless no operator follows them: ``name=a/b`` is the name ``a/b``).
    """
    from recordkit.backends.labels import scope_prefix

    start = len(scope_prefix(expression))
    found = [(expression.find(op, start), op) for op in _ALL_OPERATORS if op in expression[start:]]
    if not found:
        found = [(expression.find(op), op) for op in _ALL_OPERATORS if op in expression]
    if not found:
        return None
    position = min(p for p, _ in found)
    op = max((o for p, o in found if p == position), key=len)
    return expression[:position].strip(), op, expression[position + len(op) :]


def parse_where(expressions: Iterable[str]) -> dict[str, Any]:
    """``["lr=0.1", "acc>0.9"]`` → ``{"lr": 0.1, "acc": Compare(">", 0.9)}``; QueryError if malformed.

    Each expression is ``KEY OP VALUE``, split at the first operator: ``=`` (or ``==``) is equality,
    ``>``, ``>=``, ``<``, ``<=`` and ``!=`` give a :class:`Compare` and ``~`` a :class:`Contains`
    (callables, so they test a run-row column: metrics, summaries such as ``max(acc)``, config
    values, ``tags``; ``~`` takes its TEXT as written, spaces around it dropped). ``VALUE`` is read as
    JSON when it parses (``0.1``, ``3``, ``true``, ``null``, ``"3"``) and as text otherwise
    (``phase=eval``); to match the text ``3`` rather than the number, quote it as JSON
    (``name="3"``). A key given twice is an error (one condition per key).

    Examples
    --------
    >>> parse_where(["lr=0.1", "name=baseline", 'tag="3"'])
    {'lr': 0.1, 'name': 'baseline', 'tag': '3'}
    >>> parse_where(["acc>0.9", "config.lr<=0.01", "name~base"])
    {'acc': Compare('>', 0.9), 'config.lr': Compare('<=', 0.01), 'name': Contains('base')}
    """
    if isinstance(expressions, str):
        expressions = [expressions]
    out: dict[str, Any] = {}
    for expression in expressions:
        if not isinstance(expression, str):
            raise QueryError(f"a where expression is KEY=VALUE text, not {expression!r}")
        parts = split_expression(expression)
        if parts is None or not parts[0]:
            raise QueryError(
                f"a filter (--where) is KEY=VALUE or KEY>VALUE (>=, <, <=, !=) or KEY~TEXT (contains), e.g. "
                f"status=finished, acc>0.9, name~base; not {expression!r}"
            )
        key, op, raw = parts
        if key in out:
            raise QueryError(f"--where gives {key!r} twice; give one condition per key")
        if op == "~":
            out[key] = Contains(raw.strip())
            continue
        value = parse_value(raw)
        out[key] = value if op in ("=", "==") else Compare(op, value)
    return out
