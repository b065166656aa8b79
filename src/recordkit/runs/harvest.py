"""Harvest: record the attributes that objects list in ``_record_these``, found recursively.

record-keeper's idea: a class names the attributes worth logging
(``self._record_these = ["hardest_pos_pair_dist", ...]``) and one call in the training loop records
them for every such object it can reach, so adding a series never touches the loop.

``collect`` walks dicts, lists, tuples and the attributes of plain objects (depth first, each object
once, so cycles are safe). Every object that lists attributes becomes a *group*, named by the path that
reached it (``tuple_miner``, ``losses.0``, ``trainer.miner``); each group is a child scope with the field
``group_name=<name>`` and the object's values are one record in it, so harvested values read flat like any
other record (``col.records.where(group_name="tuple_miner")``).

This runs in the caller's thread, so it only reads attributes and hands values to ``Scope.log``:
tensors are detached there and converted by the writer thread (one element → a number, more → a list).
"""

from __future__ import annotations

import enum
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recordkit.runs.run import Scope

#: The scope field that names a harvested group.
GROUP_FIELD = "group_name"
#: How deep the walk goes below the object given (a guard against huge object graphs).
MAX_DEPTH = 12
#: Containers longer than this are not searched (a dataset is not a place where loggable objects hide).
MAX_ITEMS = 1000

# Leaves: never searched for loggable objects.
_LEAF_TYPES = (
    str, bytes, bytearray, int, float, complex, bool, type(None), range, enum.Enum, type,
    types.FunctionType, types.MethodType, types.BuiltinFunctionType, types.ModuleType,
)
# Attribute names of a torch.nn.Module whose dict holds its children; their names do not appear in paths.
_TRANSPARENT = ("_modules",)


# type -> is a leaf; the walk meets the same few types at every step, so each is judged once.
_leaf_types: dict[type, bool] = {}


def _judge(cls: type) -> bool:
    if issubclass(cls, _LEAF_TYPES):
        return True
    # Tensors, arrays, frames: values, not containers of objects (and walking them would be slow).
    heavy = cls.__module__.startswith(("torch", "numpy", "pandas", "polars", "pyarrow"))
    return heavy and not any(c.__name__ == "Module" and c.__module__ == "torch.nn.modules.module" for c in cls.__mro__)


def _is_leaf(value: Any) -> bool:
    cls = type(value)
    leaf = _leaf_types.get(cls)
    if leaf is None:
        leaf = _leaf_types[cls] = _judge(cls)
    return leaf


_MISSING = object()


def _attribute_names(obj: Any, attrs: Sequence[str]) -> list[str]:
    names: list[str] = []
    fields = getattr(obj, "__dict__", None)
    for attr in attrs:
        if fields is not None and attr in fields:
            listed = fields[attr]
        elif getattr(type(obj), attr, _MISSING) is _MISSING:
            continue  # neither the instance nor its class has it: no slow __getattr__ (torch modules)
        else:
            try:
                listed = getattr(obj, attr, None)
            except Exception:  # a property that raises is not a list of names
                continue
        if isinstance(listed, str):
            listed = [listed]
        if isinstance(listed, (list, tuple, set, frozenset)):
            names.extend(name for name in listed if isinstance(name, str) and name not in names)
    return names


_MAPPING, _SEQUENCE, _OTHER = 0, 1, 2
# type -> how its children are found; judged once per type (isinstance against an ABC is slow).
_kinds: dict[type, int] = {}


def _kind(cls: type) -> int:
    kind = _kinds.get(cls)
    if kind is None:
        if issubclass(cls, Mapping):
            kind = _MAPPING
        elif issubclass(cls, (list, tuple)):
            kind = _SEQUENCE
        else:
            kind = _OTHER
        _kinds[cls] = kind
    return kind


def _children(value: Any) -> Iterator[tuple[str | None, Any]]:
    """(path part, child) pairs; a None part keeps the parent's path (a DataParallel's ``.module``)."""
    kind = _kind(type(value))
    if kind == _MAPPING:
        if len(value) <= MAX_ITEMS:
            for key, child in value.items():
                yield str(key), child
        return
    if kind == _SEQUENCE:
        if len(value) <= MAX_ITEMS:
            for index, child in enumerate(value):
                yield str(index), child
        return
    fields = getattr(value, "__dict__", None)
    if type(fields) is not dict or not fields or len(fields) > MAX_ITEMS:  # slots, builtins, or too many
        return
    for name, child in fields.items():
        if name[0] == "_":
            if name in _TRANSPARENT and isinstance(child, Mapping):
                for key, grandchild in child.items():
                    yield None if key == "module" else str(key), grandchild
        elif name == "module":
            yield None, child  # torch DataParallel / DistributedDataParallel wrap the model as .module
        else:
            yield name, child


def harvest(objects: Any, attrs: Sequence[str] = ("_record_these",)) -> dict[str, dict[str, Any]]:
    """Values to record, by group name: ``{"tuple_miner": {"hardest_pos_pair_dist": 0.3, ...}}``.

    Pure: reads attributes, records nothing. Groups appear in the order the walk meets them. An
    object listed under several paths is recorded once, under the first. A listed attribute the
    object does not have (yet) is left out.

    Parameters
    ----------
    objects
        A dict (its keys name the groups), a list or tuple (indexes), or one object (its class name).
    attrs
        Names of the attributes that list what to record, e.g. ``("_record_these", "_record_these_stats")``.
    """
    if isinstance(attrs, str):
        attrs = (attrs,)
    if _is_leaf(objects):
        return {}
    groups: dict[str, dict[str, Any]] = {}
    seen: set[int] = set()
    leaf_types = _leaf_types
    root_name = "" if _kind(type(objects)) != _OTHER else type(objects).__name__
    stack: list[tuple[str, Any, int]] = [(root_name, objects, 0)]
    pop = stack.pop
    while stack:
        path, value, depth = pop()
        key = id(value)
        if key in seen:
            continue
        seen.add(key)
        names = _attribute_names(value, attrs)
        if names:
            group = groups.setdefault(path or type(value).__name__, {})
            for name in names:
                try:
                    group[name] = getattr(value, name)
                except AttributeError:
                    continue  # listed but not computed yet (e.g. before the first forward pass)
        if depth >= MAX_DEPTH:
            continue
        depth += 1
        prefix = f"{path}." if path else ""
        # Children are collected, then pushed in reverse, so the walk meets them in their natural order.
        found: list[tuple[str, Any, int]] = []
        for part, child in _children(value):
            leaf = leaf_types.get(type(child))
            if leaf is None:
                leaf = _is_leaf(child)
            if not leaf:
                found.append((path if part is None else prefix + part, child, depth))
        if found:
            found.reverse()
            stack.extend(found)
    return {name: values for name, values in groups.items() if values}


def collect(
    scope: Scope, objects: Any, step: int | None = None, attrs: Sequence[str] = ("_record_these",)
) -> dict[str, dict[str, Any]]:
    """Record what ``harvest`` finds: one record per group, in a child scope ``group_name=<name>`` of ``scope``.

    Returns what was recorded, by group. A value that cannot be stored raises ``TypeError`` naming
    the group and attribute.
    """
    groups = harvest(objects, attrs)
    cache: dict[str, Scope] = scope.__dict__.setdefault("_harvest_scopes", {})
    for name, values in groups.items():
        target = cache.get(name)
        if target is None:
            target = cache[name] = scope.scope(**{GROUP_FIELD: name})
        try:
            target.log(values, step=step)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"harvested group {name!r}: {exc}") from exc
    return groups
