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
request reaches another host. Under an upstream named with a path (`http://staging/api`), a
target with a `.` or `..` segment (plain or percent-encoded) is a 400: it could leave that path.
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
import re
import time
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import anyio
import httpx

from migma_contract.core.untrusted import clean_text
from migma_contract.traffic.tally import FRAMING_HEADERS, ObservedExchange, TrafficJudge, is_send
from migma_contract.wire.boundary import foreign_request, read_capped
from migma_contract.wire.client import inflate

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
# connection cap (256) this bounds what bodies in flight can hold (256 MiB, not 4 GiB).
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
                judge.remember([password, f"{user}:{password}", self._basic.decode()])
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
        why = foreign_request(scope["headers"], local_origins=True)
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
        if self._base_path and _climbs(raw):
            raise _Refused(400, "the request target holds a dot segment (. or ..): under an upstream with a base path "
                                "it could leave that path")
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
        status: int | None = None
        headers: list[tuple[str, str]] = []
        kept: list[bytes] = []
        size = 0
        error: str | None = None
        timed_out = False
        began = False
        failure: str | None = None
        try:
            client = self._http(scope)
            request = client.build_request(method, url, headers=forwarded, content=body)
            names = {k.lower() for k, _ in forwarded}
            for name in list(request.headers.raw):  # the client's own defaults (User-Agent, Accept-Encoding…) are not added
                if name[0].lower() not in names and name[0].lower() not in (b"host", b"content-length"):
                    del request.headers[name[0].decode("latin-1")]
            with anyio.fail_after(self.timeout):
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
                    await send({"type": "http.response.start", "status": status, "headers": passed})
                    began = True
                    async for raw in response.aiter_raw():
                        size += len(raw)
                        if judged and size <= self.max_response_bytes:
                            kept.append(raw)
                        await send({"type": "http.response.body", "body": raw, "more_body": True})
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            timed_out, error = True, f"no complete answer from the upstream within {self.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc or 'the upstream failed'}"
        except Exception as exc:  # the proxy's own failure: a 502 and a note, never a crash that hides the upstream's answer
            failure = type(exc).__name__
        elapsed = time.perf_counter() - started
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
        if began:
            with contextlib.suppress(Exception):  # the client left: nothing more to tell it
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif failure is None:
            await self._own_answer(send, 504 if timed_out else 502, str(error))
        if not judged or self.judge is None or (failure is not None and status is None):
            if self.judge is not None:
                self.judge.skip()
            return
        if failure is not None:  # the upstream's status is known; its body is not whole
            size = max(size, self.max_response_bytes + 1)
        complete = error is None and size <= self.max_response_bytes
        encoding = next((v.strip().lower() for k, v in headers if k.lower() == "content-encoding"), "")
        answer = inflate(b"".join(kept), encoding, self.max_response_bytes) if complete else None
        self._later(ObservedExchange(
            method=method, url=shown_url, request_headers=given, request_body=body,
            status=status if error is None else None, response_headers=headers, response_body=answer,
            elapsed=elapsed, error=error, timed_out=timed_out, where=f"proxy exchange {self.exchanges}", response_size=size,
        ))
