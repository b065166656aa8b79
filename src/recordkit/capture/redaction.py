"""Secrets never stored: redaction of environment variables, command lines, URLs and git diffs.

A value is treated as a secret for one of three reasons: its *name* looks like a secret's (``API_KEY``,
``DB_PASSWORD``, ``--token``; see ``_SECRET_NAME``), its *value* has a well-known token format
(``ghp_...``, ``sk-...``, ``AKIA...``, a JWT; see ``_SECRET_VALUE``), or it is the password or token part
of a URL (:func:`strip_url_credentials`). Redacted values become :data:`REDACTED`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from fnmatch import fnmatchcase

__all__ = ["REDACTED", "check_names", "redact_argv", "redact_diff", "redact_env", "strip_url_credentials"]

#: What a secret value is replaced with.
REDACTED = "<redacted>"

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
    check_names("allow", allow)
    check_names("deny", deny)
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


def redact_argv(argv: list[str]) -> list[str]:
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


def check_names(argument: str, names: Collection[str]) -> None:
    # A bare str is a Collection of characters: "HOME" would allow "H", "O", "M", "E".
    if isinstance(names, str):
        raise TypeError(f"{argument} must be a collection of names such as [{names!r}], not the str {names!r}")


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

