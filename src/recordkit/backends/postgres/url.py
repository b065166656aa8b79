"""Where a PostgreSQL store is: its URL split into what libpq reads and what recordkit reads, the
URL without its password (the only form kept or shown), and the run-folder root given as ``files``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from recordkit._exceptions import StoreError

#: recordkit's own query parameters, removed before libpq sees the URL.
OPTIONS = ("schema", "spool", "write_timeout")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def redact_url(url: str) -> str:
    """The URL without its password (and without any ``password=`` query parameter)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "password"]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))


def parse_url(url: str) -> tuple[str, str, dict[str, str]]:
    """Split a store URL into (libpq conninfo, schema, recordkit options).

    recordkit's own query parameters (``schema``, ``spool``, ``write_timeout``) are removed before libpq
    sees the URL.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() == "postgres":
        parts = parts._replace(scheme="postgresql")
    ours: dict[str, str] = {}
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in OPTIONS:
            ours[key] = value
        else:
            kept.append((key, value))
    schema = ours.pop("schema", "") or os.environ.get("RECORDKIT_PG_SCHEMA", "") or "public"
    if not _SCHEMA_NAME.match(schema):
        raise StoreError(
            f"schema {schema!r} is not a plain identifier; use letters, digits and underscores (at most 63)"
        )
    if not any(k == "connect_timeout" for k, _ in kept):
        kept.append(("connect_timeout", "5"))
    # Built by hand: urlunsplit drops the "//" of an empty host ("postgresql:///db" relies on PGHOST).
    conninfo = f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(kept)}"
    return conninfo, schema, ours


def secrets_of(url: str) -> list[str]:
    """Passwords in a URL (userinfo or ``password=``) and in ``PGPASSWORD``, to scrub from engine messages."""
    parts = urlsplit(url)
    found = []
    if parts.password:
        found.append(parts.password)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() == "password" and value:
            found.append(value)
    env = os.environ.get("PGPASSWORD")
    if env:
        found.append(env)
    return found


def files_folder(files: str | os.PathLike[str]) -> str:
    """The run-folder root as an absolute local path; a ``file://`` URL is accepted."""
    text = os.fspath(files)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if scheme.lower() != "file":
            raise StoreError(
                f"files={text!r}: run folders need a filesystem path (or file://); mount {scheme}:// storage "
                "(s3fs, gcsfuse, NFS…) and give the mount point"
            )
        text = rest
    return str(Path(text).expanduser().resolve())


_LOOPBACK = ("", "localhost", "127.0.0.1", "::1", "[::1]")


def store_identity(conninfo: str, schema: str) -> str:
    """Which store a URL names, whatever its spelling: ``host:port/dbname?user=…&schema=…``.

    Two URLs that differ only in text (``postgres://`` or ``postgresql://``, parameter order,
    ``connect_timeout``, ``sslmode``, a password, a loopback spelled ``localhost``, ``127.0.0.1`` or a
    local socket) name the same store, so every process of this machine finds the same spool (a dead
    process's batches are adopted by whoever opens the store next). Unset parts come from the ``PG*``
    variables and libpq's defaults, as when connecting.
    """
    import getpass

    from psycopg.conninfo import conninfo_to_dict

    given = conninfo_to_dict(conninfo)

    def part(key: str, variable: str, default: str) -> str:
        return str(given.get(key) or os.environ.get(variable) or default)

    host = part("host", "PGHOST", "").split(",")[0].strip().lower()
    if host in _LOOPBACK or host.startswith("/"):
        host = "localhost"  # this machine's server, by TCP or by its socket
    user = part("user", "PGUSER", getpass.getuser())
    return f"{host}:{part('port', 'PGPORT', '5432')}/{part('dbname', 'PGDATABASE', user)}?user={user}&schema={schema}"
