"""User-given names: folder names that can never escape the store folder, and labels that read as written.

A name that becomes a folder (collection, sub-run kind and name, file name, checkpoint name) is one
path component: no ``/ \\ : * ? " < > |``, no leading dot, no leading or trailing blanks. Spaces
inside are fine (``my study``). No name or label a person reads (those, and run names and tags)
may hold control characters or invisible formatting characters, among them the right-to-left
override (U+202E) and the other direction marks: they make a name display as another (``evil‮gnp.exe``).
"""

from __future__ import annotations

import re
import unicodedata

from recordkit._exceptions import InvalidNameError

_MAX = 200
# Lone surrogates too: not UTF-8, so no database could store the name.
_BAD = re.compile("[/\\\\\x00-\x1f\x7f:*?\"<>|\ud800-\udfff]")
# Control, format (bidi overrides and marks, zero-width characters, BOM), surrogate, line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def hidden_character(text: str) -> str:
    """A description of the first control or invisible formatting character in ``text``, or ""."""
    if text.isascii() and text.isprintable():
        return ""
    for position, char in enumerate(text):
        if unicodedata.category(char) in _HIDDEN_CATEGORIES:
            label = unicodedata.name(char, "a control character")
            return f"holds {label} (U+{ord(char):04X}) at position {position}, which would make it display as another"
    return ""


def check_label(text: str, what: str) -> str:
    """Return ``text`` (a run name, a tag) unless it holds a hidden character; else InvalidNameError."""
    problem = hidden_character(text)
    if problem:
        raise InvalidNameError(f"{what} {text!r} {problem}; remove it")
    return text


def check_name(name: object, what: str) -> str:
    """Return ``name`` if it is a safe single path component, else raise InvalidNameError."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} must be a string, not {type(name).__name__} {name!r}")
    if not name or not name.strip():
        raise InvalidNameError(f"{what} must not be empty")
    if len(name) > _MAX:
        raise InvalidNameError(f"{what} {name[:40]!r}… is longer than {_MAX} characters; shorten it")
    if name in (".", "..") or name.startswith(".") or name != name.strip() or _BAD.search(name):
        raise InvalidNameError(
            f"{what} {name!r} is not allowed: a name is one folder name, without / \\ : * ? \" < > |, a leading "
            "dot, leading or trailing blanks, or control characters (spaces inside are fine: 'my study')"
        )
    check_label(name, what)
    return name
