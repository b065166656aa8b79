"""A tiny TCP proxy for cutting the network between a client and the PostgreSQL server in a test.

``down()`` closes every open connection and refuses new ones (the client sees the server vanish, as in
an outage or a network cut); ``up()`` lets connections through again. The shared server itself is
never touched.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        self.frozen = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()  # the "server" is gone
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                while self.frozen and not self.closed:  # a black hole: bytes go nowhere, nothing closes
                    threading.Event().wait(0.05)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def down(self) -> None:
        """Cut every connection and refuse new ones."""
        self.open = False
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def freeze(self) -> None:
        """Keep every connection open but forward nothing (a silently dropped network)."""
        self.frozen = True

    def up(self) -> None:
        self.open = True
        self.frozen = False

    def via(self, url: str) -> str:
        """``url`` (a PostgreSQL URL of the proxied server) leading through this proxy instead."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return parts._replace(netloc=f"{user}127.0.0.1:{self.port}").geturl()

    def close(self) -> None:
        self.closed = True
        self.down()
        with contextlib.suppress(OSError):
            self.listener.close()
