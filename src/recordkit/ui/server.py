"""The web page's server: a Starlette app of JSON endpoints and static files, served read-only.

==============================================  ======================================================
endpoint                                        answers with
==============================================  ======================================================
``GET /``                                       the page (``static/index.html``)
``GET /static/…``                               its scripts, styles and the vendored uPlot
``GET /api/store``                              the store's URL and collections (name, runs)
``GET /api/runs``                               a page of the runs table (see :func:`runs_page`)
``GET /api/live?ids=A,B``                       status, step and latest values of those runs
``GET /api/runs/{id}``                          one run: config, env, git, summary, files, checkpoints…
``GET /api/runs/{id}/events``                   its events, a page at a time (``prefix``, ``offset``…)
``GET /api/runs/{id}/files/{name}``             download one of its files
``GET /api/keys?runs=A,B``                      the keys those runs logged
``GET /api/series?runs=A,B&key=loss``           each run's series of the key per scope, downsampled
==============================================  ======================================================

Security: only GET and HEAD; every request whose ``Host`` header is not the bound address, localhost
or an allowed name is refused (a DNS-rebinding page cannot read the store); bound to anything but a
loopback address, a token is required (``?token=`` once, then a same-site cookie, or an
``Authorization: Bearer`` header). Downloads are always attachments with ``nosniff``, never pages of
this origin. Request parameters reach the library as values, never as SQL.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import recordkit as rk
from recordkit.ui import queries as Q

STATIC = Path(__file__).parent / "static"
COOKIE = "recordkit_ui_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port: ``[::1]:8080`` → ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """ASGI middleware: the Host check, the token, read-only methods and the security headers."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str], token: str | None) -> None:
        self.app = app
        self.hosts = hosts
        self.token = token

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self._problem(scope, headers)
        if problem is not None:
            status, message = problem
            await _send_json(send, status, {"error": message})
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if self.token is not None and query.get("token") == [self.token] and scope["path"] == "/":
            # The token from the printed URL becomes a same-site cookie; the address bar loses it.
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            await response(scope, receive, send)
            return

        async def secured(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *((k.lower().encode(), v.encode()) for k, v in
                                                            _HEADERS.items())]
            await send(message)

        await self.app(scope, receive, secured)

    def _problem(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        if host_name(headers.get("host", "")) not in self.hosts:
            return 421, "this server answers only requests addressed to it (Host header refused)"
        if scope["method"] not in ("GET", "HEAD"):
            return 405, "the recordkit web page is read-only: only GET and HEAD"
        if self.token is None:
            return None
        given = _bearer(headers.get("authorization", "")) or _cookie(headers.get("cookie", ""), COOKIE)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        for candidate in (given, query):
            if candidate is not None and secrets.compare_digest(candidate.encode(), self.token.encode()):
                return None
        return 401, "a token is required: open the URL with ?token=… that `recordkit ui` printed"


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


async def _send_json(send: Callable[[Any], Awaitable[None]], status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


# --- parameters ------------------------------------------------------------------------------------


def _int(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise Q.BadRequest(f"{name} is a whole number, not {text!r}") from None


def _float(request: Request, name: str) -> float | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise Q.BadRequest(f"{name} is a finite number, not {text!r}")
    return value


def _ids(request: Request, name: str) -> list[str]:
    ids = [part for part in request.query_params.get(name, "").split(",") if part]
    if len(ids) > Q.MAX_PAGE:
        raise Q.BadRequest(f"at most {Q.MAX_PAGE} runs at once, not {len(ids)}")
    return ids


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes", "on")


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


# --- the app ---------------------------------------------------------------------------------------


def make_app(store: rk.Store, *, host: str = "127.0.0.1", token: str | None = None,
             allowed_hosts: Sequence[str] = ()) -> Any:
    """The ASGI app serving ``store``; ``host`` is the bound address (the Host header must name it,
    localhost, or one of ``allowed_hosts``). A token is required when ``host`` is not a loopback address:
    give one, or one is made (read it from the returned app's ``token``)."""
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    tables = Q.RunTables(store)
    cache = Q.SeriesCache(store)

    def find(run_id: str) -> rk.Run:
        return store.run(run_id)

    def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    def store_info(request: Request) -> JSONResponse:
        return JSONResponse({"url": store.url, "collections": tables.collections(), "version": rk.__version__})

    def runs(request: Request) -> JSONResponse:
        params = request.query_params
        columns = params.get("columns")
        return JSONResponse(Q.runs_page(
            tables,
            collection=params.get("collection") or None,
            status=params.get("status") or None,
            search=params.get("q") or None,
            tag=params.get("tag") or None,
            top_level=_flag(request, "top"),
            filters=[f for f in params.getlist("filter") if f.strip()],
            sort=params.get("sort") or None,
            offset=_int(request, "offset", 0),
            limit=_int(request, "limit", 50),
            columns=None if columns is None else [c for c in columns.split(",") if c],
            fresh=_flag(request, "fresh"),
        ))

    def live(request: Request) -> JSONResponse:
        return JSONResponse({"runs": Q.live_rows(store, _ids(request, "ids"))})

    def run_page(request: Request) -> JSONResponse:
        return JSONResponse(Q.run_detail(find(request.path_params["run_id"])))

    def events(request: Request) -> JSONResponse:
        run = find(request.path_params["run_id"])
        return JSONResponse(Q.run_events(run, prefix=request.query_params.get("prefix") or None,
                                         offset=_int(request, "offset", 0), limit=_int(request, "limit", 200)))

    def download(request: Request) -> Response:
        run = find(request.path_params["run_id"])
        name = request.path_params["name"]
        handle = run.open_file(name)
        base = _SAFE_NAME.sub("_", name.rsplit("/", 1)[-1]) or "file"
        disposition = f"attachment; filename=\"{base}\"; filename*=UTF-8''{quote(name.rsplit('/', 1)[-1])}"

        def chunks() -> Any:
            with handle:
                while chunk := handle.read(1 << 16):
                    yield chunk

        return StreamingResponse(chunks(), media_type="application/octet-stream",
                                 headers={"Content-Disposition": disposition})

    def keys(request: Request) -> JSONResponse:
        return JSONResponse({"keys": Q.keys_of([find(i) for i in _ids(request, "runs")])})

    def series(request: Request) -> JSONResponse:
        key = request.query_params.get("key", "")
        if not key:
            raise Q.BadRequest("series needs key=NAME (e.g. key=loss)")
        after_text = request.query_params.get("after")
        after = None
        if after_text:
            try:
                after = {str(k): int(v) for k, v in json.loads(after_text).items()}
            except (ValueError, TypeError, AttributeError):
                raise Q.BadRequest(f"after is a JSON object of run id to sequence number, not {after_text!r}") from None
        return JSONResponse(Q.series_for(
            cache, [find(i) for i in _ids(request, "runs")], key,
            x=request.query_params.get("x", "step"), width=_int(request, "width", 1000),
            lo=_float(request, "lo"), hi=_float(request, "hi"), after=after,
        ))

    async def bad_request(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/store", store_info),
            Route("/api/runs", runs),
            Route("/api/live", live),
            Route("/api/runs/{run_id}", run_page),
            Route("/api/runs/{run_id}/events", events),
            Route("/api/runs/{run_id}/files/{name:path}", download),
            Route("/api/keys", keys),
            Route("/api/series", series),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={
            Q.BadRequest: bad_request,
            rk.QueryError: bad_request,
            rk.InvalidNameError: bad_request,
            rk.RunNotFoundError: not_found,
            rk.RunFileNotFoundError: not_found,
            HTTPException: http_error,
        },
    )
    hosts = frozenset({*LOOPBACK_NAMES, host_name(host) if ":" not in host else host.strip("[]").lower(),
                       *(h.lower() for h in allowed_hosts)})
    return Guard(app, hosts=hosts, token=token)
