"""Binding and running the web page's server: in this thread (``recordkit ui``) or in a background
thread (``store.ui()``), on a socket bound before the server starts, so port 0 gives a free port
that is known at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from recordkit._deps import require

if TYPE_CHECKING:
    from recordkit._store import Store


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: a free port), IPv6 when the host is one."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://HOST:PORT/`` of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class UI:
    """A web page served from a background thread: ``url``, ``token`` (None on loopback), ``stop()``."""

    def __init__(self, server: Any, thread: threading.Thread, url: str, token: str | None) -> None:
        self._server = server
        self._thread = thread
        self.url = url
        self.token = token

    @property
    def address(self) -> str:
        """The URL to open: with ``?token=`` when a token is required."""
        return self.url if self.token is None else f"{self.url}?token={self.token}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the server thread to end. Idempotent."""
        self._server.should_exit = True
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> UI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _repr_html_(self) -> str:  # a notebook shows a link
        return f'<a href="{self.address}" target="_blank" rel="noopener">recordkit ui: {self.url}</a>'

    def __repr__(self) -> str:
        return f"<recordkit UI {self.url} {'running' if self.running else 'stopped'}>"


def _server(store: Store, sock: socket.socket, host: str, token: str | None,
            allowed_hosts: tuple[str, ...]) -> tuple[Any, str | None]:
    require("starlette", "the web page needs Starlette")
    uvicorn = require("uvicorn", "the web page needs uvicorn")
    from recordkit.ui.server import make_app

    app = make_app(store, host=host, token=token, allowed_hosts=allowed_hosts)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config), app.token


def start(store: Store, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
          allowed_hosts: tuple[str, ...] = (), open_browser: bool = False) -> UI:
    """Serve ``store`` from a daemon thread; return once it accepts connections."""
    sock = bind(host, port)
    try:
        server, token = _server(store, sock, host, token, allowed_hosts)
    except BaseException:
        sock.close()
        raise
    # Signal handlers belong to the main thread: a background server must not install them.
    server.install_signal_handlers = lambda: None
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="recordkit-ui", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    ui = UI(server, thread, url_of(sock), token)
    if open_browser:
        import webbrowser

        with contextlib.suppress(Exception):
            webbrowser.open(ui.address)
    return ui


def serve(store: Store, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
          allowed_hosts: tuple[str, ...] = (), open_browser: bool = False) -> None:
    """Serve ``store`` in this thread until interrupted, after printing ``recordkit ui: URL`` first."""
    sock = bind(host, port)
    server, token = _server(store, sock, host, token, allowed_hosts)
    url = url_of(sock)
    print(f"recordkit ui: {url}", flush=True)
    if token is not None:
        print(f"token required (bound to {host}): open {url}?token={token}", flush=True)
    if open_browser:
        import webbrowser

        with contextlib.suppress(Exception):
            webbrowser.open(url if token is None else f"{url}?token={token}")
    server.run(sockets=[sock])
