"""Capture what a run needs to be reproduced: its config as plain JSON, and the environment it ran in.

Pure functions, kept apart from the store: they read the system (``/proc``, environment variables,
``git``) and return plain values; the core stores them. The core imports this module lazily when a run
starts, so importing it loads nothing heavy (no numpy, torch, importlib.metadata or subprocess calls).

The environment document returned by :func:`capture_environment` has one key per captured part:

``system``
    ``os`` (``os.name``), ``os_name`` (``"Linux"``), ``os_version`` (kernel release), ``os_build``,
    ``distribution`` (e.g. ``"Debian GNU/Linux 12 (bookworm)"``, or ``None``), ``machine``
    (``"x86_64"``), ``hostname``, ``user``.
``python``
    ``version``, ``implementation``, ``executable``, ``prefix``, ``virtualenv`` (bool) and
    ``libraries``: versions of well-known libraries *already imported* by the process (numpy, torch,
    ...), plus ``cuda``, the CUDA version torch was built with, when torch is imported.
``hardware``
    ``cpu_model``, ``cpu_count``, ``cpu_usable`` (CPUs this process may run on), ``memory_total``,
    ``memory_limit`` (a cgroup limit below the machine's memory, else ``None``), ``disk_path``,
    ``disk_total``, ``disk_free``; each byte count also as ``<key>_human`` (``"16 GB"``).
``gpu``
    ``devices`` (``index``, ``name``, ``uuid``, ``memory_total``, ``memory_total_human``), ``count``,
    ``driver_version``, ``cuda_driver_version``, ``visible_devices`` (``CUDA_VISIBLE_DEVICES``).
    Read through NVML (``pynvml``, from nvidia-ml-py) only when it is installed; otherwise
    ``devices`` is empty. NVML lists every GPU of the machine, whatever ``CUDA_VISIBLE_DEVICES`` says.
``packages``
    Installed distributions, normalised name to version, found without importing any of them.
``env_vars``
    The environment variables, with secret values replaced by ``"<redacted>"`` (see :func:`redact_env`).
``git``
    ``root``, ``commit`` (``None`` before the first commit), ``branch`` (``None`` on a detached
    HEAD), ``upstream``, ``ahead``, ``behind``, ``remote_url`` (credentials stripped), ``dirty``
    (tracked files changed, staged or not), ``diff`` (``None`` when clean, else ``file``, ``size``,
    ``sha256`` and ``truncated``; the bytes themselves are returned in ``files["git.diff"]``),
    ``untracked`` (paths, capped), ``untracked_count``, ``untracked_truncated``. The key is absent
    outside a repository or without a ``git`` program; ``error`` says why a repository could not be
    read.
``process``
    ``pid``, ``ppid``, ``cwd``, ``argv`` (``sys.argv`` with secret-looking values redacted).

A part whose capture fails unexpectedly is recorded as ``{"error": "..."}`` rather than stopping the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import threading
from collections.abc import Collection, Mapping
from enum import Enum
from fnmatch import fnmatchcase
from types import SimpleNamespace
from typing import Any

from recordkit._exceptions import ConfigError

__all__ = [
    "DEFAULT_MAX_DIFF_BYTES",
    "DEFAULT_MAX_UNTRACKED",
    "PARTS",
    "REDACTED",
    "capture_environment",
    "capture_git",
    "config_hash",
    "config_to_dict",
    "human_bytes",
    "installed_packages",
    "redact_env",
    "seed_everything",
    "strip_url_credentials",
]

#: Every part :func:`capture_environment` knows, in the order they appear in the document.
PARTS: tuple[str, ...] = ("system", "python", "hardware", "gpu", "packages", "env_vars", "git", "process")

#: What a secret value is replaced with.
REDACTED = "<redacted>"

#: Largest ``git diff`` kept; a bigger diff is cut at the last whole line before this many bytes.
DEFAULT_MAX_DIFF_BYTES = 1_000_000

#: Most untracked paths listed; ``untracked_count`` still gives the full number.
DEFAULT_MAX_UNTRACKED = 100

# Libraries whose version is worth recording when (and only when) the process has imported them.
_LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "polars",
    "sklearn",
    "torch",
    "torchvision",
    "lightning",
    "pytorch_lightning",
    "transformers",
    "accelerate",
    "datasets",
    "jax",
    "jaxlib",
    "flax",
    "tensorflow",
    "keras",
    "xgboost",
    "lightgbm",
)

# A git hang (network filesystem, a huge tree) must not hold a run's start forever.
_GIT_TIMEOUT_S = 10.0

# ---------------------------------------------------------------------------------------------------------
# Config conversion
# ---------------------------------------------------------------------------------------------------------

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
    return _convert_mapping(mapping, "", set())


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


# ---------------------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------------------

# Names containing any of these hold secrets. AUTH skips AUTHOR(S) but not AUTHORIZATION.
_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|KEY|CREDENTIAL|CREDS|AUTH(?!OR(?!IZ))|PRIVATE|SESSION|COOKIE",
    re.IGNORECASE,
)

# Values that are secrets whatever their name: well-known token formats.
_SECRET_VALUE = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|glpat-[\w-]{20,}|xox[abprs]-[\w-]{10,}"
    r"|sk-[\w-]{20,}|hf_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|AIza[\w-]{30,}"
    r"|eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]*)"
)

# scheme://userinfo@ ; the userinfo runs to the last "@" before the host, so a raw "@" in a
# password is stripped too. scp-like "git@host:repo" has no "//" and is left alone.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#]*)@")


def strip_url_credentials(url: str) -> str:
    """Remove passwords and tokens from every URL in a string.

    The password is always removed. For ``http``/``https`` URLs (also ``git+https`` and the like)
    the user name goes too, since it is often a token (``https://ghp_xxx@github.com``) and never needed
    to reproduce a run; other schemes keep it.

    Parameters
    ----------
    url
        A URL, or any text containing URLs.

    Returns
    -------
    str
        The text with credentials removed; text without credentials is returned unchanged.

    Examples
    --------
    >>> strip_url_credentials("postgresql://alice:s3cret@db.example.com/runs")
    'postgresql://alice@db.example.com/runs'
    >>> strip_url_credentials("https://alice:s3cret@github.com/org/repo.git")
    'https://github.com/org/repo.git'
    >>> strip_url_credentials("git@github.com:org/repo.git")
    'git@github.com:org/repo.git'
    """
    if "@" not in url:
        return url
    return _URL_USERINFO.sub(_strip_userinfo, url)


def _strip_userinfo(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    user = match.group("userinfo").partition(":")[0]
    base = scheme[:-3].lower().rsplit("+", 1)[-1]
    if base in ("http", "https") or not user:
        return scheme
    return f"{scheme}{user}@"


def redact_env(
    environ: Mapping[str, str],
    *,
    allow: Collection[str] = (),
    deny: Collection[str] = (),
) -> dict[str, str]:
    """Copy environment variables with secret values replaced by ``"<redacted>"``.

    A value is redacted when its name matches ``deny``, or when its name is not in ``allow`` and
    contains TOKEN, SECRET, PASSWORD, PASSWD, PASSPHRASE, KEY, CREDENTIAL, CREDS, AUTH (not AUTHOR),
    PRIVATE, SESSION or COOKIE, or when its value contains a well-known token format (``ghp_...``,
    ``sk-...``, ``AKIA...``, a JWT). Other values keep their text with URL credentials stripped
    (:func:`strip_url_credentials`). An empty value is kept, since it reveals nothing.

    Parameters
    ----------
    environ
        Usually ``os.environ``.
    allow
        Names exempt from redaction, compared case-insensitively; an entry with ``*``, ``?`` or ``[``
        is a glob (``"SLURM_*"``). Allowed values are kept exactly as they are.
    deny
        More patterns to redact, compared case-insensitively: a plain entry matches any name that
        contains it, an entry with glob characters must match the whole name. ``deny`` wins over
        ``allow``.

    Returns
    -------
    dict
        A new dict, sorted by name.

    Examples
    --------
    >>> redact_env({"HOME": "/root", "HF_TOKEN": "hf_abc"})
    {'HF_TOKEN': '<redacted>', 'HOME': '/root'}
    """
    _check_names("allow", allow)
    _check_names("deny", deny)
    allow_exact = {a.upper() for a in allow if not _is_glob(a)}
    allow_globs = [a.upper() for a in allow if _is_glob(a)]
    deny_parts = [d.upper() for d in deny if not _is_glob(d)]
    deny_globs = [d.upper() for d in deny if _is_glob(d)]
    out: dict[str, str] = {}
    for name in sorted(environ):
        value = environ[name]
        upper = name.upper()
        if any(p in upper for p in deny_parts) or any(fnmatchcase(upper, g) for g in deny_globs):
            out[name] = REDACTED if value else value
        elif upper in allow_exact or any(fnmatchcase(upper, g) for g in allow_globs):
            out[name] = value
        else:
            out[name] = _redact_value(value, secret_name=_SECRET_NAME.search(name) is not None)
    return out


def _redact_value(value: str, *, secret_name: bool) -> str:
    if not value:
        return value
    if secret_name or _SECRET_VALUE.search(value):
        return REDACTED
    return strip_url_credentials(value)


def _redact_argv(argv: list[str]) -> list[str]:
    """Redact secret-looking command-line values: ``--api-key=x``, ``--token x``, ``db.password=x``."""
    out: list[str] = []
    redact_next = False
    for arg in argv:
        if redact_next and not arg.startswith("-"):
            out.append(REDACTED)
            redact_next = False
            continue
        redact_next = False
        name, eq, value = arg.partition("=")
        if eq and _SECRET_NAME.search(name):
            out.append(f"{name}={_redact_value(value, secret_name=True)}")
        elif arg.startswith("-") and _SECRET_NAME.search(arg):
            out.append(arg)
            redact_next = True
        else:
            out.append(_redact_value(arg, secret_name=False))
    return out


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _check_names(argument: str, names: Collection[str]) -> None:
    # A bare str is a Collection of characters: "HOME" would allow "H", "O", "M", "E".
    if isinstance(names, str):
        raise TypeError(f"{argument} must be a collection of names such as [{names!r}], not the str {names!r}")


# ---------------------------------------------------------------------------------------------------------
# Environment capture
# ---------------------------------------------------------------------------------------------------------


def capture_environment(
    *,
    parts: Collection[str] | None = None,
    cwd: str | None = None,
    env_allow: Collection[str] = (),
    env_deny: Collection[str] = (),
    max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES,
    max_untracked: int = DEFAULT_MAX_UNTRACKED,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Capture the environment a run starts in.

    Parameters
    ----------
    parts
        Which parts to capture, a subset of :data:`PARTS`; ``None`` captures all. The module docstring
        lists each part's keys.
    cwd
        Where to look for the git repository and which disk to measure; defaults to the current
        directory. ``process.cwd`` is always the process's own working directory.
    env_allow, env_deny
        Passed to :func:`redact_env` as ``allow`` and ``deny``.
    max_diff_bytes
        Largest git diff kept (default 1 MB).
    max_untracked
        Most untracked paths listed (default 100).

    Returns
    -------
    env : dict
        The JSON-able environment document, keys in :data:`PARTS` order.
    files : dict
        File name to bytes, for the core to store beside the run: ``"git.diff"`` when the working
        tree has uncommitted tracked changes.

    Raises
    ------
    ConfigError
        For an unknown part name.
    TypeError
        For ``parts``, ``env_allow`` or ``env_deny`` given as one str instead of a collection.

    Examples
    --------
    >>> env, files = capture_environment(parts=["python"])
    >>> sorted(env)
    ['python']
    """
    selected = _check_parts(parts)
    _check_names("env_allow", env_allow)
    _check_names("env_deny", env_deny)
    where = os.path.abspath(cwd) if cwd is not None else _getcwd()
    env: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    for part in PARTS:
        if part not in selected:
            continue
        try:
            if part == "system":
                env[part] = _system()
            elif part == "python":
                env[part] = _python()
            elif part == "hardware":
                env[part] = _hardware(where)
            elif part == "gpu":
                env[part] = _gpu()
            elif part == "packages":
                env[part] = installed_packages()
            elif part == "env_vars":
                env[part] = redact_env(_clean_environ(), allow=env_allow, deny=env_deny)
            elif part == "git":
                if where is None:
                    continue
                git, git_files = capture_git(where, max_diff_bytes=max_diff_bytes, max_untracked=max_untracked)
                if git is not None:
                    env[part] = git
                    files.update(git_files)
            else:
                env[part] = _process()
        except Exception as exc:  # capture is best effort: a broken part is recorded, the run goes on
            env[part] = {"error": f"{type(exc).__name__}: {exc}"}
    return env, files


def _check_parts(parts: Collection[str] | None) -> frozenset[str]:
    if parts is None:
        return frozenset(PARTS)
    _check_names("parts", parts)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ConfigError(f"unknown environment part(s) {unknown!r}; choose from {list(PARTS)!r}")
    return frozenset(parts)


def _getcwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # the working directory was deleted under us
        return None


def _clean_text(text: str) -> str:
    # os.environ, argv and paths carry undecodable bytes as surrogates, which cannot be written as UTF-8.
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _clean_environ() -> dict[str, str]:
    return {_clean_text(k): _clean_text(v) for k, v in os.environ.items()}


def _system() -> dict[str, Any]:
    return {
        "os": os.name,
        "os_name": platform.system(),
        "os_version": platform.release(),
        "os_build": platform.version(),
        "distribution": _distribution(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "user": _user(),
    }


def _distribution() -> str | None:
    system = platform.system()
    if system == "Linux":
        try:
            release = platform.freedesktop_os_release()
        except OSError:
            return None
        return release.get("PRETTY_NAME") or release.get("NAME")
    if system == "Darwin":
        version = platform.mac_ver()[0]
        return f"macOS {version}" if version else None
    if system == "Windows":
        win_release, win_version, _, _ = platform.win32_ver()
        return f"Windows {win_release} {win_version}".strip()
    return None


def _user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name and no passwd entry (common in containers)
        return None


def _python() -> dict[str, Any]:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": _clean_text(sys.executable),
        "prefix": _clean_text(sys.prefix),
        "virtualenv": sys.prefix != sys.base_prefix,
        "libraries": _imported_libraries(),
    }


def _imported_libraries() -> dict[str, str]:
    # Read from sys.modules only: importing torch or tensorflow here would cost seconds.
    versions: dict[str, str] = {}
    for name in _LIBRARIES:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None)
        if isinstance(version, str):
            versions[name] = version
    torch = sys.modules.get("torch")
    cuda = getattr(getattr(torch, "version", None), "cuda", None)
    if isinstance(cuda, str):
        versions["cuda"] = cuda
    return versions


def _hardware(where: str | None) -> dict[str, Any]:
    memory = _memory_total()
    limit = _memory_limit()
    if limit is not None and memory is not None and limit >= memory:
        limit = None  # "no limit" is written as a huge number
    disk_total = disk_free = None
    if where is not None:
        import shutil

        try:
            usage = shutil.disk_usage(where)
            disk_total, disk_free = usage.total, usage.free
        except OSError:
            pass
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": len(affinity(0)) if affinity is not None else os.cpu_count(),
        "memory_total": memory,
        "memory_total_human": _maybe_human(memory),
        "memory_limit": limit,
        "memory_limit_human": _maybe_human(limit),
        "disk_path": _clean_text(where) if where is not None else None,
        "disk_total": disk_total,
        "disk_total_human": _maybe_human(disk_total),
        "disk_free": disk_free,
        "disk_free_human": _maybe_human(disk_free),
    }


def _maybe_human(n: int | None) -> str | None:
    return human_bytes(n) if n is not None else None


def _cpu_model() -> str | None:
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    key, sep, value = line.partition(":")
                    # x86 writes "model name"; some ARM kernels write "Model" or "Hardware".
                    if sep and key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                        return value.strip() or None
        except OSError:
            pass
        # platform.processor() runs `uname -p` in a subprocess on Linux, so use the machine name.
        return platform.machine() or None
    return platform.processor() or platform.machine() or None


def _memory_total() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024  # the kernel writes kB meaning KiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _memory_limit() -> int | None:
    # A container's cgroup limit is what the run can really use.
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
        except OSError:
            continue
        return int(text) if text.isdigit() else None
    return None


def _gpu() -> dict[str, Any]:
    info: dict[str, Any] = {
        "devices": [],
        "count": 0,
        "driver_version": None,
        "cuda_driver_version": None,
        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    try:
        import importlib

        nvml = importlib.import_module("pynvml")
    except Exception:  # not installed, or the deprecated wrapper failing: no GPU information, no error
        return info
    try:
        nvml.nvmlInit()
    except Exception:  # no driver or no GPU
        return info
    try:
        info["driver_version"] = _text(nvml.nvmlSystemGetDriverVersion())
        cuda = nvml.nvmlSystemGetCudaDriverVersion()
        info["cuda_driver_version"] = f"{cuda // 1000}.{cuda % 1000 // 10}"
        devices = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = int(nvml.nvmlDeviceGetMemoryInfo(handle).total)
            devices.append(
                {
                    "index": index,
                    "name": _text(nvml.nvmlDeviceGetName(handle)),
                    "uuid": _text(nvml.nvmlDeviceGetUUID(handle)),
                    "memory_total": memory,
                    "memory_total_human": human_bytes(memory),
                }
            )
        info["devices"] = devices
        info["count"] = len(devices)
    except Exception as exc:  # a half-working driver: keep what was read, say what failed
        info["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return info


def _text(value: object) -> str:
    # Older pynvml versions return bytes.
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _process() -> dict[str, Any]:
    cwd = _getcwd()
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "cwd": _clean_text(cwd) if cwd is not None else None,
        "argv": _redact_argv([_clean_text(a) for a in sys.argv]),
    }


# Installed packages, keyed by the sys.path they were read from: scanning is done once per process.
_packages_cache: tuple[tuple[str, ...], dict[str, str]] | None = None


def installed_packages() -> dict[str, str]:
    """Return the installed distributions as normalised name to version, sorted by name.

    Reads the ``*.dist-info`` and ``*.egg-info`` folder names on ``sys.path`` (plus ``PKG-INFO`` for
    egg-info folders without a version in their name), which is what ``importlib.metadata`` finds,
    about a hundred times faster and without importing anything. Names are normalised as pip does
    (``typing-extensions``); the first one found on ``sys.path`` wins. The result is cached until
    ``sys.path`` changes.

    Returns
    -------
    dict
        A new dict, e.g. ``{"numpy": "2.1.0", "torch": "2.5.1"}``.
    """
    global _packages_cache
    key = tuple(sys.path)
    cached = _packages_cache
    if cached is None or cached[0] != key:
        cached = (key, _scan_packages(key))
        _packages_cache = cached
    return dict(cached[1])


def _scan_packages(paths: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in paths:
        try:
            scanner = os.scandir(entry or ".")
        except OSError:  # zip files, missing folders
            continue
        with scanner:
            for item in scanner:
                name_version = _parse_dist_folder(item.name, item.path)
                if name_version is not None:
                    name, version = name_version
                    found.setdefault(name, version)
    return dict(sorted(found.items()))


def _parse_dist_folder(folder: str, path: str) -> tuple[str, str] | None:
    if folder.endswith(".dist-info"):
        # PEP 427: "{name}-{version}.dist-info", neither part containing "-".
        name, _, version = folder[: -len(".dist-info")].partition("-")
    elif folder.endswith(".egg-info"):
        # "{name}-{version}-py3.x.egg-info", or "{name}.egg-info" for a develop install.
        name, _, rest = folder[: -len(".egg-info")].partition("-")
        version = rest.split("-", 1)[0] if rest else _pkg_info_version(path)
    else:
        return None
    if not name or not version:
        return None
    return re.sub(r"[-_.]+", "-", name).lower(), version


def _pkg_info_version(path: str) -> str:
    info = os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
    try:
        with open(info, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip()
                if not line.strip():  # the headers end at the first blank line
                    break
    except OSError:
        pass
    return ""


# ---------------------------------------------------------------------------------------------------------
# Git
# ---------------------------------------------------------------------------------------------------------

# Variables with which git would look at another repository than the one we found (set inside hooks).
_GIT_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX")


def capture_git(
    path: str,
    *,
    max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES,
    max_untracked: int = DEFAULT_MAX_UNTRACKED,
) -> tuple[dict[str, Any] | None, dict[str, bytes]]:
    """Capture the state of the git repository holding ``path``.

    One ``git status --porcelain=v2 --branch -z`` gives the commit, branch, upstream, dirty flag and
    untracked files; one ``git diff HEAD`` runs only when tracked files changed; the remote URL is read
    from the repository's config file. The repository root is found by walking up from ``path``.

    Parameters
    ----------
    path
        A folder inside the working tree.
    max_diff_bytes
        Largest diff kept; a longer one is cut at the last whole line within the limit and marked
        ``truncated``.
    max_untracked
        Most untracked paths listed.

    Returns
    -------
    git : dict or None
        The ``git`` part described in the module docstring; ``None`` outside a repository or when no
        ``git`` program is installed.
    files : dict
        ``{"git.diff": bytes}`` when tracked files changed, else empty.
    """
    found = _find_repository(path)
    if found is None:
        return None, {}
    root, git_dir = found
    remotes = _read_remotes(git_dir)
    doc: dict[str, Any] = {
        "root": _clean_text(root),
        "commit": None,
        "branch": None,
        "upstream": None,
        "ahead": None,
        "behind": None,
        "remote_url": _choose_remote(remotes, None),
        "dirty": False,
        "diff": None,
        "untracked": [],
        "untracked_count": 0,
        "untracked_truncated": False,
    }
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
    # Without optional locks `git status` does not rewrite the index, so it never races the user's git.
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal"],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:  # no git program
        return None, {}
    except (OSError, subprocess.TimeoutExpired) as exc:
        doc["error"] = f"git status failed: {exc}"
        return doc, {}
    if status.returncode != 0:
        # e.g. "detected dubious ownership": say so rather than pretend there is no repository.
        message = status.stderr.decode("utf-8", "replace").strip().splitlines()
        doc["error"] = f"git status failed: {message[0] if message else status.returncode}"
        return doc, {}
    untracked = _parse_status(status.stdout, doc)
    doc["untracked_count"] = len(untracked)
    doc["untracked"] = untracked[:max_untracked]
    doc["untracked_truncated"] = len(untracked) > max_untracked
    doc["remote_url"] = _choose_remote(remotes, doc["upstream"])
    files: dict[str, bytes] = {}
    if doc["dirty"] and doc["commit"] is not None:
        import hashlib

        try:
            diff, truncated = _git_diff(root, env, max_diff_bytes)
        except OSError as exc:
            doc["error"] = f"git diff failed: {exc}"
        else:
            diff, redacted = redact_diff(diff)
            files["git.diff"] = diff
            doc["diff"] = {
                "file": "git.diff",
                "size": len(diff),
                "sha256": hashlib.sha256(diff).hexdigest(),
                "truncated": truncated,
                "redacted_lines": redacted,
            }
    return doc, files


def _find_repository(path: str) -> tuple[str, str] | None:
    """Return (working tree root, git dir) for the repository holding ``path``, walking up."""
    current = os.path.abspath(path)
    while True:
        dotgit = os.path.join(current, ".git")
        if os.path.isdir(dotgit):
            return current, dotgit
        if os.path.isfile(dotgit):
            # Worktrees and submodules: ".git" is a file saying "gitdir: <path>".
            try:
                with open(dotgit, encoding="utf-8") as f:
                    text = f.read().strip()
            except OSError:
                return None
            if text.startswith("gitdir:"):
                return current, os.path.join(current, text[len("gitdir:") :].strip())
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _parse_status(output: bytes, doc: dict[str, Any]) -> list[str]:
    """Fill commit/branch/upstream/ahead/behind/dirty into ``doc``; return the untracked paths."""
    untracked: list[str] = []
    entries = output.split(b"\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if not entry:
            continue
        kind = entry[:1]
        if kind == b"#":
            _, _, header = entry.decode("utf-8", "backslashreplace").partition(" ")
            field, _, value = header.partition(" ")
            if field == "branch.oid":
                doc["commit"] = None if value == "(initial)" else value
            elif field == "branch.head":
                doc["branch"] = None if value == "(detached)" else value
            elif field == "branch.upstream":
                doc["upstream"] = value
            elif field == "branch.ab":
                ahead, _, behind = value.partition(" ")
                doc["ahead"], doc["behind"] = int(ahead), -int(behind)
        elif kind == b"?":
            untracked.append(entry[2:].decode("utf-8", "backslashreplace"))
        elif kind in (b"1", b"u"):
            doc["dirty"] = True
        elif kind == b"2":
            doc["dirty"] = True
            i += 1  # with -z a rename's original path is the next entry
    return untracked


def _read_remotes(git_dir: str) -> dict[str, str]:
    """Read ``remote.<name>.url`` from the repository's config file, in file order."""
    common = git_dir
    try:
        # A linked worktree keeps its config in the main repository ("commondir").
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as f:
            common = os.path.join(git_dir, f.read().strip())
    except OSError:
        pass
    try:
        with open(os.path.join(common, "config"), encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return {}
    remotes: dict[str, str] = {}
    section: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            match = re.match(r'\[\s*remote\s+"((?:[^"\\]|\\.)*)"\s*\]', stripped)
            section = match.group(1) if match else None
        elif section is not None and section not in remotes:
            key, sep, value = stripped.partition("=")
            if sep and key.strip().lower() == "url":
                remotes[section] = value.strip().strip('"')
    return remotes


def _choose_remote(remotes: Mapping[str, str], upstream: str | None) -> str | None:
    """The upstream branch's remote, else origin, else the first remote; credentials stripped."""
    preferred = [upstream.split("/", 1)[0]] if upstream else []
    for name in [*preferred, "origin"]:
        if name in remotes:
            return strip_url_credentials(remotes[name])
    return strip_url_credentials(next(iter(remotes.values()))) if remotes else None


# `api_key = "..."`, `PASSWORD: ...`, `"token": "..."`: a secret-looking name assigned a literal value.
_SECRET_ASSIGNMENT = re.compile(
    r"(?P<name>[\w.\-]*(?:" + _SECRET_NAME.pattern + r")[\w.\-]*)(?P<sep>[\"']?\s*(?::|=|:=)\s*)"
    r"(?P<value>\"[^\"\n]+\"|'[^'\n]+'|[\w.\-+/=@:]+(?![\w(\[]))",
    re.IGNORECASE,
)


def redact_diff(diff: bytes) -> tuple[bytes, int]:
    r"""Redact secrets in a diff's lines: literal values assigned to secret-looking names, well-known
    token formats and URL credentials. Returns (diff, number of lines changed).

    An uncommitted change is where a researcher most often pastes a key "just to try"; the diff is
    stored with the run, so it gets the same treatment as environment variables. A redacted line no
    longer applies with ``git apply`` (the count says how many).

    Examples
    --------
    >>> redact_diff(b'+API_KEY = "abc123"\n+lr = 0.1\n')
    (b'+API_KEY = "<redacted>"\n+lr = 0.1\n', 1)
    """
    text = diff.decode("utf-8", "surrogateescape")
    changed = 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(("diff --git", "index ", "--- ", "+++ ", "@@")):
            continue
        new = _SECRET_ASSIGNMENT.sub(_redact_assignment, line)
        new = _SECRET_VALUE.sub(REDACTED, new)
        new = strip_url_credentials(new)
        if new != line:
            lines[i] = new
            changed += 1
    return "\n".join(lines).encode("utf-8", "surrogateescape"), changed


def _redact_assignment(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match['name']}{match['sep']}{quote}{REDACTED}{quote}"


def _git_diff(root: str, env: Mapping[str, str], limit: int) -> tuple[bytes, bool]:
    """Run ``git diff HEAD``, reading at most ``limit`` bytes; return (diff, truncated)."""
    proc = subprocess.Popen(
        ["git", "diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv"],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    # A timer rather than communicate(timeout=...): reading only `limit + 1` bytes keeps a huge diff
    # out of memory, and the timer still stops a hung git.
    timer = threading.Timer(_GIT_TIMEOUT_S, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        data = proc.stdout.read(limit + 1)
        truncated = len(data) > limit
        if truncated:
            proc.kill()
            cut = data.rfind(b"\n", 0, limit)
            data = data[: cut + 1] if cut >= 0 else data[:limit]
        proc.stdout.close()
        proc.wait()
    finally:
        timer.cancel()
    return data, truncated


# ---------------------------------------------------------------------------------------------------------
# Seeds and sizes
# ---------------------------------------------------------------------------------------------------------


def seed_everything(seed: int) -> dict[str, Any]:
    """Seed every random number generator a training script is likely to use.

    Seeds :mod:`random`, numpy's global generator, and torch (CPU and every CUDA device) when torch is
    installed: the caller asked for everything, so torch is imported if it is not yet. Sets
    ``PYTHONHASHSEED`` in ``os.environ`` so child processes (e.g. data-loader workers started with
    spawn) hash strings the same way; the running interpreter's hashing cannot change.

    Parameters
    ----------
    seed
        An integer in ``[0, 2**32)``, the range numpy accepts.

    Returns
    -------
    dict
        ``{"seed": seed, "random": True, "numpy": bool, "torch": bool, "torch_cuda": bool,
        "pythonhashseed": True}``, saying what was seeded.

    Raises
    ------
    TypeError
        If ``seed`` is not an integer.
    ConfigError
        If ``seed`` is outside ``[0, 2**32)``.

    Examples
    --------
    >>> import random
    >>> _ = seed_everything(7); a = random.random()
    >>> _ = seed_everything(7); a == random.random()
    True
    """
    import operator
    import random

    if isinstance(seed, bool):
        raise TypeError(f"seed must be an int, not the bool {seed!r}")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be an int, not a {type(seed).__name__!r}: {seed!r}") from None
    if not 0 <= seed < 2**32:
        raise ConfigError(f"seed {seed!r} is out of range; use an int from 0 to 2**32 - 1")
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    seeded: dict[str, Any] = {
        "seed": seed,
        "random": True,
        "numpy": False,
        "torch": False,
        "torch_cuda": False,
        "pythonhashseed": True,
    }
    try:
        import numpy
    except ImportError:
        pass
    else:
        numpy.random.seed(seed)
        seeded["numpy"] = True
    torch = sys.modules.get("torch")
    if torch is None:
        import importlib.util

        if importlib.util.find_spec("torch") is not None:
            import torch
    if torch is not None:
        torch.manual_seed(seed)  # seeds the CPU generator and, lazily, every CUDA device
        seeded["torch"] = True
        cuda = getattr(torch, "cuda", None)
        if cuda is not None and cuda.is_available():
            cuda.manual_seed_all(seed)
            seeded["torch_cuda"] = True
    return seeded


_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def human_bytes(n: int) -> str:
    """Write a byte count the way people read it: ``"16 GB"``, ``"1.5 MB"``, ``"512 B"``.

    Decimal units (1 kB = 1000 B), as disk makers and the original *record* tool use; so 16 GiB of
    memory reads ``"17 GB"``. Below 10 one decimal is shown, unless it is ``.0``.

    Parameters
    ----------
    n
        A number of bytes.

    Returns
    -------
    str

    Examples
    --------
    >>> human_bytes(16_000_000_000), human_bytes(1_500_000), human_bytes(512)
    ('16 GB', '1.5 MB', '512 B')
    """
    sign = "-" if n < 0 else ""
    value = float(abs(n))
    for unit in _UNITS:
        text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        # Move up a unit when rounding reaches 1000 ("1000 kB" reads as "1 MB").
        if float(text) < 1000 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{sign}{int(value)} B"
            return f"{sign}{text.removesuffix('.0')} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover
