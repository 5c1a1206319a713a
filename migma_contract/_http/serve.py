"""Serve an ASGI app on a loopback port from a background thread (mock, tests, benchmarks).

The listening socket is bound before the server thread starts, so the URL is usable the
moment it is returned: connections wait in the backlog until uvicorn accepts them, and no
caller needs to poll or sleep.

Connections are bounded (`server_config`): uvicorn arms its keep-alive timer only after a
response, and a byte received cancels it, so on its own a client that opens a connection
and sends a request head slowly, or never, holds it forever. `BoundedH11Protocol` gives
each request `request_timeout` seconds to arrive (head and body), closes connections
beyond `max_connections` at once, and keeps headers within 16 KiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BoundedH11Protocol", "bind_socket", "serve_in_thread", "server_config", "url_of"]

MAX_HEADER_BYTES = 16 * 1024
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_REQUEST_TIMEOUT = 10.0
KEEP_ALIVE_S = 5


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline per request and a cap on open connections."""

    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.close()  # over the cap: refused before it can hold anything
            return
        self._arm_deadline()

    def _arm_deadline(self) -> None:
        self._deadline = self.loop.call_later(self.request_timeout, self._request_overdue)

    def _request_overdue(self) -> None:
        """Close the connection if the request (head and body) has still not arrived in full."""
        if self.transport.is_closing():
            return
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self.transport.close()

    def on_response_complete(self) -> None:
        self._deadline.cancel()
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_deadline()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
        super().connection_lost(exc)


def bounded_protocol(request_timeout: float, max_connections: int) -> type[BoundedH11Protocol]:
    """A protocol class with these bounds (uvicorn instantiates the class itself)."""
    return type("BoundedH11Protocol", (BoundedH11Protocol,),
                {"request_timeout": request_timeout, "max_connections": max_connections})


def server_config(
    app: Any,
    *,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    **uvicorn_options: Any,
) -> uvicorn.Config:
    """uvicorn's configuration for the toolkit's servers: quiet, and bounded as the module says."""
    options: dict[str, Any] = {
        "log_level": "warning", "lifespan": "off", "access_log": False,
        "http": bounded_protocol(request_timeout, max_connections),
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "limit_concurrency": max_connections + 1,  # past it (tasks piling up), uvicorn answers 503
        **uvicorn_options,
    }
    return uvicorn.Config(app, **options)


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it headers and body leave in two segments
    # and every answer waits ~40 ms for the client's delayed ACK (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, scheme: str = "http") -> str:
    host, port = sock.getsockname()[:2]
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, **options: Any) -> Iterator[str]:
    """Run `app` with uvicorn in a daemon thread; yields its base URL, stops on exit.

    `options` are `server_config`'s (`max_connections`, `request_timeout`) and uvicorn's.
    """
    sock = bind_socket(host, port)
    server = uvicorn.Server(server_config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="migma-contract-server", daemon=True)
    thread.start()
    try:
        yield url_of(sock, "https" if options.get("ssl_certfile") else "http")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
