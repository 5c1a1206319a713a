"""A loopback reverse proxy that judges the traffic passing through it.

`TrafficProxy` is an ASGI app (served by uvicorn like the mock): every request is forwarded
to the upstream unchanged (method, path, query, headers but the hop-by-hop ones, body) and
the upstream's answer is returned unchanged (status, headers, raw bytes, compressed or
not), streamed through as it arrives. POST /v1/sending exchanges are then handed to a
`TrafficJudge`; the others are counted. The upstream is bounded like a check's target:
no answer within the timeout is a 504 to the client and a responds-in-time finding, a
connection that fails is a 502 and a no-server-error finding.

It is a way in like the mock, held to the same boundary: served on the bounded server
configuration (`wire.serve.server_config`: trailers never become headers), a foreign Host
or a web page of another origin is refused 403 (`wire.boundary.foreign_request`; pages on
localhost are let through), and the body is read through the one capped reader (413 past
`max_request_bytes`, nothing forwarded).

The request target must be origin-form (`/path?query`); absolute-form only naming the
upstream's own authority. `*`, `*@host/...` and any other form are a 400: the URL sent to is
built from the upstream's parts and the request's path, never by joining text, so no
request reaches another host. A target with a `.` or `..` segment (plain or percent-encoded) is a
400: resolved after it was judged, the path forwarded would not be the path judged, and it could
leave the path of an upstream named with one (`http://staging/api`).
Connection-level headers (RFC 9110 §7.6.1), and every header
the request's `Connection` names, are dropped both ways; every other header passes as the
bytes it was, whatever its encoding.

Credentials in the upstream URL (`http://user:password@staging...`) are sent as
`Authorization: Basic` only on a request that carries no `Authorization` of its own: a
client's own header is forwarded unchanged. They are never written anywhere (the judge's
redactor knows them). A failure of the proxy itself is a 502 and a note in the report,
never a crash that hides the upstream's answer.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import time
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import anyio
import httpx

from migma_contract.core.untrusted import clean_text
from migma_contract.traffic.tally import FRAMING_HEADERS, ObservedExchange, TrafficJudge, is_send
from migma_contract.wire.boundary import foreign_request, read_capped
from migma_contract.wire.coding import Broken, Unknown, codings_of, decode

__all__ = ["HOP_BY_HOP", "TrafficProxy", "sendable_headers"]

# RFC 9110 §7.6.1: connection-specific fields a proxy must not forward.
HOP_BY_HOP = FRAMING_HEADERS - {"host", "content-length"}


# httpcore's pool scans every connection for every request it places, so one client for
# all concurrent requests slows down as they grow (50 at once: about 4x slower per request,
# measured). Each client connection is pinned to one of a few upstream clients instead.
SHARDS = 32

_ABSOLUTE = re.compile(rb"\A([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)\Z", re.S)



def _climbs(raw_path: bytes) -> bool:
    """Whether a path holds a `.` or `..` segment, written plainly or percent-encoded, between `/` or `\\`."""
    segments = unquote_to_bytes(raw_path.split(b"?", 1)[0]).replace(b"\\", b"/").split(b"/")
    return any(segment in (b".", b"..") for segment in segments)


class _ClientStalled(Exception):
    """The client took no part of the answer for a whole timeout."""


class _Refused(Exception):
    """A request the proxy answers itself, with this status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def connection_headers(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The names a proxy drops: the hop-by-hop ones, and each name a `Connection` header lists."""
    named = {token.strip().lower() for name, value in headers if name.lower() == b"connection" for token in value.split(b",")}
    return frozenset({name.encode() for name in HOP_BY_HOP} | named) - {b""}


# What every server stack the proxy runs on can send (uvicorn's h11 and httptools): a token for a name,
# and a value without control characters but the tab. Anything else makes the server refuse the whole answer.
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+\Z")
_UNSENDABLE_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def sendable_headers(headers: list[tuple[bytes, bytes]]) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """The headers a server may send as they are, and the names (cleaned, quoted) of those it may not."""
    passed: list[tuple[bytes, bytes]] = []
    dropped: list[str] = []
    for name, value in headers:
        if _TOKEN.match(name) and not _UNSENDABLE_VALUE.search(value):
            passed.append((name, value))
        else:
            dropped.append(repr(clean_text(name[:64].decode("latin-1").lower())))
    return passed, dropped


# A request body is held whole before it is forwarded (and judged); past this many bytes the
# proxy answers 413 itself and forwards nothing. A send request is a few kilobytes; with the
# connection cap (256) this bounds the request bodies in flight (256 MiB, not 4 GiB); with the answers kept
# for judging (`max_response_bytes`, 1 MiB each) what a full proxy holds is about 512 MiB (measured: 554 MB RSS).
MAX_REQUEST_BYTES = 1 << 20


class TrafficProxy:
    """Forwards everything to `upstream` unchanged; judges POST /v1/sending on the way back.

    With `judge=None` it only forwards (the benchmarks' baseline). `max_response_bytes`
    bounds what is kept for judging, not what is forwarded; `max_request_bytes` bounds the
    request bodies it holds (a larger one is answered 413 by the proxy, not forwarded).
    """

    def __init__(self, upstream: str, judge: TrafficJudge | None, *, timeout: float = 10.0, verify_tls: bool = True,
                 max_response_bytes: int = 1 << 20, max_request_bytes: int = MAX_REQUEST_BYTES) -> None:
        parts = urlsplit(upstream)
        self._base = httpx.URL(scheme=parts.scheme, host=parts.hostname or "", port=parts.port)
        self._base_path = parts.path.rstrip("/").encode("ascii", errors="strict") if parts.path.isascii() else b""
        self._authority = (parts.netloc.rsplit("@", 1)[-1]).lower().encode()
        self._basic: bytes | None = None
        if parts.username is not None or parts.password is not None:
            user, password = unquote(parts.username or ""), unquote(parts.password or "")
            self._basic = b"Basic " + base64.b64encode(f"{user}:{password}".encode())
            if judge is not None:
                # the user name too: `https://<token>@staging` carries its secret there, with no password
                judge.remember([user, password, f"{user}:{password}", self._basic.decode()])
        self.upstream = str(self._base).rstrip("/") + parts.path.rstrip("/")  # without the credentials
        self.judge = judge
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.max_response_bytes = max_response_bytes
        self.max_request_bytes = max_request_bytes
        self.exchanges = 0
        self._clients: list[httpx.AsyncClient | None] = [None] * SHARDS
        self._tls: Any = None

    async def aclose(self) -> None:
        clients, self._clients = self._clients, [None] * SHARDS
        for client in clients:
            if client is not None:
                await client.aclose()

    def _http(self, scope: dict[str, Any]) -> httpx.AsyncClient:
        """The upstream client of this request's client connection (made in the serving loop, when first needed)."""
        shard = hash(tuple(scope.get("client") or ())) % SHARDS
        client = self._clients[shard]
        if client is None:
            if self._tls is None:  # one TLS context for every client (building one reads the CA bundle)
                self._tls = httpx.create_ssl_context() if self.verify_tls else False
            client = httpx.AsyncClient(verify=self._tls, follow_redirects=False, timeout=httpx.Timeout(self.timeout),
                                       limits=httpx.Limits(max_connections=64, max_keepalive_connections=8))
            self._clients[shard] = client
        return client

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return  # websockets are not proxied
        why = foreign_request(scope["headers"], local_origins=True, dotless_hosts=False)  # it listens on loopback only
        if why is not None:
            await self._own_answer(send, 403, f"this proxy {why} (it forwards with the upstream's credentials)")
            if self.judge is not None:
                self.judge.note(f"a {scope['method']} request from elsewhere was refused 403 (a foreign Host or Origin)")
            return
        read = await read_capped(receive, self.max_request_bytes)
        if read.disconnected:
            return
        if read.content is None:
            await self._own_answer(send, 413, f"the request body is over {self.max_request_bytes:,} bytes; not forwarded")
            if self.judge is not None:
                self.judge.note(f"a {scope['method']} request over {self.max_request_bytes:,} bytes was answered 413 by the "
                                "proxy and not forwarded (not judged)")
            return
        try:
            await self._forward(scope, read.content, send)
        except _Refused as refused:
            await self._own_answer(send, refused.status, refused.message)

    def _url(self, scope: dict[str, Any]) -> httpx.URL:
        """The upstream URL of this request, built from parts: the upstream's scheme, host and port, the request's path."""
        raw = scope.get("raw_path") or scope["path"].encode("utf-8", errors="surrogateescape")
        absolute = _ABSOLUTE.match(raw)
        if absolute is not None:  # absolute-form: only to the upstream itself
            if absolute.group(2).lower().rsplit(b"@", 1)[-1] != self._authority or b"@" in absolute.group(2):
                raise _Refused(400, "the request target names another host; this proxy forwards only to its upstream "
                                    "(use origin-form: /path?query)")
            raw = absolute.group(3) or b"/"
        if not raw.startswith(b"/"):
            raise _Refused(400, "the request target must be a path (origin-form: /path?query)")
        if _climbs(raw):  # the path judged must be the path forwarded, and stay under the upstream's own path
            raise _Refused(400, "the request target holds a dot segment (. or ..), which would be resolved after it "
                                "was judged; send the path itself")
        query = scope.get("query_string") or b""
        try:
            return self._base.copy_with(raw_path=self._base_path + raw + (b"?" + query if query else b""))
        except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
            raise _Refused(400, f"the request target is not a usable path ({type(exc).__name__})") from None

    @staticmethod
    async def _own_answer(send: Any, status: int, message: str) -> None:
        """An answer of the proxy's own (the upstream never saw the request, or never answered)."""
        payload = json.dumps({"success": False, "error": f"migma-contract proxy: {message}"}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    def _later(self, exchange: ObservedExchange) -> None:
        """Judge once the answer is out, on the next turn of the loop: the client does not wait for it."""
        assert self.judge is not None
        judge = self.judge

        judge.observe_later(lambda: exchange)  # off the event loop: judging never holds up a client

    async def _forward(self, scope: dict[str, Any], body: bytes, send: Any) -> None:
        url = self._url(scope)
        self.exchanges += 1
        method = scope["method"]
        raw_headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        dropped = connection_headers(raw_headers) | {b"host", b"content-length"}
        forwarded = [(k, v) for k, v in raw_headers if k.lower() not in dropped]
        if self._basic is not None and not any(k.lower() == b"authorization" for k, _ in forwarded):
            forwarded.append((b"authorization", self._basic))  # the upstream's credentials, where the client sent none
        given = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers]
        judged = self.judge is not None and is_send(method, scope["path"])
        shown_url = str(url)
        started = time.perf_counter()
        client_wait = 0.0  # time spent waiting for the client to take the answer: not the upstream's
        status: int | None = None
        headers: list[tuple[str, str]] = []
        kept: list[bytes] = []
        size = 0
        error: str | None = None
        timed_out = False
        stalled = False
        began = False
        failure: str | None = None
        unforwardable = False
        try:
            client = self._http(scope)
            request = client.build_request(method, url, headers=forwarded, content=body)
            names = {k.lower() for k, _ in forwarded}
            for name in list(request.headers.raw):  # the client's own defaults (User-Agent, Accept-Encoding…) are not added
                if name[0].lower() not in names and name[0].lower() not in (b"host", b"content-length"):
                    del request.headers[name[0].decode("latin-1")]
            with anyio.fail_after(self.timeout) as deadline:

                async def to_client(message: dict[str, Any]) -> None:
                    """A part of the answer to the client; the upstream's deadline does not run while the client reads."""
                    nonlocal client_wait
                    waited, upstream_deadline = time.perf_counter(), deadline.deadline
                    deadline.deadline = math.inf
                    with anyio.move_on_after(self.timeout) as reading:
                        await send(message)
                    spent = time.perf_counter() - waited
                    client_wait += spent
                    deadline.deadline = upstream_deadline + spent
                    if reading.cancelled_caught:
                        raise _ClientStalled()

                response = await client.send(request, stream=True)
                try:
                    status = response.status_code
                    answered = list(response.headers.raw)
                    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in answered]
                    hop = connection_headers(answered)
                    passed, unsendable = sendable_headers([(k, v) for k, v in answered if k.lower() not in hop])
                    if unsendable and self.judge is not None:
                        self.judge.note(f"proxy exchange {self.exchanges}: the upstream's header(s) {', '.join(unsendable)} held "
                                        "bytes no HTTP server may send (control characters): dropped from the answer to the "
                                        "client, judged as received")
                    unforwardable = not 100 <= status <= 599  # no HTTP server (nor client) takes it: judged, answered 502
                    if not unforwardable:
                        began = True
                        await to_client({"type": "http.response.start", "status": status, "headers": passed})
                    async for raw in response.aiter_raw():
                        size += len(raw)
                        if judged and size <= self.max_response_bytes:
                            kept.append(raw)
                        if not unforwardable:
                            await to_client({"type": "http.response.body", "body": raw, "more_body": True})
                finally:
                    await response.aclose()
        except _ClientStalled:
            stalled = True
        except (TimeoutError, httpx.TimeoutException):
            timed_out, error = True, f"no complete answer from the upstream within {self.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc or 'the upstream failed'}"
        except Exception as exc:  # the proxy's own failure: a 502 and a note, never a crash that hides the upstream's answer
            failure = type(exc).__name__
        elapsed = time.perf_counter() - started - client_wait
        if failure is not None:
            told = "with what had arrived" if began else "502"
            if not began:
                try:
                    await self._own_answer(send, 502, f"the proxy failed ({failure}); see its report")
                except Exception:  # the server took the failed answer as begun: it can only close the connection
                    told = "nothing (the connection was closed)"
            if self.judge is not None:
                self.judge.note(f"proxy exchange {self.exchanges}: the proxy itself failed ({failure}); the client was answered "
                                f"{told} (please report it)")
        if began and not stalled:
            with contextlib.suppress(Exception):  # the client left: nothing more to tell it
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif failure is None and not stalled:
            await self._own_answer(send, 504 if timed_out else 502,
                                   str(error or f"the upstream answered status {status}, which is no HTTP status"))
        if not judged or self.judge is None or (failure is not None and status is None):
            if self.judge is not None:
                self.judge.skip()
            return
        where = f"proxy exchange {self.exchanges}"
        if stalled:
            self.judge.pass_unjudged(f"{where}: the client stopped taking the answer for {self.timeout:g} s (not the "
                                     "upstream's doing): not judged")
            return
        answer, unread, broken = None, None, False
        if failure is not None:
            unread = "the proxy failed while forwarding the answer"
        elif error is None:
            answer, unread, broken = self._decoded(headers, kept, size)
            if broken:
                error, unread = unread, None
        self._later(ObservedExchange(
            method=method, url=shown_url, request_headers=given, request_body=body,
            status=status if error is None or broken else None, response_headers=headers, response_body=answer,
            elapsed=elapsed, error=error, timed_out=timed_out, where=where, response_size=size, unread=unread,
        ))

    def _decoded(self, headers: list[tuple[str, str]], kept: list[bytes], size: int) -> tuple[bytes | None, str | None, bool]:
        """(the answer's body as its client reads it, why it was not read, whether it is broken) within the cap."""
        cap = self.max_response_bytes
        if size > cap:
            return None, f"its answer is over {cap:,} bytes", False
        try:
            answer = decode(b"".join(kept), codings_of(v for k, v in headers if k.lower() == "content-encoding"), cap)
        except Unknown as exc:
            return None, f"its answer's Content-Encoding ({exc}) is one the toolkit cannot decode", False
        except Broken as exc:
            return None, f"the answer's body is not what its Content-Encoding says ({exc})", True
        return (answer, None, False) if answer is not None else (None, f"its answer decodes to over {cap:,} bytes", False)
