"""A user's config object as plain JSON, and the fingerprint that identifies it.

:func:`config_to_dict` accepts the containers people keep configs in (dicts, argparse and simple
namespaces, ConfigParser, dataclasses, pydantic models, OmegaConf) and returns only JSON types, or raises
a :class:`~recordkit.ConfigError` naming the dotted key of the value it cannot store.
:func:`config_hash` writes that dict as canonical JSON and hashes it, so equal configs get equal hashes
whatever their key order. Nothing here imports the libraries it recognises: each is found by duck typing
or in ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from enum import Enum
from types import SimpleNamespace
from typing import Any

from recordkit._exceptions import ConfigError
from recordkit._values import text_problem

__all__ = ["config_hash", "config_to_dict"]

# Config containers accepted at the top level, for error messages.
_ACCEPTED = (
    "a dict (or any Mapping), an argparse.Namespace, a configparser.ConfigParser, a dataclass instance, "
    "a pydantic model or an OmegaConf DictConfig"
)

# Extra advice for types people commonly put in configs.
_HINTS = {
    "set": "use a sorted list instead",
    "frozenset": "use a sorted list instead",
    "datetime": "store value.isoformat() instead",
    "date": "store value.isoformat() instead",
    "time": "store value.isoformat() instead",
    "timedelta": "store value.total_seconds() instead",
    "ndarray": "store value.tolist() instead",
    "Tensor": "store value.tolist() (or value.item()) instead",
    "bytes": "decode it to a str first",
    "complex": "store its real and imaginary parts as two floats",
    "type": "store its qualified name as a str",
    "function": "store its qualified name as a str",
}


def config_to_dict(config: object) -> dict[str, Any]:
    """Convert a user's config object into a JSON-able dict.

    Parameters
    ----------
    config
        ``None`` (an empty config); any ``Mapping`` (converted recursively, keys turned into ``str``);
        an ``argparse.Namespace`` or ``types.SimpleNamespace``; a ``configparser.ConfigParser``; a
        dataclass instance; a pydantic model (v2 ``model_dump()`` or v1 ``.dict()``, found by duck
        typing); an OmegaConf ``DictConfig`` (interpolations resolved).

        A ``ConfigParser`` becomes one dict per section, each holding the ``DEFAULT`` values merged in
        as ``parser[section]`` shows them (interpolation applied, values stay ``str``). A ``"DEFAULT"``
        key is added only when the ``DEFAULT`` section has values.

    Returns
    -------
    dict
        Only ``str``, ``int``, ``float``, ``bool``, ``None``, lists and dicts with ``str`` keys. Tuples
        become lists, paths become ``str``, enums become their value, numpy scalars their Python value;
        nested dataclasses, namespaces and pydantic models become dicts.

    Raises
    ------
    ConfigError
        For an object that is not one of the above, a value of another type (the message names its
        dotted key, e.g. ``'optim.betas[1]'``), a key that is not a ``str``, number or enum, two keys
        that become the same ``str``, or a container that contains itself.

    Examples
    --------
    >>> import argparse, pathlib
    >>> config_to_dict(argparse.Namespace(lr=0.1, data=pathlib.PurePosixPath("/data"), sizes=(1, 2)))
    {'lr': 0.1, 'data': '/data', 'sizes': [1, 2]}
    """
    if config is None:
        return {}
    mapping = _as_mapping(config, path="")
    if mapping is None:
        raise ConfigError(
            f"cannot use a {type(config).__name__!r} as a config: {_short_repr(config)}; pass {_ACCEPTED}"
        )
    converted = _convert_mapping(mapping, "", set())
    _check_text(converted, "")
    return converted


def _check_text(value: Any, path: str) -> None:
    """Refuse text no store can hold (a NUL, a lone surrogate) in a config's keys and strings, by its path."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise ConfigError(f"config value {path or '(root)'!r} {problem}; clean the text before starting the run")
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                raise ConfigError(f"config key {key!r} at {path or '(root)'!r} {problem}; rename it")
            _check_text(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_text(item, f"{path}[{i}]")


def config_hash(config: Mapping[str, Any]) -> str:
    """Return a short, stable fingerprint of a config.

    The config is converted with :func:`config_to_dict` and written as canonical JSON (keys sorted at
    every level, compact separators, floats in Python's shortest round-trip form, ``-0.0`` written as
    ``0.0``); the result is the first 16 hex digits (64 bits) of its SHA-256. Insertion order does not
    matter; types do: ``1`` and ``1.0``, or ``1`` and ``True``, give different hashes.

    Parameters
    ----------
    config
        A config mapping (anything :func:`config_to_dict` accepts also works).

    Returns
    -------
    str
        16 lowercase hex digits.

    Examples
    --------
    >>> config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    True
    """
    import hashlib  # loads OpenSSL (~2 ms): only when needed

    canonical = json.dumps(
        _canonical_floats(config_to_dict(config)),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:16]


def _canonical_floats(value: Any) -> Any:
    # -0.0 == 0.0 in Python, so two configs that compare equal must hash equal.
    if type(value) is float:
        return 0.0 if value == 0.0 else value
    if type(value) is dict:
        return {k: _canonical_floats(v) for k, v in value.items()}
    if type(value) is list:
        return [_canonical_floats(v) for v in value]
    return value


def _as_mapping(obj: object, path: str) -> Mapping[Any, Any] | None:
    """Return the mapping a config-like container stands for, or ``None`` when it is not one."""
    # ConfigParser and OmegaConf's DictConfig are Mappings too, but need their own treatment.
    configparser = sys.modules.get("configparser")
    if configparser is not None and isinstance(obj, configparser.RawConfigParser):
        return _configparser_to_dict(obj)
    if _is_omegaconf(obj):
        container = _omegaconf_to_container(obj, path)
        return container if isinstance(container, Mapping) else None
    if isinstance(obj, Mapping):
        return obj
    cls = type(obj)
    # Pydantic v2 models keep the deprecated v1 `.dict()`, so v2 is checked first.
    if callable(getattr(cls, "model_dump", None)) and hasattr(cls, "model_fields"):
        dumped: object = obj.model_dump()  # type: ignore[attr-defined]
        return dumped if isinstance(dumped, Mapping) else None
    if callable(getattr(cls, "dict", None)) and hasattr(cls, "__fields__"):
        dumped_v1: object = obj.dict()  # type: ignore[attr-defined]
        return dumped_v1 if isinstance(dumped_v1, Mapping) else None
    if hasattr(cls, "__dataclass_fields__") and not isinstance(obj, type):
        # The dataclasses module is loaded: the object's class was made by it.
        import dataclasses

        # Not dataclasses.asdict: it deep-copies every value, which may fail or be slow.
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}  # type: ignore[arg-type]
    # An argparse.Namespace can only exist once argparse is imported; no need to import it here.
    argparse = sys.modules.get("argparse")
    if isinstance(obj, SimpleNamespace) or (argparse is not None and isinstance(obj, argparse.Namespace)):
        attributes: dict[str, Any] = vars(obj)
        return attributes
    return None


def _configparser_to_dict(parser: Any) -> dict[str, Any]:
    import configparser

    out: dict[str, Any] = {}
    try:
        if parser.defaults():
            out[parser.default_section] = dict(parser.items(parser.default_section))
        for section in parser.sections():
            # items() merges DEFAULT into the section and applies interpolation, as parser[section] does.
            out[section] = dict(parser.items(section))
    except configparser.Error as exc:
        raise ConfigError(
            f"cannot read the ConfigParser config: {exc}; fix the value it names "
            "(or create the parser with interpolation=None to keep values raw)"
        ) from exc
    return out


def _is_omegaconf(obj: object) -> bool:
    module = type(obj).__module__
    return module == "omegaconf" or module.startswith("omegaconf.")


def _omegaconf_to_container(obj: object, path: str) -> Any:
    import importlib

    # Only reached with an OmegaConf object in hand, so omegaconf is installed and already imported.
    omegaconf = importlib.import_module("omegaconf")
    try:
        return omegaconf.OmegaConf.to_container(obj, resolve=True)
    except Exception as exc:  # omegaconf raises its own hierarchy; any failure means "cannot resolve"
        where = f" at {path!r}" if path else ""
        raise ConfigError(f"cannot resolve the OmegaConf config{where}: {exc}; fix the interpolation it names") from exc


def _convert_mapping(mapping: Mapping[Any, Any], path: str, active: set[int]) -> dict[str, Any]:
    if id(mapping) in active:
        raise ConfigError(f"config value at {path!r} contains itself; break the cycle before passing it")
    active.add(id(mapping))
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = _convert_key(key, path)
        if name in out:
            raise ConfigError(
                f"config keys {key!r} and {name!r} at {path or 'the top level'!r} both become {name!r}; "
                "rename one of them"
            )
        out[name] = _convert_value(value, f"{path}.{name}" if path else name, active)
    active.discard(id(mapping))
    return out


def _convert_key(key: Any, path: str) -> str:
    if type(key) is str:
        return key
    if isinstance(key, Enum):
        key = key.value
    if isinstance(key, (str, int, float)):  # bool is an int
        return str(key)
    raise ConfigError(
        f"config key {key!r} at {path or 'the top level'!r} is a {type(key).__name__!r}; "
        "config keys must be str (or int, float, bool, Enum, which are turned into str)"
    )


def _convert_value(value: Any, path: str, active: set[int]) -> Any:
    cls = type(value)
    if value is None or cls is str or cls is int or cls is float or cls is bool:
        return value
    if isinstance(value, Enum):
        return _convert_value(value.value, path, active)
    # Subclasses of the scalar types (numpy.float64 is a float) are stored as the plain type.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fsdecode(os.fspath(value))
    if cls.__module__ == "numpy" and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return _convert_value(value.item(), path, active)
    if isinstance(value, (list, tuple)):
        if id(value) in active:
            raise ConfigError(f"config value at {path!r} contains itself; break the cycle before passing it")
        active.add(id(value))
        items = [_convert_value(item, f"{path}[{i}]", active) for i, item in enumerate(value)]
        active.discard(id(value))
        return items
    if _is_omegaconf(value) and not isinstance(value, Mapping):
        # A nested ListConfig (a DictConfig is handled as a mapping below).
        return _convert_value(_omegaconf_to_container(value, path), path, active)
    mapping = _as_mapping(value, path)
    if mapping is not None:
        return _convert_mapping(mapping, path, active)
    hint = _HINTS.get(cls.__name__, "convert it to a str, int, float, bool, None, list or dict first")
    raise ConfigError(
        f"config value at {path!r} is a {cls.__qualname__!r} ({_short_repr(value)}), which cannot be "
        f"stored as JSON; {hint}, or leave it out of the config"
    )


def _short_repr(value: object, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
