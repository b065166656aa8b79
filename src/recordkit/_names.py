"""User-given names that become folder names: they can never escape the store folder."""

from __future__ import annotations

import re

from recordkit._exceptions import InvalidNameError

_MAX = 200
# Lone surrogates too: not UTF-8, so no database could store the name.
_BAD = re.compile("[/\\\\\x00-\x1f:*?\"<>|\ud800-\udfff]")


def check_name(name: object, what: str) -> str:
    """Return ``name`` if it is a safe single path component, else raise InvalidNameError."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} must be a string, not {type(name).__name__} {name!r}")
    if not name or not name.strip():
        raise InvalidNameError(f"{what} must not be empty")
    if len(name) > _MAX:
        raise InvalidNameError(f"{what} {name[:40]!r}… is longer than {_MAX} characters; shorten it")
    if name in (".", "..") or name.startswith(".") or _BAD.search(name):
        raise InvalidNameError(
            f"{what} {name!r} is not allowed: use letters, digits, '-', '_' or '.', "
            "without slashes, a leading dot, or control characters"
        )
    return name
