"""Sending cases to a target: a URL over HTTP, or an ASGI app in-process.

Everything a hostile or broken server can do is bounded here: each exchange has one
deadline covering connect, headers and body (a server trickling a byte a second still
ends); bodies are read with a cap, compressed ones decompressed with a cap; redirects
are not followed unless asked, and never carry credentials to another origin; 429 is
retried after `Retry-After`, a bounded number of times for a bounded wait (a request
with an `Idempotency-Key` no more than `max_sends_per_key` times in all); a request rate
can be set, and the pace slows by itself after a 429 (`Pace`), so a rate-limited target
is followed rather than failed.

Text from the server enters here: header names and values and error texts are cleaned
of control characters (`_untrusted.clean_text`) as they are read, so nothing downstream
holds an ESC, a NUL or a bidirectional override from the wire. Bodies stay bytes (the
checks judge bytes) and are cleaned where they become text (`_records.excerpt`).
"""

from __future__ import annotations

import email.utils
import math
import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from .._cases import Case, CaseAuth
from .._untrusted import clean_text
from .._version import __version__

__all__ = ["Attempt", "Exchange", "Pace", "Target", "TargetSettings", "inflate"]

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


@dataclass(frozen=True)
class Attempt:
    """An answer that was retried (a 429), kept for the rules about it."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Exchange:
    """One case sent and what came back (or why nothing did)."""

    case: Case
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

    @property
    def answered(self) -> bool:
        return self.status is not None and not self.timed_out


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

    def __init__(self, rate: float | None, clock: Any = time.monotonic) -> None:
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

    async def __aenter__(self) -> Target:
        transport = httpx.ASGITransport(app=self.app) if self.app is not None else None
        self._client = httpx.AsyncClient(
            base_url=self.settings.base_url,
            transport=transport,
            verify=self.settings.verify_tls,
            follow_redirects=False,
            timeout=httpx.Timeout(self.settings.timeout, connect=self.settings.timeout * 0.8),
            headers={"User-Agent": USER_AGENT},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    def _auth_headers(self, case: Case) -> dict[str, str]:
        if case.auth == CaseAuth.EXPLICIT:
            return dict(case.headers)
        key = self.settings.api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        headers.update(case.headers)
        return headers

    def uses_left(self, key: str | None) -> bool:
        """Whether a request with this Idempotency-Key may still be sent."""
        limit = self.settings.max_sends_per_key
        return key is None or limit is None or self.key_uses.get(key, 0) < limit

    async def send(self, case: Case, path: str = "/v1/sending") -> Exchange:
        """Send `case`, retrying 429 within bounds; never raises for what the server does."""
        headers = {"Content-Type": case.content_type, "Accept": "application/json", **self._auth_headers(case)}
        exchange = Exchange(case, "POST", self.settings.base_url.rstrip("/") + path, headers, case.content)
        key = case.idempotency_key
        for attempt in range(self.settings.max_retries + 1):
            wait = self.pace.slot()
            if wait:
                await anyio.sleep(wait)
            if key is not None:
                self.key_uses[key] = self.key_uses.get(key, 0) + 1
            await self._once(exchange, path)
            retry_after = _retry_after(exchange.headers.get("retry-after")) if exchange.status == 429 else None
            # never slower than the longest wait honoured: a hostile Retry-After cannot stall the run
            self.pace.answered(exchange.status, None if retry_after is None else min(retry_after, self.settings.max_retry_wait))
            if exchange.status != 429 or attempt == self.settings.max_retries or not self.uses_left(key):
                break
            if retry_after is None or retry_after > self.settings.max_retry_wait:
                break
            assert exchange.status is not None
            exchange.throttled.append(Attempt(exchange.status, dict(exchange.headers), exchange.body))
            await anyio.sleep(retry_after)
        return exchange

    async def _once(self, exchange: Exchange, path: str) -> None:
        assert self._client is not None
        exchange.status, exchange.headers, exchange.body = None, {}, b""
        exchange.body_size, exchange.truncated, exchange.timed_out, exchange.error = 0, False, False, None
        try:
            request = self._client.build_request("POST", path, headers=exchange.request_headers, content=exchange.request_content)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # a header or URL the client will not send
            exchange.client_error = f"{type(exc).__name__}: {_reason(exc)}"
            return
        self.requests_sent += 1
        started = time.perf_counter()
        try:
            with anyio.fail_after(self.settings.timeout):
                await self._exchange(exchange, request)
        except TimeoutError:
            exchange.timed_out = True
            exchange.error = f"no complete answer within {self.settings.timeout:g} s"
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            exchange.error = f"cannot connect: {_reason(exc)}"
        except httpx.TimeoutException as exc:
            exchange.timed_out = True
            exchange.error = f"timed out: {_reason(exc)}"
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            exchange.error = f"connection failed mid-exchange: {_reason(exc)}"
        except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:  # refused before it left
            exchange.client_error = f"{type(exc).__name__}: {_reason(exc)}"
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {_reason(exc)}"
        except (OSError, ValueError, zlib.error) as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
        finally:
            if exchange.error:
                exchange.error = clean_text(exchange.error)
            exchange.elapsed = time.perf_counter() - started

    async def _exchange(self, exchange: Exchange, request: httpx.Request) -> None:
        assert self._client is not None
        headers = dict(exchange.request_headers)
        for _ in range(self.settings.max_redirects + 1):
            response = await self._client.send(request, stream=True)
            try:
                exchange.status = response.status_code
                exchange.headers = {clean_text(k.lower()): clean_text(v) for k, v in response.headers.multi_items()}
                await self._read_body(response, exchange)
            finally:
                await response.aclose()
            location = response.headers.get("location")
            if not (self.settings.follow_redirects and response.is_redirect and location):
                return
            target = response.url.join(location)
            exchange.redirects.append(str(target))
            if _origin(target) != _origin(response.url):
                headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie", "x-api-key")}
            request = self._client.build_request("POST", str(target), headers=headers, content=exchange.request_content)

    async def _read_body(self, response: httpx.Response, exchange: Exchange) -> None:
        cap = self.settings.max_response_bytes
        encoding = response.headers.get("content-encoding", "").strip().lower()
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 32) if encoding in ("gzip", "deflate", "x-gzip") else None
        chunks: list[bytes] = []
        kept = 0
        async for raw in response.aiter_raw():
            exchange.body_size += len(raw)
            data = inflate.decompress(raw, max(cap - kept, 0) + 1) if inflate is not None else raw
            if kept + len(data) > cap or (inflate is not None and inflate.unconsumed_tail):
                chunks.append(data[: cap - kept])
                exchange.truncated = True
                break
            chunks.append(data)
            kept += len(data)
        exchange.body = b"".join(chunks)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


_SECONDS = re.compile(r"\d{1,9}(?:\.\d{1,6})?")


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait: RFC 9110 gives whole seconds or an HTTP date; fractions (test servers, the mock) are honoured too."""
    if value is None:
        return None
    value = value.strip()
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


def inflate(raw: bytes, encoding: str, cap: int) -> bytes | None:
    """A whole body held as sent (`Content-Encoding`), decoded up to `cap` bytes; None when it cannot be."""
    encoding = encoding.strip().lower()
    if not encoding or encoding == "identity":
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return None
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
    try:
        data = inflater.decompress(raw, cap + 1)
    except zlib.error:
        return None
    return None if len(data) > cap or inflater.unconsumed_tail or not inflater.eof else data
