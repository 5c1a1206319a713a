"""Small raw TCP servers that misbehave the ways real servers do (loopback only)."""

from __future__ import annotations

import gzip
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

Handler = Callable[[socket.socket, threading.Event], None]


@contextmanager
def raw_server(handle: Handler) -> Iterator[str]:
    """Serve `handle(connection, stop)` per connection on a free loopback port; yields the URL."""
    stop = threading.Event()

    class _Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with suppress(OSError):
                handle(self.request, stop)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler, bind_and_activate=False)
    server.daemon_threads = True
    server.allow_reuse_address = True
    server.server_bind()
    server.server_activate()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def response(status: str, body: bytes, content_type: str = "application/json", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def each_request(answer: Callable[[bytes], bytes]) -> Handler:
    """Keep-alive: answer every request on the connection with `answer(request)`."""

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            request = read_request(conn)
            if not request:
                return
            conn.sendall(answer(request))

    return handle


def hang(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    stop.wait()


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    """One byte every 50 ms, forever: each read succeeds, the answer never ends."""
    read_request(conn)
    payload = response("200 OK", b'{"success": true, "data": {"id": "m", "status": "queued"}}' * 1000)
    for byte in payload:
        if stop.wait(0.05):
            return
        conn.sendall(bytes([byte]))


def close_mid_body(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + b'{"success": tr')
    conn.close()


def reset(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def endless_body(conn: socket.socket, stop: threading.Event) -> None:
    """Announces 300 MB and streams it until the client goes away."""
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 314572800\r\n\r\n[")
    chunk = b'"x",' * 16384
    while not stop.is_set():
        conn.sendall(chunk)


_BOMB = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB of spaces in ~64 KiB


def gzip_bomb(conn: socket.socket, stop: threading.Event) -> None:
    while not stop.is_set():
        if not read_request(conn):
            return
        conn.sendall(response("200 OK", _BOMB, Content_Encoding="gzip"))


def short_content_length(conn: socket.socket, stop: threading.Event) -> None:
    """Declares 5 bytes, sends 60: the rest is garbage where the next answer should start."""
    while not stop.is_set():
        if not read_request(conn):
            return
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n"
                     + b'{"success": false, "error": "x"}' * 2)
