"""What a secret looks like: secret names, secret values by their format, and the literal secrets of this process.

Three layers, each used by :mod:`recordkit.capture.redaction` on every captured text:

* **names** (:data:`SECRET_NAME`): ``API_KEY``, ``DB_PASSWORD``, ``--token`` hold secrets whatever
  their value;
* **formats** (:func:`redact_text`): a value that holds a token of a well-known format (``ghp_…``,
  ``sk-…``, ``AKIA…``, a JWT, a Slack or Discord webhook URL), an ``Authorization`` header, a
  ``Bearer``/``Basic`` credential, a ``password=``/``AccountKey=``/``sig=`` pair (DSNs, connection strings,
  signed URLs) or a URL's ``user:password@`` loses that part, whatever its name;
* **literal secrets** (:func:`known_secrets`, :func:`scrub`): the values of this process's secret
  environment variables are removed wherever they appear (a diff, a command line, a config, another
  variable), since a secret pasted elsewhere is still the same secret.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

#: What a secret value is replaced with.
REDACTED = "<redacted>"

# Names containing any of these hold secrets. AUTH skips AUTHOR(S) but not AUTHORIZATION.
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|KEY|CREDENTIAL|CREDS|AUTH(?!OR(?!IZ))|PRIVATE|SESSION|COOKIE",
    re.IGNORECASE,
)

# Values that are secrets whatever their name: well-known token formats.
SECRET_TOKEN = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|glpat-[\w-]{20,}|xox[abprs]-[\w-]{10,}"
    r"|sk-[\w-]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|hf_[A-Za-z0-9]{20,}|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|AIza[\w-]{30,}|ya29\.[\w-]{20,}|npm_[A-Za-z0-9]{36}|pypi-[\w-]{50,}|SG\.[\w-]{16,}\.[\w-]{16,}"
    r"|eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]*)"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)

# Webhook URLs are credentials in themselves: whoever has one may post.
_WEBHOOK = re.compile(
    r"(?P<keep>https?://(?:hooks\.slack\.com|(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks"
    r"|[\w.-]+\.webhook\.office\.com))/[\w\-/@.]+",
    re.IGNORECASE,
)

# An HTTP header that carries a credential, as curl's -H or a header dump writes it.
_HEADER = re.compile(
    r"(?P<keep>\b(?:proxy-)?authorization|\bx-api-key|\bapi-key|\bx-auth-token|\bprivate-token|\bcookie"
    r"|\bset-cookie)(?P<sep>\s*:\s*)(?P<value>[^\"'\n]+)",
    re.IGNORECASE,
)

# A credential after its scheme: "Bearer <token>", "Basic <base64>" (which must hold a digit, "+", "/" or
# "=", so that "Basic training" stays).
_SCHEME = re.compile(
    r"(?P<keep>\b(?:[Bb]earer|BEARER)\s+)(?P<value>[\w\-.~+/]{8,}=*)"
    r"|(?P<keep2>\bBasic\s+)(?P<value2>(?=[A-Za-z]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2})"
)

# `password=x` inside a value: DSNs ("host=db password=x"), connection strings ("AccountKey=x;"),
# query strings ("?access_token=x&sig=y"). The value runs to a space, `;`, `&`, `,` or a quote; a call
# (`key_fn = get_key()`) is code, not a value.
_PAIR = re.compile(
    r"(?P<name>(?<![\w.\-])(?:[\w.\-]*(?:" + SECRET_NAME.pattern + r")[\w.\-]*|pwd|pw|sig|[\w.\-]*signature))"
    r"(?P<sep>\s*=\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s;&,\"'()\[\]]+(?![\w(\[]))",
    re.IGNORECASE,
)

# scheme://userinfo@ ; the userinfo runs to the last "@" before the host, so a raw "@" in a
# password is stripped too. scp-like "git@host:repo" has no "//" and is left alone.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#]*)@")

# A literal secret shorter than this is not scrubbed elsewhere: "ubuntu" (XDG_SESSION_DESKTOP) or
# "30" (a *_KEY_TIMEOUT) would otherwise vanish from every config and command line.
MIN_SCRUB_LENGTH = 8


def strip_url_credentials(url: str) -> str:
    """Remove passwords and tokens from every URL in a string.

    The password is always removed. For ``http``/``https`` URLs (also ``git+https`` and the like)
    the user name goes too, since it is often a token (``https://ghp_xxx@github.com``) and never needed
    to reproduce a run; other schemes keep it.

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


def redact_text(text: str) -> str:
    """``text`` with every secret found by its format replaced by :data:`REDACTED`, the rest kept.

    Examples
    --------
    >>> redact_text("host=db user=bob password=hunter22 dbname=runs")
    'host=db user=bob password=<redacted> dbname=runs'
    >>> redact_text("Authorization: Bearer abc.def.ghi")
    'Authorization: <redacted>'
    """
    if not text:
        return text
    text = _HEADER.sub(lambda m: f"{m['keep']}{m['sep']}{REDACTED}", text)
    text = _SCHEME.sub(lambda m: f"{m['keep'] or m['keep2']}{REDACTED}", text)
    text = _WEBHOOK.sub(lambda m: f"{m['keep']}/{REDACTED}", text)
    text = SECRET_TOKEN.sub(REDACTED, text)
    if "=" in text:
        text = _PAIR.sub(_redact_pair, text)
    return strip_url_credentials(text)


# The words of a pair's name that make its value a secret ("access_token", "AccountKey", "X-Amz-Signature",
# "PGPASSWORD"); "monkey=banana" and "keyboard=us" are not.
_PAIR_WORD_LIST = (
    "token secret password passwd pwd pw passphrase key apikey accesskey secretkey accountkey privatekey sharedkey "
    "credential credentials creds auth authorization private session sessionid cookie sig signature"
)
_PAIR_WORDS = frozenset(_PAIR_WORD_LIST.split())
_PAIR_ENDINGS = ("password", "passwd", "secret", "token", "signature", "credential")
_NAME_PART = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def is_secret_pair_name(name: str) -> bool:
    """Whether ``name=value`` holds a secret: a word of the name (split at ``_ . -`` and camelCase) says so."""
    for part in _NAME_PART.findall(name):
        word = part.lower()
        if word in _PAIR_WORDS or word.endswith(_PAIR_ENDINGS):
            return True
    return False


def _redact_pair(match: re.Match[str]) -> str:
    value = match["value"]
    if value == REDACTED or not value.strip("\"'") or not is_secret_pair_name(match["name"]):
        return match[0]
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match['name']}{match['sep']}{quote}{REDACTED}{quote}"


def has_secret_format(text: str) -> bool:
    """Whether ``text`` holds a token of a well-known format (``ghp_…``, ``AKIA…``, a JWT…)."""
    return SECRET_TOKEN.search(text) is not None


class Policy:
    """Which environment variables are secret: ``deny`` patterns, then ``allow`` patterns, then the name.

    Entries are compared case-insensitively; one with ``*``, ``?`` or ``[`` is a glob that must match the
    whole name, a plain ``deny`` entry matches any name containing it, a plain ``allow`` entry the name.
    """

    def __init__(self, allow: Collection[str] = (), deny: Collection[str] = ()) -> None:
        self.allow_exact = {a.upper() for a in allow if not _is_glob(a)}
        self.allow_globs = [a.upper() for a in allow if _is_glob(a)]
        self.deny_parts = [d.upper() for d in deny if not _is_glob(d)]
        self.deny_globs = [d.upper() for d in deny if _is_glob(d)]

    def verdict(self, name: str) -> str:
        """``"deny"``, ``"allow"``, ``"secret"`` (by its name) or ``""`` (judge the value)."""
        upper = name.upper()
        if any(p in upper for p in self.deny_parts) or any(fnmatchcase(upper, g) for g in self.deny_globs):
            return "deny"
        if upper in self.allow_exact or any(fnmatchcase(upper, g) for g in self.allow_globs):
            return "allow"
        return "secret" if SECRET_NAME.search(name) else ""


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def known_secrets(environ: Mapping[str, str], policy: Policy | None = None) -> frozenset[str]:
    """The literal secrets of ``environ``, to scrub from everything else a run captures.

    The whole value of each variable redacted by its name or by ``deny``, and the secret parts of other
    values (a URL's password, a DSN's ``password=``, a token of a known format). Allowed variables
    give none. Values shorter than :data:`MIN_SCRUB_LENGTH`, numbers and absolute paths are left
    out: scrubbing them would blank innocent text everywhere.
    """
    policy = policy or Policy()
    found: set[str] = set()
    for name, value in environ.items():
        verdict = policy.verdict(name)
        if verdict == "allow" or not value:
            continue
        if verdict:
            found.add(value)
        found.update(secret_parts(value))
    return frozenset(s for s in found if _scrubbable(s))


def secret_parts(text: str) -> list[str]:
    """The secret substrings of ``text`` found by their format (tokens, pair values, URL passwords)."""
    parts = [m[0] for m in SECRET_TOKEN.finditer(text) if not m[0].startswith("-----")]
    parts += [m["value"].strip("\"'") for m in _PAIR.finditer(text) if is_secret_pair_name(m["name"])]
    parts += [m["value"].strip() for m in _HEADER.finditer(text)]
    parts += [m["value"] or m["value2"] for m in _SCHEME.finditer(text)]
    for match in _URL_USERINFO.finditer(text):
        user, _, password = match["userinfo"].partition(":")
        parts.append(password or user)
    return parts


def _scrubbable(secret: str) -> bool:
    if len(secret) < MIN_SCRUB_LENGTH or secret == REDACTED or secret.startswith(("/", "~")):
        return False
    try:
        float(secret)
    except ValueError:
        return True
    return False


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by :data:`REDACTED` (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_value(value: Any, secrets: Collection[str]) -> Any:
    """A JSON-able value (a config) with the secrets scrubbed from every string in it, keys kept."""
    if not secrets:
        return value
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, list):
        return [scrub_value(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: scrub_value(v, secrets) for k, v in value.items()}
    return value
