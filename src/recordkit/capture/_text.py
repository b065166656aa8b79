"""Text the operating system hands over, made safe to write as JSON."""

from __future__ import annotations

__all__ = ["clean_text"]


def clean_text(text: str) -> str:
    """Return ``text`` with undecodable bytes written as ``\\xNN`` escapes.

    ``os.environ``, ``sys.argv`` and paths carry undecodable bytes as surrogates, which cannot be
    written as UTF-8.
    """
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
