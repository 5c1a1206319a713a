"""A loopback reverse proxy that judges the traffic passing through it.

`TrafficProxy` is an ASGI app (served by uvicorn like the mock): every request is forwarded
to the upstream unchanged (method, path, query, headers but the hop-by-hop ones, body) and
the upstream's answer is returned unchanged (status, headers, raw bytes, compressed or
not), streamed through as it arrives. POST /v1/sending exchanges are then handed to a
`TrafficJudge`; the others are counted. The upstream is bounded like a check's target:
no answer within the timeout is a 504 to the client and a responds-in-time finding (an answer the proxy read only
after its deadline, its loop held up: judged in part, never green, never blamed), a
connection that fails is a 502 and a no-server-error finding (the 502 quotes none of the upstream's bytes).

"Unchanged" is the status code (ASGI carries no reason phrase: the client reads the server's, `200 OK` for an
upstream's `200 Queued`). An answer begun that cannot be completed (the upstream cut it off or stalled, the client
stopped reading, the proxy failed) is aborted, never ended as if whole: `AnswerCutOff` closes the client's connection
mid-answer, so it reads an incomplete answer, as it would from the upstream.

It is a way in like the mock, held to the same boundary: served on the bounded server
configuration (`wire.serve.server_config`: trailers never become headers), a foreign Host
or a web page of another origin is refused 403 (`wire.boundary.foreign_request`; pages on
localhost are let through), and the body is read through the one capped reader (413 past
`max_request_bytes`, nothing forwarded). A request whose body its server stack may not have
handed on as the client framed it (`core.fields.request_framing_unread`: a Transfer-Encoding
other than chunked, which the toolkit's servers refuse already; a body of another length than
its Content-Length) is a 400, nothing forwarded, a send among them passed unjudged: never the
client's fault, and never another body sent on with the upstream's credentials. An Upgrade
request (`curl --http2` over http) is forwarded, body and all, without the upgrade: the
toolkit's servers read it whole (`wire.serve`), where uvicorn's own httptools protocol drops
its body.

The request target must be origin-form (`/path?query`); absolute-form only naming the
upstream's own authority. `*`, `*@host/...` and any other form are a 400: the URL sent to is
built from the upstream's parts and the request's path, never by joining text, so no
request reaches another host. A target with a `.` or `..` segment (plain or percent-encoded) is a
400: resolved after it was judged, the path forwarded would not be the path judged, and it could
leave the path of an upstream named with one (`http://staging/api`); so is a path servers decode
differently (`%u002e`, overlong or other non-UTF-8 escapes such as `%c0%ae`, a NUL). The upstream URL names the
API's root as every way in reads it (`wire.urls.api_root`: `http://staging/v1` is `http://staging`); its own path is
forwarded to percent-encoded as httpx writes it (`/tenant-é` is `/tenant-%C3%A9`, `[ ] | ^` as written); one that cannot
be made exact (a query, a dot segment...) is a `ConfigError` at start.

Every request's credentials (any path, any method, forwarded or refused) are learned by the judge before anything about
its exchange can be written (`_learn`), and every note about the exchange is masked with them (`note(own=)`); a request
refused at the door (a foreign Host or Origin: any web page can send them) is not learned, and its note quotes nothing of
it. Repeated refusals are one note, counted; notes that explain nothing of the verdict are kept apart (`aside`). A send answered as no endpoint answers (`judge.verdict.no_endpoint`: a redirect,
404, 405, a 4xx HTML page; `check`'s configuration error) passes unjudged, naming --upstream. What the server stack refuses
before the app runs reaches the judge through `on_server_refused` (`wire.serve`), each one passed unjudged.
Connection-level headers (RFC 9110 §7.6.1), and every header
the message's `Connection` names, are dropped both ways (and an answer's Content-Length beside its chunks:
RFC 9112 §6.3); the answer is judged as a direct client reads it all the same (httpx ignores Connection's list), and a
Content-* field the upstream's Connection names (its client then reads another answer: a gzip body unlabelled) is noted; every other header passes as the bytes it was, whatever its encoding, an answer's values
trimmed of the SP and HTAB around them (no part of the value, RFC 9110 §5.5; h11 would refuse to send them).
The upstream's answer is read as httpx reads it (`wire.upstream`): what a client reads directly reaches the
client through the proxy, what none reads is a 502 and a finding saying so. An answer of no length to an
HTTP/1.0 client (which has no chunked coding) is held, within `max_response_bytes`, and sent with its length;
a longer one is a 502 and a note. The judge reads the very header lists written: the request's
as the upstream received them, the answer's as the client did (a header dropped is judged absent), but for the names the
answer's Connection lists, judged as a direct client reads them.
TRACE and TRACK are refused 405: their answer would echo the credentials the proxy adds; so is a request naming one by
any override carrier a framework honours (`judge.overrides`, the list the judge reads: an override header, `_method` in
the query, a form field or a JSON member). CONNECT is refused 405 too: the proxy opens no tunnel.

Credentials in the upstream URL (`http://user:password@staging...`) are sent as
`Authorization: Basic` only on a request that carries no `Authorization` of its own: a
client's own header is forwarded unchanged. They are never written anywhere (the judge's
redactor knows them). A failure of the proxy itself is a 502 and a note in the report,
never a crash that hides the upstream's answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Iterator
from itertools import chain
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

import httpx

from migma_contract.contract.catalogue import RESPONDS_IN_TIME
from migma_contract.core.exceptions import ConfigError
from migma_contract.core.fields import OWS, request_framing_unread, shown_name, writable
from migma_contract.core.flags import flag
from migma_contract.core.redact import Redactor, url_credentials
from migma_contract.core.untrusted import clean_text
from migma_contract.judge.overrides import asked_methods
from migma_contract.judge.verdict import ENVELOPE_BYTES, no_endpoint
from migma_contract.traffic.tally import (
    FRAMING_HEADERS,
    MAY_ROUTE,
    OTHER,
    SEND,
    ObservedExchange,
    TrafficJudge,
    cut_at_a_separator,
    odd_escape,
    route_of,
)
from migma_contract.traffic.timing import ServerTime
from migma_contract.wire.boundary import foreign_request, read_capped
from migma_contract.wire.coding import Broken, Differs, Unknown, codings_of, decoded
from migma_contract.wire.upstream import UpstreamError, UpstreamPool
from migma_contract.wire.urls import api_root, usable_url

__all__ = ["HOP_BY_HOP", "AnswerCutOff", "TrafficProxy", "sendable_headers", "upstream_url"]

# RFC 9110 §7.6.1: connection-specific fields a proxy must not forward.
HOP_BY_HOP = FRAMING_HEADERS - {"host", "content-length"}
_HOP = frozenset(name.encode() for name in HOP_BY_HOP)
_HELD_APART = 1024  # what an exchange waiting to be judged holds besides its bodies (headers, the URL), about
_NOT_FORWARDED = _HOP | {b"host", b"content-length"}  # the proxy writes its own Host and Content-Length


def _meaning(name: bytes) -> bool:
    """Whether an answer's field says how its body is framed or what it is (Content-Type, Content-Encoding, Content-Length,
    any Content-*): dropped because the upstream's Connection names it, the client through the proxy reads another answer
    than a direct client does."""
    return name.lower().startswith(b"content-")


_ABSOLUTE = re.compile(rb"\A([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)\Z", re.S)
_TARGET = re.compile(rb"/[\x21-\x22\x24-\x7e]*\Z")  # visible ASCII but "#": what a request line may carry
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


_DOT_SEGMENT = "a dot segment (. or ..), which would be resolved after it was judged"
_ODD_ESCAPE = ("an escape servers decode differently (%uXXXX, percent-encoded bytes that are not UTF-8 such as an "
               "overlong %c0%ae, or a NUL), which some read as . or / or as the path's end")


def _path_problem(raw_path: bytes) -> str | None:
    """What makes a path read differently by different servers (None: nothing): a `.` or `..` segment between `/` or
    `\\`, or an escape some servers decode to `.` or `/` (`%u002e`, overlong or other invalid UTF-8).

    Written plainly or percent-encoded, once or more (a server that decodes twice reads `%252e%252e` as `..`),
    and with path parameters (`..;x`: Tomcat and Spring read it as `..`).
    """
    path = raw_path.split(b"?", 1)[0]
    if b"." not in path and b"%" not in path and path.isascii():  # the common case, told without decoding
        return None
    for _ in range(4):
        segments = path.replace(b"\\", b"/").split(b"/")
        if any(segment.split(b";", 1)[0] in (b".", b"..") for segment in segments):
            return _DOT_SEGMENT
        if odd_escape(path):
            return _ODD_ESCAPE
        decoded = unquote_to_bytes(path)
        if decoded == path:
            return None
        path = decoded
    return _DOT_SEGMENT  # still encoded after three decodings: no client means that


# RFC 3986's path characters (pchar and "/"), and `[ ] | ^`, which httpx sends as written (WHATWG's path set); each
# other byte percent-encoded
_EXACT_PATH = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/\[\]|^]|%[0-9A-Fa-f]{2})*\Z")


class _UpstreamParts:
    """The upstream URL read into what the proxy uses: scheme, host and port; its path, percent-encoded; its
    credentials. A URL whose path cannot be forwarded exactly as written is a `ConfigError` (exit 2)."""

    def __init__(self, upstream: str) -> None:
        upstream = usable_url(upstream)  # an IPv6 zone's %25 decoded: connected to as the lookup reads it
        parts = urlsplit(upstream)
        if not (parts.query or parts.fragment):  # the API's root as every way in reads it: `http://staging/v1` is `http://staging`
            parts = urlsplit(api_root(upstream))
        if parts.query or parts.fragment:
            raise ConfigError(f"{flag('--upstream')}: the upstream URL may not carry a query (?...) or fragment (#...); each "
                              "request's own query is forwarded")
        # as httpx writes a URL's path (`check --base-url`): /tenant-é is /tenant-%C3%A9, `[ ] | ^` kept as written
        path = quote(parts.path.rstrip("/"), safe="/%!$&'()*+,;=:@~[]|^")
        if "\\" in parts.path or not _EXACT_PATH.match(path):
            raise ConfigError(f"{flag('--upstream')}: the upstream URL's path holds a backslash or a % that is no percent-escape; "
                              "give it percent-encoded")
        why = _path_problem(path.encode("ascii"))
        if why is not None:
            raise ConfigError(f"{flag('--upstream')}: the upstream URL's path holds {why}; give the path it means")
        self.base = httpx.URL(scheme=parts.scheme, host=parts.hostname or "", port=parts.port)
        self.path = path.encode("ascii")
        self.authority = (parts.netloc.rsplit("@", 1)[-1]).lower().encode()
        self.username, self.password = parts.username, parts.password
        self.shown = str(self.base).rstrip("/")  # without the credentials
        self.url = self.shown + path


def upstream_url(upstream: str) -> str:
    """The URL the proxy forwards to (without credentials; its path percent-encoded), as requests reach it; a
    `ConfigError` for one it cannot forward to exactly as written."""
    return _UpstreamParts(upstream).url


# Methods whose answer echoes the request (RFC 9110 §9.3.8 TRACE; TRACK, IIS's): with the upstream's credentials the
# proxy adds, to whoever asked. Refused by name in any case, and by every override carrier some framework honours (the
# one list the judge reads, `judge.overrides`: the override headers, `_method` in the query, a form field, a JSON member).
_ECHOING = frozenset({"TRACE", "TRACK"})
# CONNECT asks for a tunnel (RFC 9110 §9.3.6, its target authority-form): the proxy opens none, and forwarded as a request
# its answer would read as a tunnel's start to a client (h11 reads a 2xx to CONNECT so): refused, never forwarded.
_TUNNEL = "CONNECT"
_ALLOW = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


def _echoing_method(scope: dict[str, Any], body: bytes | None = None) -> str | None:
    """The echoing method a request asks for (TRACE, TRACK), by its method or an override carrier (`asked_methods`: the
    headers and the query; with `body`, its form fields and JSON members too), in any case; None: none."""
    asked = [str(scope.get("method", ""))]
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    query = (scope.get("query_string") or b"").decode("latin-1")
    content_type = next((value.decode("latin-1") for name, value in headers if name == b"content-type"), None)
    asked += asked_methods(headers, "?" + query if query else "", body, content_type=content_type,
                           headers_too=body is None)
    return next((method for method in (a.strip(" \t").upper() for a in asked) if method in _ECHOING), None)


def _length_and_coding(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request's head gives both a Content-Length and a Transfer-Encoding."""
    names = {name.lower() for name, _ in headers}
    return b"content-length" in names and b"transfer-encoding" in names


class AnswerCutOff(Exception):
    """Raised from the app when an answer begun cannot be completed: the server (uvicorn, either stack) then closes the
    client's connection mid-answer, without a last chunk, so the client reads an incomplete answer, as it would from
    the upstream. ASGI has no other way to abort a response; uvicorn logs such an exception, and `_QuietCutOff` drops
    that one record (nothing went wrong in the proxy)."""


class _QuietCutOff(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], AnswerCutOff))


_QUIET_CUT_OFF = _QuietCutOff()


class _Refused(Exception):
    """A request the proxy answers itself, with this status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def connection_headers(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The names a proxy drops: the hop-by-hop ones, and each name a `Connection` header lists."""
    named = {token.strip().lower() for name, value in headers if name.lower() == b"connection" for token in value.split(b",")}
    return (_HOP | named) - {b""} if named else _HOP


# What every server stack the proxy runs on can send (uvicorn's h11 and httptools): a token for a name,
# and a value without control characters but the tab, and without SP or HTAB at either end (h11 refuses
# those; RFC 9110 §5.5: they are no part of the value, a recipient strips them). Anything else makes the
# server refuse the whole answer.
_OWS = OWS.encode()


def sendable_headers(headers: list[tuple[bytes, bytes]]) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """The headers a server may send, each value trimmed of the whitespace around it (as every reader trims it), and
    the names (cleaned, quoted) of those it may not send."""
    passed: list[tuple[bytes, bytes]] = []
    dropped: list[str] = []
    for name, value in headers:
        if writable(name, value):  # the one reading of a writable field (core.fields), the middleware's too
            passed.append((name, value.strip(_OWS)))
        else:
            dropped.append(shown_name(name))  # (whole in its own case, or its length: Pass Z1, F1)
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
        parts = _UpstreamParts(upstream)
        self._base = parts.base
        self._base_path = parts.path
        self._authority = parts.authority
        # as httpx wrote it: no default port, IDNA, [v6], without an IPv6 zone (RFC 6874 §4: the zone is the sender's own)
        self._host = re.sub(rb"%[^\]]*\]", b"]", self._base.netloc)
        self._basic: bytes | None = None
        if parts.username is not None or parts.password is not None:
            user, password = unquote(parts.username or ""), unquote(parts.password or "")
            self._basic = b"Basic " + base64.b64encode(f"{user}:{password}".encode())
            if judge is not None:  # as a judge learns a recorded URL's userinfo (one reading: `url_credentials`)
                judge.remember([*url_credentials(upstream), self._basic.decode()])
        self._shown = parts.shown
        # what the proxy's own answers never quote (`_masked`): the upstream's credentials
        self._hidden = Redactor([*url_credentials(upstream), self._basic.decode()] if self._basic is not None else ())
        self.upstream = parts.url  # what requests reach (the path percent-encoded), without the credentials
        self.judge = judge
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.max_response_bytes = max_response_bytes
        self.max_request_bytes = max_request_bytes
        self.exchanges = 0
        self._server_refusals: set[str] = set()  # the kinds of refusal of the proxy's server said so far
        self._pool: UpstreamPool | None = None
        logging.getLogger("uvicorn.error").addFilter(_QUIET_CUT_OFF)  # (once: a logger holds a filter once)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def _http(self, scope: dict[str, Any]) -> UpstreamPool:
        """The upstream's connections (made in the serving loop, when first needed)."""
        if self._pool is None:
            scheme = self._base.scheme
            tls = httpx.create_ssl_context(verify=self.verify_tls) if scheme == "https" else None  # reads the CA bundle once
            self._pool = UpstreamPool(scheme, self._base.raw_host.decode("ascii"), self._base.port or (443 if scheme == "https" else 80),
                                      tls=tls)
        return self._pool

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
        if why is not None:  # refused at the door: neither forwarded nor judged, nothing learned of it, nothing quoted
            # (a page may send thousands: learned, they spent the redactor's bound, and a later key went unmasked; pass
            # Y1, F2; each one noted word for word, they pushed out the notes explaining the verdict: one note, counted, F4)
            await self._own_answer(send, 403, f"this proxy {why} (it forwards with the upstream's credentials)")
            if self.judge is not None:
                self._refused_itself(scope, "a request from elsewhere was refused 403 (a foreign Host or Origin): not "
                                            "forwarded, not judged", ())
            return
        # before anything about this exchange can be written (any path, any method): its credentials, learned by the
        # judge, and masked in every note about it (`own`), past the bound on what the judge learns too
        own = self._learn(scope) if self.judge is not None else []
        if str(scope["method"]).strip(" \t").upper() == _TUNNEL:
            await self._own_answer(send, 405, "CONNECT is not forwarded: this proxy opens no tunnel", allow=True)
            if self.judge is not None:
                self._refused_itself(scope, "a CONNECT request was refused 405 by the proxy and not forwarded (it opens "
                                            "no tunnel)", own)
            return
        if await self._refused_echo(scope, send, _echoing_method(scope), own):
            return
        read = await read_capped(receive, self.max_request_bytes)
        if read.disconnected:
            return
        # the body's credentials learned and its `_method` sought (a form field, a JSON member) on a worker thread: work
        # that grows with the body never holds up the event loop, and with it every other exchange and its deadline
        if read.content:
            echoing, in_body = await asyncio.to_thread(self._read_body, scope, read.content)
            own = own + in_body if in_body else own
            if await self._refused_echo(scope, send, echoing, own):
                return
        if read.content is None:
            await self._own_answer(send, 413, f"the request body is over {self.max_request_bytes:,} bytes; not forwarded")
            if self.judge is not None:
                self._refused_itself(scope, f"a {clean_text(str(scope['method'])[:20])} request over "
                                            f"{self.max_request_bytes:,} bytes was answered 413 by the proxy and not "
                                            "forwarded (not judged)", own)
            return
        # (served on `wire.serve`'s configuration, which reads an upgrade request whole and takes no upgrade: forwarded)
        unread = request_framing_unread(scope["headers"], read.size, upgrade_read=True)
        if unread is None and _length_and_coding(scope["headers"]):
            # RFC 9112 §6.1: a server may refuse it; uvicorn's httptools stack (llhttp) does, 400, before the proxy sees
            # it, so on h11 (which reads it as chunked) the proxy refuses it too: one reading on both stacks (pass X1, F4)
            why = "it gives a Content-Length beside a Transfer-Encoding, which a server may refuse (RFC 9112 §6.1)"
            await self._own_answer(send, 400, f"the request was not forwarded: {why}")
            if self.judge is not None:
                self._refused_itself(scope, f"a {clean_text(str(scope['method'])[:20])} request was answered 400 by the "
                                            f"proxy and not forwarded: {why} (not judged)", own)
            return
        if unread is not None:  # the body the server stack handed on may not be the client's: never forwarded as if it were
            await self._own_answer(send, 400, f"the request was not forwarded: {unread}")
            if self.judge is not None:
                self._refused_itself(scope, f"a {clean_text(str(scope['method'])[:20])} request was answered 400 by the "
                                            f"proxy and not forwarded: {unread} (not the client's doing, not judged)", own)
            return
        try:
            if await self._forward(scope, read.content, send, own):
                raise AnswerCutOff("the answer could not be completed: the client's connection is closed mid-answer")
        except _Refused as refused:
            await self._own_answer(send, refused.status, refused.message)
            if self.judge is not None:
                self._refused_itself(scope, f"a {clean_text(str(scope['method'])[:20])} request was answered "
                                            f"{refused.status} by the proxy and not forwarded ({refused.message}): not judged",
                                     own)

    def _read_body(self, scope: dict[str, Any], body: bytes) -> tuple[str | None, list[str]]:
        """On a worker thread: the judge learns the body's credentials (`_learn`); (the echoing method the body asks for
        (`_echoing_method`: a search of the whole body) or None, the body's credentials the judge did not know)."""
        own = self._learn(scope, body) if self.judge is not None else []
        return _echoing_method(scope, body), own

    async def _refused_echo(self, scope: dict[str, Any], send: Any, echoing: str | None, own: list[str]) -> bool:
        """Refuse (405) a request asking for an echoing method; True: refused."""
        if echoing is None:
            return False
        await self._own_answer(send, 405, f"{echoing} is not forwarded: its answer would echo the request, with the "
                                          "upstream's credentials the proxy adds", allow=True)
        if self.judge is not None:
            self._refused_itself(scope, f"a {echoing} request was refused 405 by the proxy and not forwarded (its "
                                        "answer would echo the upstream's credentials)", own)
        return True

    def on_server_refused(self, what: str) -> None:
        """A request the proxy's own server stack refused before the proxy saw it (`wire.serve`: a head past 16 KiB, a
        request no parser reads, past the concurrency limit, over the connection cap, one that did not arrive in time):
        counted and noted, and, since it may have been a send the upstream never saw, passed unjudged: no green verdict
        rests on it. Called on the server's event loop (`server_config` registers it)."""
        if self.judge is not None:  # each kind said once (a flood of them counted, not written out one by one)
            said = what in self._server_refusals
            if not said and len(self._server_refusals) < 64:
                self._server_refusals.add(what)
            self.judge.pass_unjudged(f"the proxy's server: {what}; not forwarded, not judged (each such request is "
                                     "counted among those passed unjudged)", quiet=said)

    def _learn(self, scope: dict[str, Any], body: bytes | None = None) -> list[str]:
        """The judge learns the credentials the request carries (its headers, target and query; with `body`, its body's):
        every request the proxy takes past its door (forwarded or refused, judged or not), so that no note quoting what
        the upstream echoed of them (a header it cannot forward, an error about its answer) writes them (docs/safety.md).
        Returns those the judge did not know yet: every note about this exchange is masked with them (`note(own=)`),
        whatever the bound on what the judge learns. A request refused at the door (a foreign Host or Origin, which any
        web page can send) is not learned: it would spend that bound (pass Y1, F2)."""
        assert self.judge is not None
        raw = scope.get("raw_path") or scope["path"].encode("utf-8", errors="surrogateescape")
        query = scope.get("query_string") or b""
        url = self._shown + (raw + (b"?" + query if query else b"")).decode("latin-1")
        if body is None:
            return self.judge.learn_request(str(scope["method"]), url,
                                            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])
        return self.judge.learn_request(str(scope["method"]), "", [], body)

    def _refused_itself(self, scope: dict[str, Any], said: str, own: list[str] | tuple[()]) -> None:
        """A request the proxy answered itself: noted (an aside: it explains nothing of the verdict; the same said again
        is counted under one note); a send among them (or one a server may route there) also passes unjudged, so no
        green verdict rests on a send the upstream never saw. `own`: its credentials, masked in the note."""
        assert self.judge is not None
        raw = scope.get("raw_path") or scope["path"].encode("utf-8", errors="surrogateescape")
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        dropped = connection_headers(headers)  # routed on what the upstream would have received, as a forwarded one is
        if route_of(str(scope["method"]), raw.split(b"?", 1)[0].decode("latin-1"), base=False,
                    headers=[(name, value) for name, value in headers if name not in dropped]) == OTHER:
            self.judge.note(said, own=own, aside=True)
        else:
            self.judge.pass_unjudged(said, own=own)

    def _target(self, scope: dict[str, Any]) -> tuple[bytes, bytes]:
        """The request target sent upstream, built from parts: the upstream's base path, the request's path and query;
        and the request's own path (what `route_of` reads: the proxy adds the base path, the client names the send).

        Origin-form only (absolute-form only naming the upstream itself); visible ASCII only, as it came (no
        fragment): anything else is a 400, never a guess at what was meant.
        """
        raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", errors="surrogateescape")
        if raw[:1] != b"/":
            absolute = _ABSOLUTE.match(raw)
            if absolute is None:
                raise _Refused(400, "the request target must be a path (origin-form: /path?query)")
            if absolute.group(2).lower().rsplit(b"@", 1)[-1] != self._authority or b"@" in absolute.group(2):
                raise _Refused(400, "the request target names another host; this proxy forwards only to its upstream "
                                    "(use origin-form: /path?query)")
            raw = absolute.group(3) or b"/"
            if raw[:1] != b"/":
                raise _Refused(400, "the request target must be a path (origin-form: /path?query)")
        why = _path_problem(raw)
        if why is not None:  # the path judged must be the path forwarded, and stay under the upstream's own path
            raise _Refused(400, f"the request target holds {why}; send the path itself")
        query = scope.get("query_string") or b""
        target = self._base_path + raw + (b"?" + query if query else b"")
        if not _TARGET.match(target):
            raise _Refused(400, "the request target is not a usable path (only visible ASCII, no fragment)")
        return target, raw

    def _masked(self, message: str, own: list[str]) -> str:
        """A message of the proxy's own to a client, without the upstream's credentials, the request's (`own`: those new
        to the judge) nor any the judge knows (the request's that were not new, another client's: Pass Z1, F1), `own`
        bounded as a note's is (`TrafficJudge.masked`). Run on a worker thread (`asyncio.to_thread`): it grows with
        `own` and waits for the judge's lock (Pass Z1, F3)."""
        if self.judge is not None:
            message = self.judge.masked(message, own)
        return self._hidden.text(message)

    @staticmethod
    async def _own_answer(send: Any, status: int, message: str, *, allow: bool = False) -> None:
        """An answer of the proxy's own (the upstream never saw the request, or never answered); `allow`: a 405's Allow."""
        payload = json.dumps({"success": False, "error": f"migma-contract proxy: {message}"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        if allow:
            headers.append((b"allow", _ALLOW))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _request_head(self, method: str, target: bytes, headers: list[tuple[bytes, bytes]],
                      body: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The head sent upstream, and its headers (what the judge reads: the request as the upstream received it):
        the upstream's Host, the client's headers as they came but the connection-level ones, the upstream's
        credentials where the client sent none, and the body's length."""
        if _CONTROL.search(b"".join(chain.from_iterable(headers))):  # the servers' parsers refuse them already; never a new line
            raise _Refused(400, "a request header holds control characters; not forwarded")
        dropped = connection_headers(headers) if any(name == b"connection" for name, _ in headers) else _HOP
        sent = [(b"Host", self._host)]
        authorized = framed = False
        for name, value in headers:
            if name in _NOT_FORWARDED or name in dropped:
                framed = framed or name in (b"content-length", b"transfer-encoding")
                continue
            authorized = authorized or name == b"authorization"
            sent.append((name, value))
        if self._basic is not None and not authorized:
            sent.append((b"authorization", self._basic))  # the upstream's credentials, where the client sent none
        if body or framed:
            sent.append((b"content-length", b"%d" % len(body)))
        lines = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
        for name, value in sent:  # the list the judge reads is the list written
            lines += (name, b": ", value, b"\r\n")
        lines.append(b"\r\n")
        return b"".join(lines), sent

    async def _forward(self, scope: dict[str, Any], body: bytes, send: Any, own: list[str]) -> bool:
        """Forward one request and its answer, and hand the exchange to the judge; True: the answer to the client began
        and could not be completed (the caller raises `AnswerCutOff`, after the judging). `own`: the request's
        credentials the judge did not know before it (`_learn`), masked in every note about the exchange."""
        target, own_path = self._target(scope)
        self.exchanges += 1
        number = self.exchanges
        method: str = scope["method"]
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        head, sent = self._request_head(method, target, raw_headers, body)
        # the client's own path decides (the upstream's base path is the proxy's): exactly /v1/sending is judged; a path a
        # server may still route there passes unjudged (never judged as the send: the upstream is not blamed for it).
        # Routed on the headers the upstream received, as the request rules are judged on them: a method-override header
        # the client's Connection names is dropped on the way, and routes nothing
        route = route_of(method, own_path.decode("ascii"), base=False, headers=sent)
        judged = self.judge is not None and route == SEND
        status: int | None = None
        passed: list[tuple[bytes, bytes]] = []  # the answer's headers as the client receives them
        direct: list[tuple[bytes, bytes]] = []  # as a direct client reads them (and the judge): Connection's names kept
        kept: list[bytes] = []
        size = 0
        error: str | None = None
        apart: str | None = None  # what HTTP/1.1 clients read apart in the upstream's framing (`framing_apart`)
        timed_out = stalled = False
        began = ended = unforwardable = False
        refusal: str | None = None  # why the proxy answers 502 in place of an answer it read
        held: list[bytes] | None = None  # an answer held whole, to be sent with its length (to an HTTP/1.0 client)
        failure: str | None = None
        caught = False
        deadline = _Deadline(self.timeout)

        async def to_client(message: dict[str, Any]) -> None:
            """A part of the answer to the client; the upstream's deadline does not run while the client reads."""
            deadline.sending()
            try:
                await send(message)
            finally:
                deadline.sent()

        try:
            pool = self._http(scope)
            response = await pool.send(head, body, head_only=method == "HEAD", on_settled=deadline.settled)
            try:
                status = response.status
                # a Content-Length beside a Transfer-Encoding, or given twice: h11 (httpx) reads it, Node's client refuses
                # it; it came on the wire, so the upstream's violation, as the middleware judges an app's under uvicorn's
                # httptools `send` (the proxy forwards it mended, the Content-Length dropped or one)
                apart = response.apart
                hop = _HOP
                if any(k.lower() == b"transfer-encoding" for k, _ in response.headers):  # framed by chunks: a length
                    hop |= {b"content-length"}  # beside them is not the answer's (RFC 9112 §6.3: removed before forwarding)
                # judged as a direct client reads the answer (httpx ignores the names Connection lists); forwarded without
                # them (RFC 9110 §7.6.1)
                direct, unsendable = sendable_headers([(k, v) for k, v in response.headers if k.lower() not in hop])
                named = connection_headers(response.headers) - hop
                passed = [(k, v) for k, v in direct if k.lower() not in named]
                altered = sorted({k.lower().decode("latin-1") for k, _ in direct if k.lower() in named and _meaning(k)})
                if altered and judged and self.judge is not None:
                    self.judge.note(f"proxy exchange {number}: the upstream's Connection header names {', '.join(altered)}, "
                                    "so the proxy forwarded the answer without it (RFC 9110 §7.6.1) and its client reads "
                                    "the answer otherwise than a direct client does; judged as a direct client reads it",
                                    own=own, aside=True)
                if unsendable and self.judge is not None:
                    self.judge.note(f"proxy exchange {number}: the upstream's header(s) {', '.join(unsendable)} held "
                                    "bytes no HTTP server may send (control characters): dropped from the answer to the "
                                    "client, and judged without them, as the client received it", own=own, aside=True)
                unforwardable = not 101 <= status <= 599  # no HTTP server (nor client) takes it: judged, answered 502
                if unforwardable:
                    refusal = f"the upstream answered status {status}, which is no HTTP status"
                elif status == 101:  # the proxy asks for no upgrade (Upgrade is hop-by-hop): no client reads an unasked switch
                    unforwardable = True
                    refusal = "the upstream switched protocols (101) though no upgrade was asked for: no client reads that"
                elif _needs_length(scope, method, status, passed):
                    held = []  # HTTP/1.0 has no chunked coding: an answer the server would chunk is sent with its length
                else:
                    began = True
                    await to_client({"type": "http.response.start", "status": status, "headers": passed})
                while (raw := await response.read()) is not None:
                    size += len(raw)
                    if judged and size <= self.max_response_bytes:
                        kept.append(raw)
                    if held is not None and not unforwardable:
                        held.append(raw)
                        if size > self.max_response_bytes:
                            unforwardable, held = True, None
                            refusal = (f"the upstream's answer has no length and is over {self.max_response_bytes:,} bytes: "
                                       "an HTTP/1.0 client cannot be sent it (HTTP/1.0 has no chunked coding; use HTTP/1.1)")
                    elif not unforwardable:
                        ended = response.complete  # the last piece ends the answer (no empty message after it)
                        await to_client({"type": "http.response.body", "body": raw, "more_body": not ended})
                        if ended:
                            break
                if began and not ended:  # the answer's end came after its last piece, or it has none (204, 304, HEAD)
                    await to_client({"type": "http.response.body", "body": b"", "more_body": False})
                    ended = True
                if held is not None and not unforwardable:
                    whole = b"".join(held)
                    passed.append((b"content-length", b"%d" % len(whole)))
                    began = True
                    await to_client({"type": "http.response.start", "status": status, "headers": passed})
                    await to_client({"type": "http.response.body", "body": whole, "more_body": False})
                    ended = True
            finally:
                if response.trailing and self.judge is not None:
                    self.judge.note(f"proxy exchange {number}: the upstream sent bytes after its answer (an empty line, a "
                                    "second answer): a client keeping the connection alive (httpx) fails reading its "
                                    "next answer there; the proxy closed the connection", aside=True)
                response.release()
        except asyncio.CancelledError:
            if deadline.expired is None:
                raise  # the server's own cancellation (shutting down): not ours to answer
            caught = True
            _uncancel()
            if deadline.expired == _CLIENT:
                stalled = True
            else:
                timed_out, error = True, f"no complete answer from the upstream within {self.timeout:g} s"
        except UpstreamError as exc:
            error = str(exc)
        except Exception as exc:  # the proxy's own failure: a 502 and a note, never a crash that hides the upstream's answer
            failure = type(exc).__name__
        finally:
            deadline.close()
        if deadline.expired is not None and not caught:  # (the timer fires only while the exchange awaits: never, in fact)
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                _uncancel()
        # from the body forwarded to the answer's last byte as read, less the client's reading (None: not known, `late`:
        # the send is judged in part for responds-in-time, never green on it, never blamed; pass Y1, F1)
        elapsed = deadline.upstream_elapsed()
        late = deadline.late
        # an answer begun that cannot be completed (the upstream cut it off or stalled, the client stopped reading, the
        # proxy failed): the client's connection is closed mid-answer (AnswerCutOff), never the answer ended normally,
        # which would hand a truncated body as a whole one (chunked: uvicorn would write the last chunk)
        cut_off = began and not ended
        if failure is not None:
            told = "what had arrived, then its connection was closed mid-answer" if began else "502"
            if not began:
                try:
                    await self._own_answer(send, 502, f"the proxy failed ({failure}); see its report")
                except Exception:  # the server took the failed answer as begun: it can only close the connection
                    told = "nothing (the connection was closed)"
            if self.judge is not None:
                self.judge.note(f"proxy exchange {number}: the proxy itself failed ({failure}); the client was answered "
                                f"{told} (please report it)")
        if cut_off and failure is None and not stalled and self.judge is not None and not judged:
            self.judge.note(f"proxy exchange {number}: the upstream's answer was cut off after its head "
                            f"({clean_text(str(error))[:200]}): the client's connection was closed mid-answer, so it "
                            "reads an incomplete answer, as from the upstream", own=own, aside=True)
        if not began and failure is None and not stalled:
            # the proxy's own words (`wire.upstream` quotes none of the upstream's bytes: pass Y1, F3), masked with the
            # request's and the upstream's credentials all the same: what the client reads is no report, but no echo
            said = await asyncio.to_thread(self._masked, str(error or refusal), own)
            await self._own_answer(send, 504 if timed_out else 502, said)
            if refusal is not None and error is None and self.judge is not None:
                self.judge.note(f"proxy exchange {number}: {refusal}; the client was answered 502, the upstream's answer "
                                "judged as it came", own=own, aside=True)
        where = f"proxy exchange {number}"
        if route == MAY_ROUTE and self.judge is not None:
            self.judge.pass_may_route(where, own_path.decode("ascii"), method, sent, own=own)
            return cut_off
        if not judged or self.judge is None or (failure is not None and status is None):
            if self.judge is not None:
                self.judge.skip()
            return cut_off
        if stalled:
            self.judge.pass_unjudged(f"{where}: the client stopped taking the answer for {self.timeout:g} s (not the "
                                     "upstream's doing): not judged")
            return cut_off
        shown_url = self._shown + target.decode("ascii")
        what = (no_endpoint(status, _field(direct, b"content-type"), self.judge.contract.spec.documented_statuses,
                            _enveloped_as_read(direct, kept))
                if error is None and failure is None else None)
        if what is not None:  # the upstream URL does not reach the send: check's reading (a configuration error there)
            location = _field(direct, b"location")
            # in angle brackets (RFC 3986 Appendix C): a credential parameter's value, masked when the note is written,
            # ends at the `>` (it runs to a space, `&`, `#`, `;`, a quote or `<>`), never taking the note's `)` with it
            # masked (the exchange's own and the upstream's credentials) before it is cut: a base64 credential holds `/`,
            # and the prefix a cut leaves of it is masked by no redactor (pass Q1, F1)
            shown_location = cut_at_a_separator(self.judge.held_masked(location, own), 200) if location else ""
            where_to = f" (Location: <{clean_text(shown_location)}>)" if location else ""
            self.judge.pass_unjudged(f"{where}: the send, POST <{shown_url}>, was answered {what}{where_to}: no endpoint "
                                     f"answers so; check {flag('--upstream')} (is this the API's root, and does the server "
                                     "answer POST /v1/sending there?): not judged", own=own)
            return cut_off
        read_body, judge = self._decoded, self.judge
        answer_error, proxy_failed = error, failure is not None
        framing_error = f"no client reads the upstream's answer alike: it has {apart}" if apart is not None else None

        def exchange() -> ObservedExchange:  # built on the judge's thread: decoding headers and the body is judging's cost
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in direct]
            answer, unread, broken, error = None, None, False, answer_error
            if proxy_failed:
                unread = "the proxy failed while forwarding the answer"
            elif error is None:
                answer, unread, broken, lacked = read_body(headers, kept, size)
                if lacked is not None:
                    judge.note(f"{where}: its answer's body is {lacked}")
                if broken:
                    error, unread = unread, None
                elif framing_error is not None:  # the server's failure, as a broken coding is (its status kept)
                    error, broken = framing_error, True
            return ObservedExchange(
                method=method, url=shown_url, request_headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in sent],
                request_body=body, status=status if error is None or broken else None, response_headers=headers,
                response_body=answer, elapsed=elapsed, error=error, timed_out=timed_out, where=where, response_size=size,
                unread=unread, route=SEND, in_part=_READ_LATE if late else None,
                in_part_rules=_TIME_RULES if late else frozenset())

        # off the event loop: judging never holds up a client (the bytes it holds bound the queue, not a count)
        self.judge.observe_later(exchange, size=len(body) + sum(map(len, kept)) + _HELD_APART)
        return cut_off

    def _decoded(self, headers: list[tuple[str, str]], kept: list[bytes],
                 size: int) -> tuple[bytes | None, str | None, bool, str | None]:
        """(the answer's body as its client reads it, why it was not read, whether it is broken, what the body lacked
        though its client reads it: a coded stream without its end) within the cap."""
        cap = self.max_response_bytes
        if size > cap:
            return None, f"its answer is over {cap:,} bytes", False, None
        try:
            answer, lacked = decoded(b"".join(kept), codings_of(v for k, v in headers if k.lower() == "content-encoding"), cap)
        except Unknown as exc:
            return None, f"its answer's Content-Encoding ({exc}) is one the toolkit cannot decode", False, None
        except Differs as exc:
            return None, f"its answer's Content-Encoding is {exc}: what the client read does not show", False, None
        except Broken as exc:
            return None, f"the answer's body is not what its Content-Encoding says ({exc})", True, None
        if answer is None:
            return None, f"its answer decodes to over {cap:,} bytes", False, None
        return answer, None, False, lacked


def _enveloped_as_read(headers: list[tuple[bytes, bytes]], kept: list[bytes]) -> Iterator[bytes]:
    """An answer's body as its client reads it (decoded), for `no_endpoint`'s reading of a 4xx HTML page, as `check`
    reads httpx's decoded body: one reading (Pass Z1, F4). Lazy (decoded only if read) and bounded on the event loop: a
    coded body past twice `ENVELOPE_BYTES` decodes past it (a content coding never writes a body in twice its size),
    and the decoding stops past it; one no client reads (an unknown or broken coding) is no envelope."""
    size = sum(len(chunk) for chunk in kept)
    codings = codings_of(value.decode("latin-1") for name, value in headers if name.lower() == b"content-encoding")
    if not codings:
        yield from kept
        return
    if size > 2 * ENVELOPE_BYTES:
        yield b" " * (ENVELOPE_BYTES + 1)  # (past the bound: read as the page it says it is)
        return
    try:
        body = decoded(b"".join(kept), codings, ENVELOPE_BYTES)[0]
    except (Unknown, Differs, Broken):
        body = b""
    yield b" " * (ENVELOPE_BYTES + 1) if body is None else body


# why a send's answer read only after its deadline is judged in part (`_Deadline.late`): the words hold no figure of the
# one exchange, so the judge counts them once for many
_READ_LATE = ("the proxy's event loop was held up past the deadline and read the upstream's answer only after it: when "
              "the answer arrived does not show, so responds-in-time was not judged (not the upstream's doing)")
_TIME_RULES = frozenset({RESPONDS_IN_TIME.id})


def _field(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first value of the field `name` (lower-case) in `headers`, as text; None: none."""
    return next((value.decode("latin-1") for key, value in headers if key.lower() == name), None)


def _needs_length(scope: dict[str, Any], method: str, status: int, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether an answer must be held to be sent with its length: one with a body and no Content-Length, to an HTTP/1.0
    client (uvicorn's httptools stack would send it chunked, which HTTP/1.0 has not: the client would read the chunk
    lines as the body; an answer that ends with the connection is what it reads, but not every stack can send one)."""
    return (scope.get("http_version") == "1.0" and method != "HEAD" and status not in (204, 304) and status >= 200
            and not any(name.lower() == b"content-length" for name, _ in headers))


_UPSTREAM, _CLIENT = "upstream", "client"


def _uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


_LOOKS = 2  # how many times a due timer lets the loop read its sockets before it calls the upstream late (see _fire)


class _Deadline(ServerTime):
    """An exchange's two deadlines on one timer: the upstream's (`timeout` for the whole answer, not counting the time
    the client takes to read it) and the client's (`timeout` for each part of the answer it is sent).

    The timer is armed once; each part sent only notes when it began and how long it took (the common case never
    suspends). When the timer fires it works out which deadline is due and either re-arms itself or cancels the task,
    saying which (`expired`): a slow upstream is a 504 and a finding, a client that stopped reading is neither.

    The upstream is timed by when its answer's bytes were read (`settled`, called from the connection's I/O callback,
    not when the task next runs), never by when the timer ran: a timer that runs late (the loop held up) first lets
    the loop read its sockets (`_LOOKS` turns: asyncio runs I/O callbacks before timers in a turn, uvloop after), and
    an answer whose bytes are in by then is no 504. If they were read only after the due time, when they arrived
    does not show (`late`: the proxy leaves responds-in-time unjudged, the send judged in part, never green on it, and
    never blames the upstream for its own delay).
    """

    def __init__(self, timeout: float, loop: asyncio.AbstractEventLoop | None = None, task: asyncio.Task[Any] | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._task = task or asyncio.current_task()
        self._timeout = timeout
        super().__init__(self._loop.time)  # the upstream's own time, as the middleware times an app
        self._rearmed = False  # the timer moved to the client's deadline during a send
        self._looks = 0  # turns given to the loop's I/O since the upstream's deadline came due
        self.expired: str | None = None
        self.answered: float | None = None  # the upstream's time when its answer's last byte was read (or it failed)
        self.late = False  # its bytes were read only after the deadline had come: when they arrived does not show
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = self._loop.call_at(self.started + timeout, self._fire)

    def settled(self) -> None:
        """The upstream's answer has all been read, or has failed (the connection's I/O callback says so, at once)."""
        if self.answered is None:
            self.answered = self.elapsed()

    def upstream_elapsed(self) -> float | None:
        """The upstream's time: to its answer's last byte as read (else so far); None when that does not show (`late`)."""
        if self.late:
            return None
        return self.answered if self.answered is not None else self.elapsed()

    def _due(self) -> tuple[float, str]:
        if self.sending_since is not None:
            return self.sending_since + self._timeout, _CLIENT
        return self.started + self._timeout + self.client_wait, _UPSTREAM

    def _fire(self) -> None:
        due, which = self._due()
        now = self._loop.time()
        if which == _UPSTREAM and self.answered is not None:  # the upstream's side is over: only the client is timed now
            self.late = self.late or self.answered > self._timeout
            self._looks = 0
            self._handle = self._loop.call_at(max(due, now) + self._timeout, self._fire)
            return
        if now < due:
            self._looks = 0
            self._rearmed = self.sending_since is not None
            self._handle = self._loop.call_at(due, self._fire)
            return
        if which == _UPSTREAM and self._looks < _LOOKS:  # bytes waiting in a socket are read before the upstream is late
            self._looks += 1
            self._handle = self._loop.call_soon(self._fire)
            return
        self._handle = None
        self.expired = which
        if self._task is not None:
            self._task.cancel()

    def sent(self) -> None:
        super().sent()
        if self.sending_since is None and self._rearmed and self._handle is not None and self.expired is None:  # back to the upstream's deadline
            self._rearmed = False
            self._handle.cancel()
            self._handle = self._loop.call_at(self._due()[0], self._fire)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
