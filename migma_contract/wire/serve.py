"""Serve an ASGI app on a loopback port from a background thread (mock, tests, benchmarks).

The listening socket is bound before the server thread starts, so the URL is usable the
moment it is returned: connections wait in the backlog until uvicorn accepts them, and no
caller needs to poll or sleep.

Connections are bounded (`server_config`): uvicorn arms its keep-alive timer only after a
response, and a byte received cancels it, so on its own a client that opens a connection
and sends a request head slowly, or never, holds it forever. The bounded protocols give
each request `request_timeout` seconds to arrive (head and body), close connections
beyond `max_connections` at once, and keep a request's head within 16 KiB.

Two protocols, the same bounds: httptools (uvicorn[standard]'s C parser, about twice the
requests a second) where it is installed, else uvicorn's pure-Python h11 protocol.

Both read a request as its client sent it, and alike: no server of the toolkit takes an upgrade
(`ws="none"`: a request asking for one, `curl --http2`'s `Upgrade: h2c` or a websocket handshake,
is an ordinary request, body and all, as h11 and the upstream read it; httptools on its own stops
at the head and runs the app with no body), and a request whose `Transfer-Encoding` is anything
but `chunked` is refused 400 (h11 refuses it; llhttp would undo the chunks and hand the app a
body still in its other coding, as if it had none).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

import h11
import uvicorn
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.h11_impl import H11Protocol

try:  # C parser (uvicorn[standard]); without it the pure-Python h11 protocol serves
    import httptools
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    _HTTPTOOLS = True
except ImportError:  # pragma: no cover
    _HTTPTOOLS = False

__all__ = ["PROTOCOLS", "BoundedH11Protocol", "bind_socket", "bounded_protocol", "serve_in_thread", "server_config", "stack_description", "url_of"]

MAX_HEADER_BYTES = 16 * 1024
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_REQUEST_TIMEOUT = 10.0
KEEP_ALIVE_S = 5
_SLICE = 4096  # httptools is fed at most this much at a time (see BoundedHttpToolsProtocol)


class _Bounded:
    """The bounds both protocols share: a cap on open connections, a deadline per request.

    Mixed in before uvicorn's protocol class; `_arrived` says whether the request the
    connection waits for has come in full (head and body).
    """

    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    # told of every request (or connection) the server refuses on its own, before or without running the app: a 400
    # (a head past 16 KiB, a request no parser reads), a 503 (past the concurrency limit), a connection over the cap, a
    # request that did not arrive within `request_timeout`. The proxy counts each one a send unjudged (no green verdict
    # rests on what never reached it); None: nobody is told
    on_refused: Callable[[str], None] | None = None
    connections: set[Any]
    tasks: set[Any]
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    app: Any
    limit_concurrency: int | None

    # A mixin: what super() calls is the uvicorn protocol it is mixed into, which mypy cannot see here.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.on_refused is not None and self.limit_concurrency is not None:
            # uvicorn answers 503 past the limit without running the app and without a word: the same limit, told
            limit, app, self.limit_concurrency = self.limit_concurrency, self.app, None
            self.app = self._limited(app, limit)

    def _limited(self, app: Any, limit: int) -> Any:
        async def limited(scope: Any, receive: Any, send: Any) -> None:
            # uvicorn's own test, made before the request's task was added (here it is among them)
            if scope.get("type") == "http" and (len(self.connections) >= limit or len(self.tasks) > limit):
                self._refused(f"a request was answered 503 by the server itself (past its {limit} concurrent "
                              "requests), never reaching the proxy")
                await service_unavailable(scope, receive, send)
                return
            await app(scope, receive, send)

        return limited

    def _refused(self, what: str) -> None:
        if self.on_refused is not None:
            self.on_refused(what)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        if len(self.connections) > self.max_connections:
            self._refused(f"a connection over the cap of {self.max_connections} open connections was closed at once "
                          "(a request on it never reached the proxy)")
            transport.close()  # over the cap: refused before it can hold anything
            return
        self._arm_deadline()

    def _arm_deadline(self) -> None:
        self._deadline = self.loop.call_later(self.request_timeout, self._request_overdue)

    def _request_overdue(self) -> None:
        """Close the connection if the request (head and body) has still not arrived in full."""
        if not self.transport.is_closing() and not self._arrived():
            if self._begun():  # (an idle connection closed is no request refused)
                self._refused(f"a request that had not arrived in full within {self.request_timeout:g} s was closed "
                              "by the server, never reaching the proxy")
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self._refused(f"a request was answered 400 by the server itself ({msg}), never reaching the proxy")
        super().send_400_response(msg)  # type: ignore[misc]

    def _arrived(self) -> bool:
        raise NotImplementedError

    def _begun(self) -> bool:
        """Whether some of the request the connection waits for has arrived (an idle connection has none)."""
        raise NotImplementedError

    def on_response_complete(self) -> None:
        self._deadline.cancel()
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm_deadline()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
        super().connection_lost(exc)  # type: ignore[misc]

    def _unsupported_upgrade_warning(self) -> None:
        """Silent: an upgrade not taken is no fault of the client's (the request is served as an ordinary one), and
        uvicorn's advice to install a websocket library does not apply: the toolkit's servers take none."""


class BoundedH11Protocol(_Bounded, H11Protocol):
    """uvicorn's h11 protocol (pure Python) with a deadline per request and a cap on open connections.

    The head's size is bounded by h11 itself (`h11_max_incomplete_event_size`).
    """

    def _arrived(self) -> bool:
        return self.conn.their_state not in (h11.IDLE, h11.SEND_BODY)

    def _begun(self) -> bool:
        return self.conn.their_state == h11.SEND_BODY or bool(self.conn.trailing_data[0])


def _bodiless_ends(cycle: Any) -> Any:
    """uvicorn's httptools cycle's `send`, told that a 204 or 304 has no body whatever its Content-Length says (RFC 9110
    §6.4.1; a 304 may carry the length its 200 would have, §8.6): uvicorn counts the length down to the end, so such
    an answer (a proxy forwarding the upstream's) never completed: "ASGI callable returned without completing
    response", and the client's kept-alive connection closed. (uvicorn's h11 stack frames it right.)"""
    send = cycle.send

    async def sending(message: Any) -> None:
        await send(message)
        if message["type"] == "http.response.start" and message["status"] in (204, 304):
            cycle.expected_content_length = 0

    return sending


if _HTTPTOOLS:

    class _Refused(Exception):
        """A request the server answers 400 without running the app (raised from a parser callback)."""

    class BoundedHttpToolsProtocol(_Bounded, HttpToolsProtocol):
        """uvicorn's httptools protocol (llhttp, C) with the same bounds, and the head held to 16 KiB.

        httptools buffers a header's name and value until both are complete, with no limit of
        its own, and so a chunked body's trailers; llhttp reads a chunk-size line however long.
        So the bytes between two pieces of body are counted as they come (the head, a size line,
        the trailers): past `MAX_HEADER_BYTES` without a piece of body, the request is answered
        400 and the connection closed (what h11 does). Trailers are dropped, as h11 drops them:
        httptools reports them as headers, and uvicorn would add them to the app's.
        Requests are counted in and answered out: one arrived and not yet answered is being
        served, so the deadline leaves it be; pipelined requests count the same way.
        """

        _in = _out = _framing_bytes = 0
        _framing = True  # the bytes coming are a head, a chunk-size line or trailers, not body
        _past_head = False
        _heading = False  # a made-up head is being read (`_read_on`): its callbacks are not the request's

        def _arrived(self) -> bool:
            return self._in > self._out

        def _begun(self) -> bool:
            return self._framing_bytes > 0 or not self._framing

        def data_received(self, data: bytes) -> None:
            # The count restarts where a piece of body ends, which a read's length does not tell:
            # fed a slice at a time, the parser may run past that point by a slice, not a whole read.
            if len(data) <= _SLICE:
                self._feed(data)
                return
            view = memoryview(data)
            for start in range(0, len(data), _SLICE):
                if self.transport.is_closing() or self.transport.get_protocol() is not self:
                    return  # refused, or upgraded (the rest of the read is no longer this protocol's)
                self._feed(view[start:start + _SLICE])

        def _feed(self, data: bytes | memoryview) -> None:
            if self._framing:
                self._framing_bytes += len(data)
            self._parse(data)
            if self._framing and self._framing_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                if self._arrived():  # an earlier request's answer is owed: a 400 now would read as its answer
                    self._refused("a pipelined request's head past 16 KiB closed the connection, never reaching the proxy")
                    self.transport.close()
                else:
                    self.send_400_response("Request head too large.")

        def _parse(self, data: bytes | memoryview) -> None:
            """uvicorn's `data_received`, but for an upgrade not taken: read as an ordinary request, its body too.

            llhttp stops at the head of a request asking for an upgrade (`Connection: Upgrade` with `Upgrade: h2c`,
            as `curl --http2` sends on http://; or a websocket handshake, or CONNECT), having called the message
            complete without its body; uvicorn then runs the app with an empty body and drops the rest. Here the
            message is not completed there (`on_message_complete`), and a new parser reads on from where the head
            ended, told the request's framing (its Content-Length and Transfer-Encoding fields) by a head of its own:
            the body reaches the app, and the requests after it are read by the new parser, as h11 reads them."""
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)  # llhttp reads any buffer (a memoryview slice too)
            except httptools.HttpParserError:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            except httptools.HttpParserUpgrade as upgrade:
                if self._should_upgrade():  # a websocket handshake, and the server takes websockets (not the toolkit's)
                    self.handle_websocket_upgrade()
                    return
                self._read_on(data[upgrade.args[0]:])

        def _read_on(self, rest: bytes | memoryview) -> None:
            """Read the body of a request whose head asked for an upgrade not taken, and what follows it."""
            framing = b"".join(b"%s: %s\r\n" % (name, value) for name, value in self.headers
                               if name in (b"content-length", b"transfer-encoding"))
            parser = httptools.HttpRequestParser(self)
            with contextlib.suppress(AttributeError):  # as uvicorn sets its own (httptools >= 0.6.3)
                parser.set_dangerous_leniencies(lenient_data_after_close=True)
            version = self.parser.get_http_version().encode("ascii")
            self.parser = parser
            self._heading = True  # the made-up head's callbacks are not the request's (its end, with no body, is)
            try:
                parser.feed_data(b"POST / HTTP/%s\r\n%s\r\n" % (version, framing))
            except httptools.HttpParserError:  # framing the first parser took and this one does not: refused alike
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
                return
            finally:
                self._heading = False
            if rest:
                self._parse(rest)

        def on_message_begin(self) -> None:
            if not self._heading:
                super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            if not self._heading:
                super().on_url(url)

        def _framing_from_here(self) -> None:
            self._framing, self._framing_bytes = True, 0

        def on_header(self, name: bytes, value: bytes) -> None:
            if not self._past_head and not self._heading:  # past it, a trailer
                super().on_header(name, value)

        def on_headers_complete(self) -> None:
            if self._heading:
                return
            self._past_head = True
            coding = [value for name, value in self.headers if name == b"transfer-encoding"]
            if coding and (len(coding) > 1 or coding[0].strip(b" \t").lower() != b"chunked"):
                # h11's reading (one field, exactly `chunked`): llhttp takes `gzip, chunked`, undoes the chunks and
                # hands the app the gzip bytes as the body, with no word of their coding
                raise _Refused("a Transfer-Encoding other than chunked")
            self._framing_from_here()  # a chunk-size line may follow
            cycle = self.cycle
            super().on_headers_complete()
            if self.cycle is not cycle and self.cycle is not None:
                self.cycle.send = _bodiless_ends(self.cycle)  # type: ignore[method-assign]
            if self.url[:1] not in (b"/", b"") and "raw_path" in self.scope:
                # uvicorn keeps only the path of an absolute-form target (`GET http://evil.example/x`): the
                # authority is put back, as h11 gives it, so an app can refuse a target naming another host
                self.scope["raw_path"] = bytes(self.url).partition(b"?")[0]
            if b"#" in self.url and "raw_path" in self.scope:
                # llhttp reads `#frag` as a fragment and uvicorn drops it (`/v1/sending#frag` served as `/v1/sending`);
                # h11 hands the target on as sent. Read as h11 reads it (path before `?`, the rest the query, the
                # fragment kept), so the app decides alike on both stacks: the proxy refuses a fragment (pass X1, F4)
                raw_path, _, query = bytes(self.url).partition(b"?")
                self.scope["raw_path"] = self.root_path.encode("ascii") + raw_path
                self.scope["path"] = self.root_path + unquote(raw_path.decode("ascii", "surrogateescape"))
                self.scope["query_string"] = query

        def on_body(self, body: bytes) -> None:
            self._framing = False
            super().on_body(body)

        def on_chunk_header(self) -> None:  # the chunk's data follows, or the trailers after the last
            self._framing_from_here()

        def on_chunk_complete(self) -> None:  # the next chunk-size line follows
            self._framing_from_here()

        def on_message_complete(self) -> None:
            if self.parser.should_upgrade() and not self._should_upgrade():
                return  # llhttp's end of a head asking for an upgrade, before its body: the body is read on (`_read_on`)
            self._in += 1
            self._past_head = False
            self._framing_from_here()  # the next request's head
            super().on_message_complete()

        def on_response_complete(self) -> None:
            self._out += 1
            super().on_response_complete()

    PROTOCOLS: dict[str, type[Any]] = {"httptools": BoundedHttpToolsProtocol, "h11": BoundedH11Protocol}
else:  # pragma: no cover - httptools is a dependency on CPython; elsewhere the pure-Python protocol serves
    PROTOCOLS = {"h11": BoundedH11Protocol}

DEFAULT_STACK = next(iter(PROTOCOLS))


def bounded_protocol(request_timeout: float, max_connections: int, stack: str = DEFAULT_STACK,
                     on_refused: Callable[[str], None] | None = None) -> type[Any]:
    """A protocol class with these bounds (uvicorn instantiates the class itself).

    `stack`: "httptools" (the default where it is installed: ~2× the requests a second) or "h11". `on_refused`: told
    of each request the server refuses on its own (`_Bounded.on_refused`).
    """
    base = PROTOCOLS[stack]
    return type(base.__name__, (base,), {"request_timeout": request_timeout, "max_connections": max_connections,
                                         "on_refused": staticmethod(on_refused) if on_refused is not None else None})


def stack_description(stack: str = DEFAULT_STACK) -> str:
    """What serves: the parser and the event loop uvicorn picks ("auto": uvloop where installed)."""
    import importlib.util

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn, bounded {stack} protocol, {loop} loop"


def server_config(
    app: Any,
    *,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    stack: str = DEFAULT_STACK,
    on_refused: Callable[[str], None] | None = None,
    **uvicorn_options: Any,
) -> uvicorn.Config:
    """uvicorn's configuration for the toolkit's servers: quiet, and bounded as the module says; `on_refused` is told
    of each request the server refuses on its own (the app never sees it); by default the app's own
    `on_server_refused`, where it has one (the proxy registers so)."""
    if on_refused is None:
        on_refused = getattr(app, "on_server_refused", None)
    options: dict[str, Any] = {
        "log_level": "warning", "lifespan": "off", "access_log": False,
        "http": bounded_protocol(request_timeout, max_connections, stack, on_refused),
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "limit_concurrency": max_connections + 1,  # past it (tasks piling up), uvicorn answers 503
        "ws": "none",  # no upgrade is taken (with a websocket library installed too): a request asking one is ordinary
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
