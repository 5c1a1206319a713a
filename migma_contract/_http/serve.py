"""Serve an ASGI app on a loopback port from a background thread (mock, tests, benchmarks).

The listening socket is bound before the server thread starts, so the URL is usable the
moment it is returned: connections wait in the backlog until uvicorn accepts them, and no
caller needs to poll or sleep.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["bind_socket", "serve_in_thread"]


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
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any) -> Iterator[str]:
    """Run `app` with uvicorn in a daemon thread; yields its base URL, stops on exit."""
    sock = bind_socket(host, port)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, **uvicorn_options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="migma-contract-server", daemon=True)
    thread.start()
    try:
        yield url_of(sock, "https" if uvicorn_options.get("ssl_certfile") else "http")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
