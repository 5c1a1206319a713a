"""Keep-alive HTTP/1.1 connections to one upstream, for the proxy: a request's bytes out, its answer in as it comes.

The proxy forwards what a client sent as it was, so it needs no HTTP client's machinery (cookies,
redirects, auth flows, header models): it writes a request head and body it built itself and reads
the answer with the same C parser the servers use (httptools, llhttp), each connection an asyncio
protocol on the serving loop. httpx's pool, here, cost ~0.2 ms of CPU a request for one connection
and grew with the number in flight (it looks at every connection for every request it places).

An answer is read as an HTTP client reads it (httpx, through h11): llhttp reads it first (the fast path); a
head llhttp's strict framing refuses is read again by h11, whose reading every httpx user has (a repeated
identical Content-Length, `Content-Length: 95, 95`, bare LF line ends, Content-Length beside chunked, HTTP/1.2),
and every head llhttp takes is read again by h11's own reader (`h11_head_refused`), a head it refuses refused (an empty
line before the status line, a space before a colon: llhttp skips the one, hands `Content-Length ` over with the other;
a NUL or VT in a value). Bytes after an answer read by llhttp (a CRLF, which llhttp skips between messages and h11
reads as the next answer's empty status line) spoil the connection: `trailing` says so. llhttp reads an answer to its end only
where the framing is a count (a single final head framed by Content-Length, or by the connection's close, no line led
by whitespace): an answer with a Transfer-Encoding (its chunk lines and trailers: a size padded past 20 digits,
`2;a b`; `identity, chunked`, which httpx refuses), an interim head before the final one, or a head holding a line
led by SP or HTAB is read from its first byte by h11, as httpx reads it. What no client reads is an `UpstreamError`
saying so (the proxy answers 502); what any does, the proxy forwards.

Everything a hostile or broken upstream can do is bounded: an answer's head (and whatever else
comes between two pieces of body: chunk-size lines, trailers) is held as httpx holds it: what
arrives is read in reads of at most 64 KiB (httpcore's), and one still incomplete after a read
with more than `MAX_HEAD_BYTES` of it held is refused (h11's bound, which httpx meets as "Receive
buffer too long"), so a head one read completes is read however long (at most ~164 KiB);
a body is buffered at most `_PAUSE_AT` bytes ahead of the reader (reading pauses past it);
trailers are dropped; an answer that does not say its length ends when the connection does.
A connection is reused only once its answer was read whole and the upstream keeps it alive as
h11 reads that (`h11_keeps_alive`: never after HTTP/1.0), and never after `IDLE_EXPIRY` seconds idle. Deadlines are the caller's (`asyncio.timeout`
around the exchange); an abandoned answer closes its connection.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import Callable
from typing import Any

import h11

try:  # h11's own reader of an answer's head (what h11.Connection runs), without a connection's set-up per answer
    from h11._readers import maybe_read_from_SEND_RESPONSE_server as _h11_read_head
    from h11._receivebuffer import ReceiveBuffer as _H11Buffer
except ImportError:  # pragma: no cover - another h11's layout: the same reading, through a connection
    _h11_read_head = None  # type: ignore[assignment]

from migma_contract.core.fields import TOKEN, framing_apart, framing_refused, shown_name
from migma_contract.core.untrusted import clean_text

try:  # the C parser (uvicorn[standard]); without it, h11 reads the answers (see _H11Parser)
    import httptools

    _PARSE_ERRORS: tuple[type[Exception], ...] = (httptools.HttpParserError, h11.RemoteProtocolError)
    _UPGRADES: tuple[type[Exception], ...] = (httptools.HttpParserUpgrade,)
    PARSER = "httptools"
except ImportError:  # pragma: no cover - httptools is a dependency on CPython
    httptools = None  # type: ignore[assignment]
    _PARSE_ERRORS, _UPGRADES = (h11.RemoteProtocolError,), ()
    PARSER = "h11"

__all__ = ["IDLE_EXPIRY", "MAX_HEAD_BYTES", "PARSER", "UpstreamError", "UpstreamPool", "UpstreamResponse", "client_refuses",
           "h11_head_refused", "h11_keeps_alive", "h11_reason"]

MAX_HEAD_BYTES = 100 * 1024  # httpcore's MAX_INCOMPLETE_EVENT_SIZE, h11's bound on an incomplete head in httpx
_READ = 64 * 1024  # httpcore's READ_NUM_BYTES: httpx reads at most this much at a time, h11's bound checked after each
IDLE_EXPIRY = 1.5  # below common keep-alive timeouts (gunicorn's 2 s, uvicorn's 5 s): one the upstream is closing is not reused
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"})  # RFC 9110 §9.2.2
MAX_IDLE = 64
_PAUSE_AT = 256 * 1024  # bytes of body buffered ahead of the reader before reading pauses
_SLICE = 4096  # a head is fed to the parser at most this much at a time (its copy for h11 holds little of a body)
_JOINED = 64 * 1024  # a body up to this size leaves in the same write as its head


def client_refuses(headers: list[tuple[bytes, bytes]], reason: bytes = b"") -> str | None:
    """Why an HTTP client refuses an answer's head (None: it reads it): h11's rules, which httpx reads by. Its framing
    in the one reading the middleware shares (`core.fields.framing_refused`); a header value or a status line's reason
    holding what h11 refuses (a NUL, VT, FF, CR or LF: llhttp, told to read leniently, takes them; h11 takes other
    control characters, ESC or DEL, which the proxy drops from what it forwards)."""
    for name, value in headers:
        if _H11_REFUSES.search(value) is not None:
            return f"a NUL, VT, FF, CR or LF in the value of {shown_name(name)}"
    if _H11_REFUSES.search(reason) is not None:
        return "a NUL, VT, FF, CR or LF in the status line's reason phrase"
    return framing_refused(headers)


def h11_keeps_alive(http_version: str, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether h11 (httpx's reader) keeps the connection after a final answer of this version and headers, its
    `_keep_alive` to the letter: never after HTTP/1.0 (whatever `Connection: keep-alive` says), nor after any `Connection`
    field listing `close` (comma-split, case and whitespace aside); `Proxy-Connection` is no `Connection` to it. llhttp
    keeps an HTTP/1.0 answer saying keep-alive, and reads `Proxy-Connection` as `Connection`: the proxy sent the next
    request where httpx never does, on a connection the upstream was closing."""
    if http_version.encode("ascii") < b"1.1":  # (h11 compares the version's bytes: "1.0", "0.9")
        return False
    return not any(name.lower() == b"connection" and b"close" in (token.strip() for token in value.lower().split(b","))
                   for name, value in headers)


_FIELD_LINE = re.compile(rb"\n([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*)")  # a head's field line, as received
_LINE_LED_BY_WS = re.compile(rb"\n[ \t]")  # a header line led by whitespace: obs-fold, or (first) what h11 refuses
_H11_REFUSES = re.compile(rb"[\x00\x0b\x0c\r\n]")  # h11's field-value and reason-phrase: no NUL, no whitespace but SP/HTAB


def h11_head_refused(raw: bytes | bytearray, *, head_only: bool = False) -> tuple[str | None, int]:
    """(why h11, httpx's reader, refuses the head that `raw` begins with, or None; the head's length in bytes, as h11
    reads it): a line before the status line (an empty one: "no response line received"), whitespace between a
    field's name and its colon, a status line or a header line h11 does not take. llhttp, lenient where h11 is
    not, reads such heads on its fast path; each is re-read here (~30 µs: the head is bounded)."""
    try:
        if _h11_read_head is not None:
            buffer = _H11Buffer()
            buffer += raw
            event = _h11_read_head(buffer)
            left = len(buffer)
        else:  # pragma: no cover
            conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=2 * MAX_HEAD_BYTES)
            conn.send(h11.Request(method=b"HEAD" if head_only else b"GET", target=b"/", headers=[(b"host", b"upstream")]))
            conn.send(h11.EndOfMessage())
            conn.receive_data(bytes(raw))
            event = conn.next_event()
            left = len(conn.trailing_data[0])
    except h11.ProtocolError as exc:
        return h11_reason(exc), 0
    if not isinstance(event, (h11.Response, h11.InformationalResponse)):
        return "no end of the head where llhttp found one", 0
    return None, len(raw) - left


# where h11's message quotes what it refused (`illegal header line: bytearray(b'...')`, `Illegal header value b'...'`)
_QUOTED = re.compile(r":?\s*(?:bytearray\()?b['\"].*\Z", re.S)
_HEADER_LINE = re.compile(r"\A(?:bytearray\()?(b(['\"]).*\2)\)?\Z", re.S)


def h11_reason(exc: BaseException) -> str:
    """What h11 (or llhttp) refused, in its words, without the bytes it quotes: h11's message quotes the offending line
    word for word (a header line echoing the request's Authorization, the credentials the proxy added: pass Y1, F3).
    A header line's name is kept where it is a token (`shown_name`); its value never."""
    text = str(exc)
    quoted = _QUOTED.search(text)
    if quoted is None:
        return clean_text(text[:200])
    reason = text[:quoted.start()].strip()
    line = _HEADER_LINE.match(quoted.group(0).lstrip(": \t"))
    if reason == "illegal header line" and line is not None:
        with contextlib.suppress(ValueError, SyntaxError):
            name = ast.literal_eval(line.group(1)).split(b":", 1)
            if len(name) == 2 and TOKEN.match(name[0]) is not None:
                reason += f" (the field {shown_name(name[0])})"
    return clean_text(reason[:200])


class _ReadAsH11(Exception):
    """Raised in llhttp's callback at a head whose answer h11 reads from its first byte (see on_headers_complete)."""


class UpstreamError(Exception):
    """The upstream could not be reached, or broke the exchange; `kind` names how (ConnectError, ReadError…)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.kind}: {self.args[0]}"


class UpstreamResponse(asyncio.Protocol):
    """One connection to the upstream, and the answer it is reading (a connection carries one exchange at a time).

    After `UpstreamPool.send`: `status` and `headers` (the raw pairs, as sent) are known; `read`
    gives the body as it comes, `complete` says whether all of it has been read; `release` hands the
    connection back (reused if the answer was read whole and the upstream keeps it alive, else closed).
    """

    status: int
    headers: list[tuple[bytes, bytes]]

    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool
        self._parser: Any
        if pool.parser == "httptools":
            self._parser = self._new_llhttp()
        else:
            self._parser = _H11Parser(self)
        self._llhttp = pool.parser == "httptools"
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._fell_back = False  # an answer of this connection was read by h11 (see _read_as_h11)
        self._reset(False)

    def _new_llhttp(self) -> Any:
        parser = httptools.HttpResponseParser(self)
        # A header value with control characters (an ESC, a DEL) is read, as h11 reads it, not a broken answer: the
        # proxy drops it from what it sends on and judges the answer as received. Framing stays strict.
        parser.set_dangerous_leniencies(lenient_headers=True)
        return parser

    def _reset(self, head_only: bool) -> None:
        self.status = 0
        self.headers = []
        # what HTTP/1.1 clients read apart in the final head's framing as it came (`framing_apart`: h11 merges the
        # Content-Lengths it reads as one, so it is read from the head as received): the upstream's violation
        self.apart: str | None = None
        self._apart_raw: str | None = None
        self._reason = b""
        self._head_only = head_only
        self._head_done = False
        self._until_close = False  # the answer's length is "until the connection closes"
        self._done = False
        self._reusable = False
        self._head_raw = bytearray()  # the bytes of the head so far (bounded as h11 bounds them): h11 reads them again
        self._received = 0  # the bytes received for this answer (llhttp's reading: head, body and anything after them)
        self._head_len = self._body_len = 0  # the head's length (as h11 reads it) and the body's bytes, on llhttp's path
        self.trailing = False  # bytes came after the answer (a CRLF, another answer): the connection is spoilt
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._on_settled: Callable[[], None] | None = None  # told once, when the answer has all arrived (or failed)

    # --- the protocol (the loop calls these) ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP transport (uvloop's is not an asyncio.Transport subclass)

    def data_received(self, data: bytes) -> None:
        if self._done or self._error is not None:  # bytes after the answer (or after it failed): the connection is spoilt
            self.trailing = self.trailing or (self._done and self._reusable)  # (where it would have been reused)
            self._reusable = False
            self._close()
            return
        self._received += len(data)  # (the whole read: a slice past the answer's end is never fed, and spoils it)
        if len(data) <= _SLICE or (self._head_done and not isinstance(self._parser, _H11Parser)):
            self._feed(data)  # (a body llhttp reads, framed by a count: nothing to bound)
            self._bound()
            return
        # What arrived is read as httpx reads it, in reads of at most 64 KiB (httpcore's), h11's bound checked after each;
        # within one, a head is fed a slice at a time (what follows its end, a body, at once)
        view = memoryview(data)
        for start in range(0, len(data), _READ):
            at, end = start, min(start + _READ, len(data))
            while at < end:
                if self._done or self._error is not None:
                    return
                step = end - at if self._head_done else min(_SLICE, end - at)
                self._feed(view[at:at + step])
                at += step
            self._bound()

    def _bound(self) -> None:
        """h11's bound as httpx meets it after each read: more than MAX_HEAD_BYTES held of a head (or a chunk line, or
        trailers) still incomplete refuses the answer (h11: "Receive buffer too long"); what one read completes is read."""
        if self._done or self._error is not None:
            return
        # llhttp reads a final head and a body framed by a count (nothing is held once the head is read); h11 the rest
        held = self._parser.held() if isinstance(self._parser, _H11Parser) else 0 if self._head_done else len(self._head_raw)
        if held > MAX_HEAD_BYTES:
            self._fail("RemoteProtocolError", f"the upstream's answer head (or a chunk line, or trailers) is over "
                                              f"{MAX_HEAD_BYTES:,} bytes, still incomplete after a read (h11's bound: httpx "
                                              "refuses it, \"Receive buffer too long\")")

    def _feed(self, data: bytes | memoryview) -> None:
        if not self._head_done and not isinstance(self._parser, _H11Parser):  # (h11 holds its own, bounded: no copy kept,
            self._head_raw += data                                               # nor interim heads it drops, pass Q1 F0)
        try:
            self._parser.feed_data(data)  # llhttp reads any buffer
        except _UPGRADES:  # a 101: this proxy does not tunnel; the answer ends at its head
            self._finish(reusable=False)
        except _PARSE_ERRORS as exc:
            if self._head_done or isinstance(self._parser, _H11Parser) or self._error is not None or self._done:
                self._fail("RemoteProtocolError", f"the upstream's answer is not HTTP/1.1 a client reads ({h11_reason(exc)})")
                return
            # a head llhttp refuses, or one whose answer h11 reads whole (_ReadAsH11): read as httpx reads it
            self._read_as_h11(fell_back=not isinstance(exc.__context__, _ReadAsH11))

    def _read_as_h11(self, *, fell_back: bool) -> None:
        """The head so far, read again from its first byte by h11 (httpx's reader), which goes on with the answer.

        `fell_back`: llhttp refused the head (the connection is not reused); else h11 reads this answer whole by
        choice (its framing is chunks, or it had an interim head, or a line led by whitespace) and the connection's
        next answer is read by llhttp again.
        """
        self._parser = _H11Parser(self)
        self._parser.expect(b"HEAD" if self._head_only else b"GET")
        self._fell_back = self._fell_back or fell_back
        self.headers, self._reason = [], b""
        raw, self._head_raw = self._head_raw, bytearray()  # h11 reads it again and holds what it needs
        if fell_back:  # (llhttp refuses a Content-Length given twice, which h11 merges: read from the bytes received)
            start = max(raw.rfind(b"\nHTTP/") + 1, 0)
            end = min((at for at in (raw.find(b"\r\n\r\n", start), raw.find(b"\n\n", start)) if at >= 0), default=len(raw))
            fields = _FIELD_LINE.findall(bytes(raw[start:end]))
            self._apart_raw = framing_apart(fields)
        try:
            self._parser.feed_data(raw)
        except h11.RemoteProtocolError as exc:
            self._fail("RemoteProtocolError", f"the upstream's answer is not HTTP/1.1 a client reads ({h11_reason(exc)})")

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost ends the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._done or self._error is not None:
            return
        if self._until_close and self._head_done and exc is None:  # the clean close (FIN) that ends such an answer
            self._finish(reusable=False)
        elif self._until_close and self._head_done:  # a reset (or any error): httpx raises ReadError, curl fails (56)
            self._fail("ReadError", f"the upstream's connection failed before its answer was complete ({type(exc).__name__}: "
                                    "an answer framed by the connection's close ends only at a clean close)")
        elif self._head_done:
            self._fail("RemoteProtocolError", "the upstream closed the connection before its answer was complete")
        else:
            self._fail("RemoteProtocolError", "the upstream closed the connection without an answer")

    # --- the parser's callbacks ------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._done:  # a second answer to one request (in the same read): the connection is never reused
            self._reusable = False
            self._close()

    def on_status(self, reason: bytes) -> None:
        if not self._head_done:  # (llhttp may hand the reason phrase over in pieces)
            self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._head_done:  # after the head: a chunked answer's trailers, dropped (never headers)
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._error is not None or self._done:
            return
        status = self._parser.get_status_code()
        if not isinstance(self._parser, _H11Parser):
            if self._read_whole_by_h11(status):
                raise _ReadAsH11  # llhttp stops here; _feed has h11 read the answer from its first byte
            # what llhttp took, h11 reads again: a head it refuses (a line before the status line, a space before a
            # colon: llhttp hands `Content-Length ` over with it) is refused, as httpx refuses it
            why, self._head_len = h11_head_refused(self._head_raw, head_only=self._head_only)
            if why is not None:
                self._fail("RemoteProtocolError", f"the upstream's answer is not HTTP/1.1 a client reads ({why[:160]}: "
                                                  "httpx refuses it)")
                return
        if 100 <= status < 200 and status != 101:  # an interim answer (100 Continue…): the real one follows
            self.headers, self._reason = [], b""
            return
        refused = client_refuses(self.headers, self._reason)  # (h11 has refused such a head itself)
        if refused is not None:
            self._fail("RemoteProtocolError", f"the upstream's answer is not HTTP/1.1 a client reads ({refused}: httpx "
                                              "refuses it)")
            return
        self.status = status
        self._head_done = True
        self.apart = None if self._head_only or status in (204, 304) else (framing_apart(self.headers) or self._apart_raw)
        self._head_raw = bytearray()
        framed = any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers)
        self._until_close = not framed and status not in (204, 304) and not self._head_only
        if self._head_only:  # the answer to HEAD has no body, whatever its Content-Length says
            self._finish(reusable=False)  # (the parser would wait for one: the connection is not reused)
        else:
            self._wake()

    def _read_whole_by_h11(self, status: int) -> bool:
        """Whether llhttp's reading of this answer may differ from h11's past what `client_refuses` checks: chunk lines
        and trailers (llhttp takes a size padded past 20 hex digits, refuses `2;a b`), an interim head (its values are
        never asked; a status below 100, which llhttp takes), a line of the head led by SP or HTAB (llhttp, lenient, hands a first one's name over without it;
        h11 refuses it, or unfolds it mid-head). Such an answer is read by h11 from its first byte."""
        if status < 200 and status != 101:  # (below 100: no status h11 reads)
            return True
        if any(name.lower() == b"transfer-encoding" for name, _ in self.headers) and not self._head_only:
            return True
        end = self._head_raw.find(b"\r\n\r\n")  # (past the head, a body's bytes: h11 reads them too)
        return _LINE_LED_BY_WS.search(self._head_raw, 0, len(self._head_raw) if end < 0 else end + 2) is not None

    def on_body(self, body: bytes) -> None:
        if self._done or self._error is not None:
            return
        self._body_len += len(body)
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _PAUSE_AT and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self._head_done or self._error is not None:  # the end of an interim answer (or of a refused one)
            return
        if not self._done:
            if isinstance(self._parser, _H11Parser):
                extra, alive = self._parser.trailing(), self._parser.kept_alive()
            else:  # llhttp skips a CRLF after a message, which h11 (httpx) reads as the next answer's empty status line
                extra = self._received != self._head_len + self._body_len
                alive = h11_keeps_alive(self._parser.get_http_version(), self.headers)  # (not llhttp's reading)
            alive = alive and not self._until_close
            self.trailing = extra and alive  # (said where a client would read its next answer there)
            self._finish(reusable=alive and not extra and not self._fell_back)

    # --- the exchange ------------------------------------------------------------------------------------------

    def _finish(self, *, reusable: bool) -> None:
        self._head_done = True
        self._done = True
        self._reusable = reusable
        self._settled()
        self._wake()

    def _fail(self, kind: str, message: str) -> None:
        if self._error is None and not self._done:
            self._error = UpstreamError(kind, message)
        self._settled()
        self._close()
        self._wake()

    def _settled(self) -> None:
        """Tell the exchange (`begin`'s `on_settled`) that the upstream's side is over: called as the bytes are read, in the
        loop's I/O callback, not when the task waiting for them next runs (the proxy times the upstream by it)."""
        told, self._on_settled = self._on_settled, None
        if told is not None:
            told()

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter

    def begin(self, head: bytes, body: bytes, *, head_only: bool, on_settled: Callable[[], None] | None = None) -> None:
        """Write a request; `on_settled` is called once, as its answer's last byte is read (or the answer fails)."""
        self._reset(head_only)
        self._on_settled = on_settled
        assert self.transport is not None
        if self._llhttp and isinstance(self._parser, _H11Parser):  # the last answer was read by h11, whole and clean
            self._parser = self._new_llhttp()
        if isinstance(self._parser, _H11Parser):
            self._parser.expect(b"HEAD" if head_only else b"GET")
        if len(body) <= _JOINED:  # one write, one segment: a copy of a small body costs less than a second send
            self.transport.write(head + body)
        else:
            self.transport.writelines((head, body))

    async def head(self) -> None:
        """Wait for the answer's status line and headers."""
        while not self._head_done and self._error is None:
            await self._wait()
        if self._error is not None:
            raise self._error

    @property
    def complete(self) -> bool:
        """Whether the body has been read whole (nothing buffered, nothing more to come)."""
        return self._done and not self._chunks

    async def read(self) -> bytes | None:
        """The body's bytes that have arrived since the last call (waiting for some); None once it has all been read."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return None
            await self._wait()
        chunks, self._chunks, self._buffered = self._chunks, [], 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def release(self) -> None:
        """Hand the connection back: kept for the next request if this answer ended cleanly, else closed."""
        if self._done and self._reusable and not self._chunks and not self.closed:
            self._pool.keep(self)
        else:
            self._close()


class UpstreamPool:
    """Keep-alive connections to one origin; `send` writes a request on one and returns once the answer's head is in."""

    def __init__(self, scheme: str, host: str, port: int, *, tls: ssl.SSLContext | None = None, max_idle: int = MAX_IDLE,
                 parser: str | None = None) -> None:
        self.host, self.port, self.tls, self.max_idle = host, port, tls if scheme == "https" else None, max_idle
        self.parser = parser or PARSER  # "httptools" (where installed) or "h11"
        self._idle: list[UpstreamResponse] = []

    def keep(self, connection: UpstreamResponse) -> None:
        if len(self._idle) < self.max_idle:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection._close()

    def _reused(self) -> UpstreamResponse | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used first: the likeliest still open
            if not connection.closed and now - connection.idle_since < IDLE_EXPIRY:
                return connection
            connection._close()
        return None

    async def _connect(self) -> UpstreamResponse:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(lambda: UpstreamResponse(self), self.host, self.port, ssl=self.tls,
                                                         server_hostname=self.host if self.tls is not None else None)
        except ssl.SSLError as exc:
            raise UpstreamError("ConnectError", f"TLS with the upstream failed ({exc.reason or exc})") from None
        except OSError as exc:
            raise UpstreamError("ConnectError", exc.strerror or str(exc) or type(exc).__name__) from None
        return connection

    async def send(self, head: bytes, body: bytes, *, head_only: bool = False,
                   on_settled: Callable[[], None] | None = None) -> UpstreamResponse:
        """Write a request (its head and body, as bytes) and wait for the answer's head; the caller must `release` it.

        `head_only`: the request is a HEAD (its answer has no body, whatever its headers say). `on_settled`: called once,
        in the loop's I/O callback that reads the answer's last byte (or sees it fail), before the caller's task runs.
        """
        reused = self._reused()
        retried = reused is not None and head.split(b" ", 1)[0] in _IDEMPOTENT  # (if it fails before any byte)

        def settled() -> None:  # a reused connection's failure that is retried below settles nothing
            if on_settled is not None and not (retried and reused is not None and reused._error is not None
                                               and not reused._received):
                on_settled()

        try:
            return await self._answered_on(reused or await self._connect(), head, body, head_only, settled)
        except UpstreamError:
            if reused is None or reused._received or not retried:
                raise
            # A kept-alive connection closed before any byte of an answer: the upstream's keep-alive timeout crossing
            # the request, or the upstream failing on it; which, does not show. A method that may be sent again (RFC
            # 9110 §9.2.2) is, once, on a new connection, as curl and browsers do (a failing upstream fails again);
            # another (a POST) is not (a proxy must not): the failure stands, as httpx reads it (RemoteProtocolError).
            # Connections idle past IDLE_EXPIRY, below common keep-alive timeouts, are not reused: the race is rare.
            return await self._answered_on(await self._connect(), head, body, head_only, on_settled)

    @staticmethod
    async def _answered_on(connection: UpstreamResponse, head: bytes, body: bytes, head_only: bool,
                           on_settled: Callable[[], None] | None = None) -> UpstreamResponse:
        """The request written on `connection`, its answer's head read; the connection closed if that fails."""
        connection.begin(head, body, head_only=head_only, on_settled=on_settled)
        try:
            await connection.head()
        except BaseException:
            connection._close()
            raise
        return connection

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection._close()


class _H11Parser:
    """h11 behind httptools' calls, where httptools is not installed (another interpreter): the same callbacks.

    h11 frames an answer by the request it answers, so it is told each request's method (`expect`);
    the bytes it would send are not used (the connection writes its own).
    """

    def __init__(self, protocol: UpstreamResponse) -> None:
        self._protocol = protocol
        # its bound is checked outside, after each read as httpx makes it (`_bound`), not after each slice fed
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=2 * MAX_HEAD_BYTES)
        self._status = 0

    def expect(self, method: bytes) -> None:
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
        self._conn.send(h11.Request(method=method, target=b"/", headers=[(b"host", b"upstream")]))
        self._conn.send(h11.EndOfMessage())

    def feed_data(self, data: bytes | memoryview) -> None:
        self._conn.receive_data(bytes(data))
        protocol = self._protocol
        while True:
            event = self._conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                return
            if isinstance(event, h11.InformationalResponse):
                continue  # an interim answer (100 Continue...): the real one follows
            if isinstance(event, h11.Response):
                self._status = event.status_code
                for name, value in event.headers.raw_items():
                    protocol.on_header(name, value)
                protocol.on_headers_complete()
            elif isinstance(event, h11.Data):
                protocol.on_body(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):  # its trailers (event.headers) are dropped
                protocol.on_message_complete()

    def get_status_code(self) -> int:
        return self._status

    def held(self) -> int:
        """The bytes h11 holds unread (of an event not yet whole: a head, a chunk line, trailers), which its bound counts."""
        return len(self._conn.trailing_data[0])

    def trailing(self) -> bool:
        """Whether bytes came after the answer (h11 holds them, unread)."""
        return bool(self._conn.trailing_data[0])

    def kept_alive(self) -> bool:
        """Whether the answer leaves the connection open for the next (bytes after it aside)."""
        return self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE
