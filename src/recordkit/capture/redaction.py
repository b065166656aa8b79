"""Secrets never stored: redaction of environment variables, command lines, configs and git diffs.

A value is treated as a secret for one of four reasons (see :mod:`recordkit.capture.secrets`): its
*name* looks like a secret's (``API_KEY``, ``DB_PASSWORD``, ``--token``), its *value* has a secret's
format (``ghp_...``, ``AKIA...``, a JWT, a webhook URL, ``Bearer ...``, ``password=...`` in a DSN,
``AccountKey=...``), it is the password part of a URL, or it is the literal value of one of this
process's secret environment variables, found anywhere else (``secrets``, from :func:`known_secrets`).
Redacted values become :data:`REDACTED`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from typing import Any

from recordkit.capture.secrets import (
    REDACTED,
    SECRET_NAME,
    Policy,
    has_secret_format,
    known_secrets,
    redact_text,
    scrub,
    scrub_value,
    strip_url_credentials,
)

__all__ = [
    "REDACTED", "check_names", "known_secrets", "redact_argv", "redact_diff", "redact_env", "scrub_config",
    "scrub_value", "strip_url_credentials",
]


def scrub_config(config: dict[str, Any], *, allow: Collection[str] = (), deny: Collection[str] = ()) -> dict[str, Any]:
    """``config`` with the literal values of this process's secret environment variables removed from its
    strings (``{"dsn": os.environ["DB_DSN"]}`` must not store the password); keys and other values stay.

    Examples
    --------
    >>> scrub_config({"lr": 0.1, "note": "no secrets here"})
    {'lr': 0.1, 'note': 'no secrets here'}
    """
    if not config:
        return config
    secrets = known_secrets(os.environ, Policy(allow, deny))
    return scrub_value(config, secrets) if secrets else config  # type: ignore[no-any-return]


def redact_env(
    environ: Mapping[str, str],
    *,
    allow: Collection[str] = (),
    deny: Collection[str] = (),
    secrets: Collection[str] | None = None,
) -> dict[str, str]:
    """Copy environment variables with secret values replaced by ``"<redacted>"``.

    A value is redacted when its name matches ``deny``, or when its name is not in ``allow`` and
    contains TOKEN, SECRET, PASSWORD, PASSWD, PASSPHRASE, KEY, CREDENTIAL, CREDS, AUTH (not AUTHOR),
    PRIVATE, SESSION or COOKIE, or when its value contains a well-known token format (``ghp_...``,
    ``sk-...``, ``AKIA...``, a JWT). Other values keep their text with the secret parts removed: URL
    credentials, ``password=``/``AccountKey=``/``sig=`` pairs, ``Bearer`` credentials, webhook paths,
    and the literal value of any secret variable. An empty value is kept, since it reveals nothing.

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
    secrets
        The literal secrets to scrub from kept values; default: :func:`known_secrets` of ``environ``.

    Returns
    -------
    dict
        A new dict, sorted by name.

    Examples
    --------
    >>> redact_env({"HOME": "/root", "HF_TOKEN": "hf_abc", "DB_DSN": "host=db password=pw12"})
    {'DB_DSN': 'host=db password=<redacted>', 'HF_TOKEN': '<redacted>', 'HOME': '/root'}
    """
    check_names("allow", allow)
    check_names("deny", deny)
    policy = Policy(allow, deny)
    if secrets is None:
        secrets = known_secrets(environ, policy)
    out: dict[str, str] = {}
    for name in sorted(environ):
        value = environ[name]
        verdict = policy.verdict(name)
        if verdict == "allow":
            out[name] = value
        elif verdict or not value:
            out[name] = REDACTED if value else value
        else:
            out[name] = _redact_value(value, secrets)
    return out


def _redact_value(value: str, secrets: Collection[str]) -> str:
    """A value under an innocent name: a known token format redacts it all, other secrets only their part."""
    if not value:
        return value
    if has_secret_format(value):
        return REDACTED
    return scrub(redact_text(value), secrets)


# Options whose next argument is a secret although their name does not say so: `sshpass -p pw`,
# `mysql -p pw`, `redis-cli -a pw`. A number after -p stays (it is as often a port).
_SECRET_SHORT_OPTIONS = frozenset({"-p", "-a"})
# Options whose next argument is `user:password` (curl -u, wget --user).
_USER_PASSWORD_OPTIONS = frozenset({"-u", "--user", "--proxy-user"})


def redact_argv(argv: list[str], secrets: Collection[str] = ()) -> list[str]:
    """Redact secret-looking command-line values.

    ``--api-key=x``, ``--token x``, ``--password x``, ``db.password=x``, ``-p pw``, the password of
    ``-u user:pw``, ``--header "Authorization: Bearer x"``, any value with a secret's format, and the
    literal ``secrets``.

    Examples
    --------
    >>> redact_argv(["psql", "-p", "hunter22", "--header", "Authorization: Bearer abc.def.ghi"])
    ['psql', '-p', '<redacted>', '--header', 'Authorization: <redacted>']
    """
    out: list[str] = []
    pending = ""  # what the previous option says this argument is: "secret", "short" or "user:password"
    for arg in argv:
        if pending and not arg.startswith("-"):
            if pending == "user:password":
                out.append(arg.partition(":")[0] + ":" + REDACTED if ":" in arg else arg)
            else:
                out.append(arg if pending == "short" and arg.isdigit() else REDACTED)
            pending = ""
            continue
        pending = ""
        name, eq, value = arg.partition("=")
        if eq and SECRET_NAME.search(name):
            out.append(f"{name}={REDACTED if value else value}")
        elif not arg.startswith("-"):
            out.append(_redact_value(arg, secrets))
        elif eq:
            out.append(f"{name}={_redact_value(value, secrets)}")  # --header=Authorization: Bearer ...
        else:
            out.append(arg)
            if SECRET_NAME.search(arg):
                pending = "secret"
            elif arg in _SECRET_SHORT_OPTIONS:
                pending = "short"
            elif arg in _USER_PASSWORD_OPTIONS:
                pending = "user:password"
    return out


def check_names(argument: str, names: Collection[str]) -> None:
    # A bare str is a Collection of characters: "HOME" would allow "H", "O", "M", "E".
    if isinstance(names, str):
        raise TypeError(f"{argument} must be a collection of names such as [{names!r}], not the str {names!r}")


# `api_key = "..."`, `PASSWORD: ...`, `"token": "..."`, `os.environ["MY_PASSWORD"] = "..."`: a
# secret-looking name assigned a literal value.
_SECRET_ASSIGNMENT = re.compile(
    r"(?P<name>[\w.\-]*(?:" + SECRET_NAME.pattern + r")[\w.\-]*)(?P<sep>[\"']?\]?\s*(?::|=|:=)\s*)"
    r"(?P<value>\"[^\"\n]+\"|'[^'\n]+'|[\w.\-+/=@:]+(?![\w(\[]))",
    re.IGNORECASE,
)
# `os.environ.setdefault("MY_TOKEN", "...")`, `monkeypatch.setenv("DB_PASSWORD", "...")`, `putenv`.
_SECRET_SETENV = re.compile(
    r"(?P<head>\b(?:setdefault|setenv|putenv|set_env)\s*\(\s*(?P<q>[\"'])[^\"'\n]*(?:" + SECRET_NAME.pattern
    + r")[^\"'\n]*(?P=q)\s*,\s*)(?P<value>\"[^\"\n]*\"|'[^'\n]*')",
    re.IGNORECASE,
)
# A call whose name says it takes a secret: `set_password("...")`, `keyring.set_password(svc, user, "...")`,
# `login_with_api_key('...')`. Every string literal among its arguments is redacted. (TOKEN alone is not
# enough: `tokenizer("some text")` is everywhere in ML code.)
_SECRET_CALL = re.compile(
    r"(?P<head>\b\w*(?:password|passwd|passphrase|secret|credential|api_?key|access_?key|private_?key"
    r"|(?:auth|access|api|bearer|refresh|set)_?token)\w*\s*\()(?P<args>[^()\n]*)\)",
    re.IGNORECASE,
)
_STRING_LITERAL = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'")


def redact_diff(diff: bytes, secrets: Collection[str] = ()) -> tuple[bytes, int]:
    r"""Redact secrets in a diff's lines: literal values assigned to secret-looking names (also through
    ``os.environ[...]``, ``setenv``/``setdefault`` and calls such as ``set_password("...")``), values with a
    secret's format, URL credentials and the literal ``secrets``. Returns (diff, number of lines changed).

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
        new = _SECRET_SETENV.sub(lambda m: m["head"] + _quoted(m["value"]), line)
        new = _SECRET_CALL.sub(_redact_call, new)
        new = _SECRET_ASSIGNMENT.sub(_redact_assignment, new)
        new = scrub(redact_text(new), secrets)
        if new != line:
            lines[i] = new
            changed += 1
    return "\n".join(lines).encode("utf-8", "surrogateescape"), changed


def _quoted(value: str) -> str:
    quote = value[0] if value[0] in "\"'" else ""
    return f"{quote}{REDACTED}{quote}"


def _redact_call(match: re.Match[str]) -> str:
    return match["head"] + _STRING_LITERAL.sub(lambda m: _quoted(m[0]), match["args"]) + ")"


def _redact_assignment(match: re.Match[str]) -> str:
    if match["value"].strip("\"'") == REDACTED:
        return match[0]
    return f"{match['name']}{match['sep']}{_quoted(match['value'])}"
