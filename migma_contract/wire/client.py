"""Sending cases to a target: a URL over HTTP, or an ASGI app in-process.

Everything a hostile or broken server can do is bounded here: each exchange has one
deadline covering connect, headers and body (a server trickling a byte a second still
ends); bodies are read with a cap, compressed ones decompressed with a cap; redirects
are not followed unless asked, and never carry credentials to another origin; 429 is
retried after `Retry-After` (without one, after a backoff of our own: 1 s, 2 s, 4 s…,
never over `max_retry_wait`), a bounded number of times for a bounded wait (a request
with an `Idempotency-Key` is processed no more than `max_sends_per_key` times in all: a
429 was not processed, so it does not count); a request rate
can be set, and the pace slows by itself after a 429 (`Pace`), so a rate-limited target
is followed rather than failed.

Text from the server enters here: header names and values and error texts are cleaned
of control characters (`_untrusted.clean_text`) as they are read, so nothing downstream
holds an ESC, a NUL or a bidirectional override from the wire. Bodies stay bytes (the
checks judge bytes) and are cleaned where they become text (`_records.excerpt`).
"""

from __future__ import annotations

import contextlib
import email.utils
import math
import re
import ssl
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import httpcore
import httpx

from migma_contract._version import __version__
from migma_contract.core.fields import joined, trimmed
from migma_contract.core.untrusted import clean_text
from migma_contract.wire.coding import Broken, ContentDecoder, Unknown, codings_of
from migma_contract.wire.urls import client_mounts

__all__ = ["Attempt", "Exchange", "Pace", "Sendable", "Target", "TargetSettings"]

USER_AGENT = f"migma-contract/{__version__}"


@dataclass(frozen=True)
class TargetSettings:
    base_url: str
    api_key: str | None = None
    timeout: float = 10.0
    rate: float | None = None
    max_retries: int = 3
    max_retry_wait: float = 30.0
    max_response_bytes: int = 1 << 20
    verify_tls: bool = True
    follow_redirects: bool = False
    max_redirects: int = 5
    max_sends_per_key: int | None = None  # sends of one Idempotency-Key, retries included (None: no bound)


class Sendable(Protocol):
    """What the wire needs of a request to send (a planned case satisfies it): nothing about rules."""

    @property
    def content(self) -> bytes: ...

    @property
    def content_type(self) -> str: ...

    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def own_credentials(self) -> bool:
        """True: the request carries exactly its own headers (its own Authorization, or none); False: the target's key."""
        ...

    @property
    def idempotency_key(self) -> str | None: ...


S = TypeVar("S", bound=Sendable)


@dataclass(frozen=True)
class Attempt:
    """An answer that was retried (a 429), kept for the rules about it."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Exchange(Generic[S]):
    """One case sent and what came back (or why nothing did)."""

    case: S
    method: str
    url: str
    request_headers: dict[str, str]
    request_content: bytes
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_size: int = 0
    truncated: bool = False
    elapsed: float = 0.0
    timed_out: bool = False
    error: str | None = None
    client_error: str | None = None  # the request never left: the client refused to build or send it
    redirects: list[str] = field(default_factory=list)
    throttled: list[Attempt] = field(default_factory=list)  # the 429 answers retried before this one
    body_note: str | None = None  # what the body lacked or held past its coding's end, read as httpx reads it (`wire.coding`)

    @property
    def answered(self) -> bool:
        return self.status is not None and not self.timed_out

    # -- the judge's exchange protocol (judge.exchange.Exchange) --------------------------------------

    @property
    def target(self) -> str:
        return self.url

    @property
    def sent_headers(self) -> dict[str, str]:
        """The head as it went on the wire, read as every way in reads it (trimmed, `core.fields`): the fields given,
        and the Content-Length httpx frames the body with (the judge reads a request without one as a 411's cause)."""
        headers = joined(self.request_headers)
        if "content-length" not in headers and "transfer-encoding" not in headers:
            headers["content-length"] = str(len(self.request_content))  # (httpx frames bytes content so, always)
        return headers

    @property
    def sent_body(self) -> bytes:
        return self.request_content

    @property
    def sent_size(self) -> int:
        return len(self.request_content)

    @property
    def sent_size_open(self) -> bool:
        return False

    @property
    def received_headers(self) -> dict[str, str]:
        return self.headers

    @property
    def received_body(self) -> bytes:
        return self.body


class Pace:
    """The least time between two requests: `--rate`, slowed down by the target's 429 answers.

    After a 429 whose `Retry-After` is r seconds, the target let n requests through in the t
    seconds since the previous one (or the start): its window holds about n requests per
    t + r seconds, so the gap becomes (t + r) / n, a tenth more (the target's clock and ours
    need not agree to the millisecond), if that is longer. A fixed window of 10 a minute
    reads as one request every 6.6 s after its first 429; a token bucket converges in one
    more. It never speeds up again within a run; a Retry-After of 0 says nothing of the
    window, so it changes nothing. The gap never exceeds the longest Retry-After seen: one
    request per Retry-After always passes, so a target that throttles whatever the pace
    (every third request, say) cannot slow the run down without end.
    """

    MARGIN = 1.1

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.interval = 1.0 / rate if rate else 0.0
        self.next_slot = 0.0
        self.window_start: float | None = None
        self.passed = 0  # requests through since window_start
        self.longest = 0.0  # the longest Retry-After seen

    def slot(self) -> float:
        """Seconds to wait before the next request (its slot taken)."""
        now = self.clock()
        if self.window_start is None:
            self.window_start = now
        wait = max(0.0, self.next_slot - now)
        self.next_slot = max(now, self.next_slot) + self.interval
        return wait

    def answered(self, status: int | None, retry_after: float | None) -> bool:
        """Note an answer; True when a 429 slowed the pace down."""
        if status != 429:
            self.passed += 1
            return False
        if not retry_after:
            return False
        now = self.clock()
        elapsed = now - (self.window_start if self.window_start is not None else now)
        self.longest = max(self.longest, retry_after)
        gap = min(self.MARGIN * (elapsed + retry_after) / max(self.passed, 1), self.longest)
        self.window_start, self.passed = now + retry_after, 0
        self.next_slot = max(self.next_slot, now + retry_after)
        if gap > self.interval:
            self.interval = gap
            return True
        return False


class Target:
    """An open connection to the server under test. Use as `async with Target(...)`.

    `pace` carries what the target's 429 answers taught from one connection to the next
    (the plan's, then exploration's).
    """

    def __init__(self, settings: TargetSettings, app: Any = None, *, requests_sent: int = 0, pace: Pace | None = None,
                 key_uses: dict[str, int] | None = None) -> None:
        self.settings = settings
        self.app = app
        self.requests_sent = requests_sent  # a later phase's connection continues the count
        self.pace = pace or Pace(settings.rate)
        self.key_uses: dict[str, int] = key_uses if key_uses is not None else {}  # sends per Idempotency-Key
        self._client: httpx.AsyncClient | None = None
        self._sync: httpx.Client | None = None
        self._deadline = _Deadline()

    def _client_options(self) -> dict[str, Any]:
        return {
            "base_url": self.settings.base_url,
            "verify": self.settings.verify_tls,
            "follow_redirects": False,
            "timeout": httpx.Timeout(self.settings.timeout, connect=self.settings.timeout * 0.8),
            "headers": {"User-Agent": USER_AGENT},
            "mounts": client_mounts(self.settings.base_url),  # a loopback target never through HTTP_PROXY (pass X4, F7)
        }

    async def __aenter__(self) -> Target:
        transport = httpx.ASGITransport(app=self.app) if self.app is not None else None
        self._client = httpx.AsyncClient(transport=transport, **self._client_options())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    def _auth_headers(self, case: Sendable) -> dict[str, str]:
        if case.own_credentials:
            return dict(case.headers)
        key = self.settings.api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        headers.update(case.headers)
        return headers

    BACKOFF = 1.0  # seconds before the first retry of a 429 without a Retry-After; doubled for each next one

    def uses_left(self, key: str | None) -> bool:
        """Whether a request with this Idempotency-Key may still be sent."""
        limit = self.settings.max_sends_per_key
        return key is None or limit is None or self.key_uses.get(key, 0) < limit

    # -- sending: one protocol, two drivers ---------------------------------------------------
    #
    # `_steps` is the whole protocol of a send (the pace, the 429 retries, the key's bound) as
    # a generator yielding what it needs done: ("sleep", seconds) or ("once", 0). The plan
    # drives it on an event loop (`send`). Exploration, which Hypothesis calls synchronously,
    # drives it with blocking I/O (`send_now`) against a URL target: a synchronous httpx
    # client costs ~0.35 ms less a request than the async one and needs no event loop.

    def _steps(self, exchange: Exchange[Any]) -> Generator[tuple[str, float], None, None]:
        key = exchange.case.idempotency_key
        for attempt in range(self.settings.max_retries + 1):
            wait = self.pace.slot()
            if wait:
                yield "sleep", wait
            if key is not None:
                self.key_uses[key] = self.key_uses.get(key, 0) + 1
            yield "once", 0.0
            if exchange.status != 429:
                self.pace.answered(exchange.status, None)
                return
            if key is not None:  # a 429 was not processed: not a send of its key (the bound is on what a server acts on)
                self.key_uses[key] -= 1
            retry_after = _retry_after(exchange.headers.get("retry-after"))
            # never slower than the longest wait honoured: a hostile Retry-After cannot stall the run
            self.pace.answered(429, None if retry_after is None else min(retry_after, self.settings.max_retry_wait))
            if attempt == self.settings.max_retries or (retry_after is not None and retry_after > self.settings.max_retry_wait):
                return
            if retry_after is None:  # none given (or none readable): our own bounded backoff; rate-limit-retry-after judges the header
                retry_after = min(self.BACKOFF * 2**attempt, self.settings.max_retry_wait)
            exchange.throttled.append(Attempt(429, dict(exchange.headers), exchange.body))
            yield "sleep", retry_after

    def _exchange_for(self, case: S, path: str) -> Exchange[S]:
        headers = {"Content-Type": case.content_type, "Accept": "application/json", **self._auth_headers(case)}
        return Exchange(case, "POST", self.settings.base_url.rstrip("/") + path, headers, case.content)

    async def send(self, case: S, path: str = "/v1/sending") -> Exchange[S]:
        """Send `case`, retrying 429 within bounds; never raises for what the server does."""
        import anyio  # here: a run over the blocking client (`send_now`) never loads an event loop's machinery

        exchange = self._exchange_for(case, path)
        for step, seconds in self._steps(exchange):
            if step == "sleep":
                await anyio.sleep(seconds)
            else:
                await self._once(exchange, path)
        return exchange

    def send_now(self, case: S, path: str = "/v1/sending") -> Exchange[S]:
        """`send`, blocking, over the synchronous client `blocking()` opened."""
        exchange = self._exchange_for(case, path)
        for step, seconds in self._steps(exchange):
            if step == "sleep":
                time.sleep(seconds)
            else:
                self._once_now(exchange, path)
        return exchange

    @contextlib.contextmanager
    def blocking(self) -> Iterator[bool]:
        """Open the synchronous client `send_now` uses; yields False when there is none to open
        (an in-process app, reached over its event loop, or an httpx whose pool cannot take the
        deadline), and the caller keeps to `send`."""
        if self.app is not None:
            yield False
            return
        # built as the async client is (no transport given): the environment's proxies (HTTP_PROXY,
        # NO_PROXY; none for a loopback target: `client_mounts`) are mounted as they are there, each a pool of its own to keep to the deadline;
        # certificates are verified with httpx's own context, made at the first handshake (`_TrustLater`)
        verify: ssl.SSLContext | bool = _TrustLater(ssl.PROTOCOL_TLS_CLIENT) if self.settings.verify_tls else False
        client = httpx.Client(**{**self._client_options(), "verify": verify})
        mounted = [transport for transport in getattr(client, "_mounts", {}).values() if transport is not None]
        pools = [getattr(transport, "_pool", None) for transport in (getattr(client, "_transport", None), *mounted)]
        backends: list[tuple[Any, httpcore.NetworkBackend]] = []  # httpcore's private attribute, where it is
        for pool in pools:
            backend = getattr(pool, "_network_backend", None)
            if backend is None:
                client.close()
                yield False
                return
            backends.append((pool, backend))
        # every socket operation of an exchange gets at most the time left of its one deadline
        for pool, backend in backends:
            pool._network_backend = _DeadlineBackend(backend, self._deadline)
        self._sync = client
        try:
            yield True
        finally:
            self._sync.close()
            self._sync = None

    def _start(self, exchange: Exchange[Any], client: httpx.Client | httpx.AsyncClient, path: str) -> httpx.Request | None:
        """The request to send (None: the client refuses to build it, noted in the exchange); counts it as sent."""
        exchange.status, exchange.headers, exchange.body = None, {}, b""
        exchange.body_size, exchange.truncated, exchange.timed_out, exchange.error = 0, False, False, None
        try:
            request = client.build_request("POST", path, headers=exchange.request_headers, content=exchange.request_content)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # a header or URL the client will not send
            exchange.client_error = f"{type(exc).__name__}: {_reason(exc)}"
            return None
        self.requests_sent += 1
        return request

    def _failed(self, exchange: Exchange[Any], exc: BaseException) -> None:
        """What an exception during the exchange says about the server (or the client)."""
        if isinstance(exc, (TimeoutError, _Overdue)):
            exchange.timed_out = True
            exchange.error = f"no complete answer within {self.settings.timeout:g} s"
        elif isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            exchange.error = f"cannot connect: {_reason(exc)}"
        elif isinstance(exc, httpx.TimeoutException):
            exchange.timed_out = True
            exchange.error = f"timed out: {_reason(exc)}"
        elif isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            exchange.error = f"connection failed mid-exchange: {_reason(exc)}"
        elif isinstance(exc, (httpx.LocalProtocolError, httpx.UnsupportedProtocol)):  # refused before it left
            exchange.client_error = f"{type(exc).__name__}: {_reason(exc)}"
        elif isinstance(exc, httpx.HTTPError):
            exchange.error = f"{type(exc).__name__}: {_reason(exc)}"
        else:
            exchange.error = f"{type(exc).__name__}: {exc}"

    async def _once(self, exchange: Exchange[Any], path: str) -> None:
        import anyio

        assert self._client is not None
        request = self._start(exchange, self._client, path)
        if request is None:
            return
        started = time.perf_counter()
        try:
            with anyio.fail_after(self.settings.timeout):
                await self._exchange(exchange, request)
        except _EXCHANGE_ERRORS as exc:
            self._failed(exchange, exc)
        finally:
            if exchange.error:
                exchange.error = clean_text(exchange.error)
            exchange.elapsed = time.perf_counter() - started

    def _once_now(self, exchange: Exchange[Any], path: str) -> None:
        assert self._sync is not None
        request = self._start(exchange, self._sync, path)
        if request is None:
            return
        started = time.perf_counter()
        self._deadline.at = started + self.settings.timeout
        try:
            self._exchange_now(exchange, request)
        except _EXCHANGE_ERRORS as exc:
            # a socket timeout the deadline cut short is the deadline passing: in the async driver's words
            self._failed(exchange, _Overdue() if isinstance(exc, httpx.TimeoutException) and self._deadline.cut else exc)
        finally:
            self._deadline.at = None
            if exchange.error:
                exchange.error = clean_text(exchange.error)
            exchange.elapsed = time.perf_counter() - started

    async def _exchange(self, exchange: Exchange[Any], request: httpx.Request | None) -> None:
        assert self._client is not None
        hops = _Hops(self.settings, exchange)
        while request is not None:
            response = await self._client.send(request, stream=True)
            try:
                body = hops.answered(response)
                async for raw in response.aiter_raw():
                    if body.feed(raw):
                        break
                body.finish()
            finally:
                await response.aclose()
            request = hops.next_request(response, self._client)

    def _exchange_now(self, exchange: Exchange[Any], request: httpx.Request | None) -> None:
        assert self._sync is not None
        hops = _Hops(self.settings, exchange)
        while request is not None:
            response = self._sync.send(request, stream=True)
            try:
                body = hops.answered(response)
                for raw in response.iter_raw():
                    if body.feed(raw):
                        break
                body.finish()
            finally:
                response.close()
            request = hops.next_request(response, self._sync)


class _Overdue(Exception):
    """The exchange's one deadline passed (raised by the blocking driver's sockets)."""


_EXCHANGE_ERRORS = (TimeoutError, _Overdue, httpx.HTTPError, OSError, ValueError, Broken, Unknown)


class _Deadline:
    """The deadline of the blocking exchange under way (None between exchanges)."""

    at: float | None = None
    cut = False  # whether the last socket operation was given the time left rather than its own timeout

    def bound(self, timeout: float | None) -> float | None:
        """`timeout`, cut to what is left of the deadline; `_Overdue` once it has passed."""
        self.cut = False
        if self.at is None:
            return timeout
        left = self.at - time.perf_counter()
        if left <= 0:
            raise _Overdue()
        self.cut = timeout is None or left < timeout
        return left if self.cut else timeout


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write waits at most until the exchange's deadline.

    httpx's synchronous client bounds each read, not the exchange: a server trickling its
    answer a byte at a time would keep it going for as long as it likes.
    """

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._stream, self._deadline = stream, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.bound(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.bound(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> httpcore.NetworkStream:
        if isinstance(ssl_context, _TrustLater):
            ssl_context = ssl_context.verifying()
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, self._deadline.bound(timeout)), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _TrustLater(ssl.SSLContext):
    """The blocking client's TLS context until a handshake needs one: then httpx's own, made once.

    httpx builds its verifying context (`httpx.create_ssl_context`: SSL_CERT_FILE,
    SSL_CERT_DIR or certifi's bundle) when the client is built: reading the bundle is ~19 ms
    of CPU in every run, and a run against an http:// URL (a mock, a local server) never
    shakes hands. Every connection of the blocking client goes through `_DeadlineStream`,
    whose `start_tls` hands over `verifying()`, with the ALPN protocols httpcore asked of
    this one. This context itself trusts no certificate (it verifies, and holds no
    authority): a handshake made with it some other way fails, it never passes unverified.
    """

    _alpn: list[str] | None = None
    _verifying: ssl.SSLContext | None = None
    _lock = threading.Lock()

    def set_alpn_protocols(self, alpn_protocols: Any) -> None:
        self._alpn = list(alpn_protocols)
        super().set_alpn_protocols(alpn_protocols)

    def verifying(self) -> ssl.SSLContext:
        with self._lock:
            if self._verifying is None:
                self._verifying = httpx.create_ssl_context(verify=True)
            if self._alpn is not None:
                self._verifying.set_alpn_protocols(self._alpn)
            return self._verifying


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend, its connections kept to the exchange's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend, deadline: _Deadline) -> None:
        self._inner, self._deadline = inner, deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, self._deadline.bound(timeout), local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, self._deadline.bound(timeout), socket_options), self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Hops:
    """The answers of one exchange: status and headers taken, each body read within the cap, redirects followed or not."""

    def __init__(self, settings: TargetSettings, exchange: Exchange[Any]) -> None:
        self.settings, self.exchange = settings, exchange
        self.headers = dict(exchange.request_headers)
        self.sent = 0

    def answered(self, response: httpx.Response) -> _BodyReader:
        exchange = self.exchange
        self.sent += 1
        exchange.status = response.status_code
        # a repeated field joined, as every way in folds it (never the last alone: a second Content-Type shows)
        # (a value without its optional whitespace first: an HTAB around it is none of it, and cleaning would mark it)
        exchange.headers = joined([(clean_text(k), clean_text(trimmed(v))) for k, v in response.headers.multi_items()])
        return _BodyReader(exchange, self.settings.max_response_bytes, response.headers.get("content-encoding", ""))

    def next_request(self, response: httpx.Response, client: httpx.Client | httpx.AsyncClient) -> httpx.Request | None:
        """The redirect to follow (when asked, within the bound), without credentials to another origin; else None."""
        location = response.headers.get("location")
        if not (self.settings.follow_redirects and response.is_redirect and location):
            return None
        target = response.url.join(location)
        self.exchange.redirects.append(str(target))
        if self.sent > self.settings.max_redirects:
            return None
        if _origin(target) != _origin(response.url):
            self.headers = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "cookie", "x-api-key")}
        return client.build_request("POST", str(target), headers=self.headers, content=self.exchange.request_content)


class _BodyReader:
    """A body read chunk by chunk, decoded (`wire.coding`), up to the cap (what is past it is dropped, and noted)."""

    def __init__(self, exchange: Exchange[Any], cap: int, encoding: str) -> None:
        self.exchange = exchange
        try:
            self.decoder = ContentDecoder(codings_of([encoding]), cap)
        except Unknown:  # a coding the client did not ask for (it asks gzip, deflate): the bytes are judged as they came
            self.decoder = ContentDecoder([], cap)
        self.chunks: list[bytes] = []

    def feed(self, raw: bytes) -> bool:
        """Take one raw chunk; True once the cap is reached (read no more). `Broken` when it cannot be decoded."""
        self.exchange.body_size += len(raw)
        self.chunks.append(self.decoder.feed(raw))
        if self.decoder.cut:
            self.exchange.truncated = True
        return self.decoder.cut

    def finish(self) -> None:
        self.exchange.body_note = self.decoder.finish()
        self.exchange.body = b"".join(self.chunks)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


_SECONDS = re.compile(r"\d{1,9}(?:\.\d{1,6})?")


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait: RFC 9110 gives whole seconds or an HTTP date; fractions (test servers, the mock) are honoured too."""
    if value is None:
        return None
    value = trimmed(value)
    if _SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, math.ceil(when.timestamp() - time.time()))


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not str(cause):
        cause = cause.__cause__ or cause.__context__
    return f"{text}" if cause is None or str(cause) in text else f"{text} ({cause})"
