"""What the mock remembers: accepted sends, every request with its verdict, idempotent
replies, rate-limit windows, scripted answers.

Idempotent replies follow the vendor's wider contract (the catalogue's vendor set): one
entry per (API key, `Idempotency-Key`), holding the body's digest and the accepted answer,
kept for `IDEMPOTENCY_WINDOW_S` (24 h) on the state's clock, which a test may replace.
Only accepted sends are stored: a 429 or 5xx never is (the contract), a 4xx is not either
(the toolkit's choice where the sources are silent: a refusal retried after the world was
fixed is processed anew).

The ASGI handlers run on one event loop, but tests read `mock.sent` from other threads,
so every access takes one lock. Memory is bounded in bytes, not only in entries: the sent
log, the request log and the idempotent replies share one budget (`limits.memory_bytes`,
64 MiB by default); each entry costs its body's size (and a request its headers' too) plus
a fixed overhead, and the oldest entry of any of the three is dropped first, and counted.
A log entry is one bytes object that holds the body and the rest of its record (`_Log`),
so what is counted is what is held; bodies are parsed again when read.
"""

from __future__ import annotations

import json
import marshal
import random
import struct
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from typing import TYPE_CHECKING, Any

from migma_contract.contract.catalogue import IDEMPOTENCY_WINDOW_S
from migma_contract.contract.validators import Violation
from migma_contract.core.bounded import loads
from migma_contract.core.redact import Redactor

if TYPE_CHECKING:
    import httpx

__all__ = ["MockRequest", "MockState", "Scripted", "SentRecord", "Stored"]

_IDEMPOTENCY_KEYS = 1000
ENTRY_OVERHEAD = 1024  # bytes an entry costs besides its body (record, strings, container slots)
# bytes a kept header costs besides its name and value: its (name, value) tuple, two bytes objects, a list slot;
# counted, so that a head of thousands of tiny headers (16 KiB allow ~3,000) costs what it holds
HEADER_OVERHEAD = sys.getsizeof((b"", b"")) + 2 * sys.getsizeof(b"") + 8


@dataclass(frozen=True)
class SentRecord:
    """One accepted send, as a consumer's test wants to inspect it."""

    id: str
    at: str
    recipient_type: str
    raw_request: bytes = field(repr=False, compare=False)
    recipients: tuple[str, ...] = ()
    excluded: dict[str, str] = field(default_factory=dict)
    transactional: bool = True
    list_unsubscribe: bool = False
    provider: str = "migma"
    project_id: str | None = None
    email_id: str | None = None
    conversation_id: str | None = None
    sent_count: int = 0
    idempotency_key: str | None = None
    user_agent: str | None = None

    @property
    def request(self) -> dict[str, Any]:
        """The body that was sent (parsed from the bytes kept)."""
        body: dict[str, Any] = loads(self.raw_request)  # only accepted sends are kept: an object (any integer a number)
        return body

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["raw_request"]
        data["request"] = self.request
        data["recipients"] = list(self.recipients)
        return data


@dataclass(frozen=True)
class MockRequest:
    """One request to the mock and its verdict: what it broke, what it was answered.

    `outcome` is one of: `accepted` (200, sent), `replayed` (200, the answer stored under
    its Idempotency-Key given again: nothing sent), `conflict` (409: the key came with
    another body), `refused` (it breaks a rule of the contract: `violations` say which),
    `world` (valid, but the mock's world refuses it: an unverified domain, an unknown id),
    `limit` (over the mock's size limits), `in-part` (a request the one judge reads in part, refused as a strict
    server may: a media type, a content coding, a field given twice, a body the judge does not read; `warnings`
    say why, no party is blamed), `fault` (an injected failure), `rate-limited`,
    `no-route` (no such endpoint), `disconnected` (the client left before the body arrived).

    What the client sent is there as a pytest-httpx or respx user expects it: `headers`
    (an `httpx.Headers`, case-insensitive, every header as it arrived) and `request` /
    `to_httpx()` (an `httpx.Request`: method, URL, headers, body).
    """

    seq: int
    at: str
    method: str
    path: str
    status: int
    outcome: str
    violations: tuple[Violation, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    content_type: str | None = None
    key_name: str | None = None
    idempotency_key: str | None = None
    user_agent: str | None = None
    raw: bytes = field(default=b"", repr=False, compare=False)
    raw_headers: Sequence[tuple[bytes, bytes]] = field(default=(), repr=False, compare=False)  # as the ASGI scope had them
    scheme: str = "http"
    query: bytes = field(default=b"", repr=False)

    @property
    def headers(self) -> httpx.Headers:
        """Every header the client sent, in order, names case-insensitive (`headers["x-trace"]`)."""
        import httpx

        return httpx.Headers(list(self.raw_headers))

    @property
    def url(self) -> str:
        """The URL the client asked for: its scheme, the `Host` it sent, the path and query."""
        host = self.headers.get("host") or "migma-mock"
        query = "?" + self.query.decode("latin-1") if self.query else ""
        return f"{self.scheme}://{host}{self.path}{query}"

    def to_httpx(self) -> httpx.Request:
        """The request as an `httpx.Request` (a new one each call): what the client sent, byte for byte."""
        import httpx

        return httpx.Request(self.method, self.url, headers=list(self.raw_headers), content=self.raw)

    @property
    def request(self) -> httpx.Request:
        """`to_httpx()`, as pytest-httpx's `get_request()` and respx's `calls.last.request` give it."""
        return self.to_httpx()

    @property
    def body(self) -> Any:
        """The JSON body sent, or None when it was not JSON."""
        try:
            return loads(self.raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None

    @property
    def breaks_contract(self) -> bool:
        """A request a conforming client never sends: it breaks a rule, or has no endpoint."""
        return bool(self.violations) or self.outcome == "no-route"

    def describe(self) -> str:
        """One line for people: method, path, status, and what it broke."""
        head = f"{self.method} {self.path} -> {self.status}"
        if self.violations:
            return head + "\n" + "\n".join(f"    {v}" for v in self.violations)
        return f"{head}: {self.error}" if self.error else head

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "at": self.at, "method": self.method, "path": self.path, "status": self.status,
            "outcome": self.outcome, "violations": [v.as_dict() for v in self.violations], "warnings": list(self.warnings),
            "error": self.error, "content_type": self.content_type, "key": self.key_name,
            "idempotency_key": self.idempotency_key, "user_agent": self.user_agent, "body": self.body,
            "body_size": len(self.raw), "headers": _shown_headers(self.raw_headers),
        }


_KEYS_MASKED = Redactor()


def _shown_headers(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers for the served log: credentials masked (`Bearer [REDACTED]`), repeated names joined as HTTP joins them."""
    shown: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = _KEYS_MASKED.header_value(key, value.decode("latin-1"))
        shown[key] = f"{shown[key]}, {text}" if key in shown else text
    return shown


@dataclass
class Scripted:
    """Answers queued by `fail_next`: the next `times` sends get `status`.

    `processed`: the send goes through first (recorded, its reply stored under its key),
    then its answer is replaced, as by a gateway that fails after the API did its work.
    """

    status: int
    times: int
    retry_after: int | None = None  # whole seconds
    error: str | None = None
    processed: bool = False


@dataclass(frozen=True)
class Stored:
    """An accepted answer kept under (API key, Idempotency-Key)."""

    digest: str
    at: float
    status: int
    payload: dict[str, Any]


# What an entry ends with: its sequence number and its cost against the byte budget.
_TAIL = struct.Struct("<QQ")
_tail, _pack_tail, _dumps, _TAIL_SIZE = _TAIL.unpack_from, _TAIL.pack, marshal.dumps, _TAIL.size
_MARSHAL_VERSION = 2  # (3 and 4 look for repeated objects, through a table made for each call)


class _Log:
    """A FIFO of entries, capped in entries; the byte budget is the state's.

    An entry is kept as one bytes object until the log is read: its record's fields
    (`marshal`: exact str, bytes, int, None, tuples, lists, dicts; any bytes-like value
    comes back as bytes; it only ever reads what this process wrote), then its seq and cost
    (`_TAIL`). A busy mock drops an entry
    thousands of requests after it kept it, far from every cache: one object per entry is
    one miss, where a tuple of the request's own objects (its body, its headers, its texts)
    was a dozen, and the pools they were freed into then held the next requests' objects
    (with the logs at one entry the mock's CPU per request was ~10 µs less, the whole
    difference). Reading the log makes the newest `unbuilt` entries into (seq, cost,
    record); fields that marshal cannot write (a caller's own str type) are kept as (seq,
    cost, fields) and made into their record then too.
    """

    def __init__(self, cap: int, build: Callable[..., Any]) -> None:
        self.cap = cap
        self.build = build
        self.entries: deque[Any] = deque()
        self.unbuilt = 0  # the newest entries not yet made into records
        self.dropped = 0

    def append(self, seq: int, cost: int, fields: Any, *, compact: bool = True) -> None:
        """Keep `fields` (what `build` makes the record from; or the record itself, with `compact` False)."""
        if compact:
            try:
                entry: Any = _dumps(fields, _MARSHAL_VERSION) + _pack_tail(seq, cost)
            except ValueError:  # a type marshal does not write (a str subclass): kept as the fields
                entry = (seq, cost, fields)
        else:
            entry = (seq, cost, fields)
        self.entries.append(entry)
        self.unbuilt += 1

    def keep(self, seq: int, cost: int, fields: Any) -> int:
        """`append` (compact) and, the log full, drop its oldest entry (`pop`): the bytes this adds to the budget."""
        try:
            entry: Any = _dumps(fields, _MARSHAL_VERSION) + _pack_tail(seq, cost)
        except ValueError:  # a type marshal does not write (a str subclass): kept as the fields
            entry = (seq, cost, fields)
        entries = self.entries
        entries.append(entry)
        self.unbuilt += 1
        if self.cap and len(entries) > self.cap:  # the common case of a busy mock
            return cost - self.pop()
        return cost

    @staticmethod
    def _head(entry: Any) -> tuple[int, int]:
        """(seq, cost) of an entry, whatever its form."""
        if type(entry) is bytes:
            seq, cost = _tail(entry, len(entry) - _TAIL.size)
            return seq, cost
        return entry[0], entry[1]

    def oldest(self) -> int | None:
        return self._head(self.entries[0])[0] if self.entries else None

    def pop(self) -> int:
        """Drop the oldest entry; its cost."""
        self.dropped += 1
        if self.unbuilt == len(self.entries):
            self.unbuilt -= 1
        entry = self.entries.popleft()
        return _tail(entry, len(entry) - _TAIL_SIZE)[1] if type(entry) is bytes else entry[1]  # type: ignore[no-any-return]

    def clear(self) -> None:
        self.entries.clear()
        self.unbuilt = self.dropped = 0

    def items(self) -> list[Any]:
        if self.unbuilt:
            entries, fresh = self.entries, []
            for _ in range(self.unbuilt):
                entry = entries.pop()
                seq, cost = self._head(entry)
                fields = marshal.loads(entry) if type(entry) is bytes else entry[2]  # (marshal ignores the tail)
                fresh.append((seq, cost, self.build(seq, fields)))
            entries.extend(reversed(fresh))
            self.unbuilt = 0
        return [record for _, _, record in self.entries]


def _request_from(seq: int, fields: Any) -> MockRequest:
    """A logged request's record from its kept fields (`MockState.log_call`), its violations made again."""
    if type(fields) is MockRequest:  # (logged as a record: `log_request`)
        return fields
    violations = fields[_VIOLATIONS_AT]
    if violations:
        fields = (*fields[:_VIOLATIONS_AT], tuple(Violation(*violation) for violation in violations), *fields[_VIOLATIONS_AT + 1:])
    return MockRequest(seq, *fields)


def _sent_from(seq: int, fields: tuple[Any, ...]) -> SentRecord:
    return SentRecord(*fields)


_AFTER_SEQ = [f.name for f in dataclass_fields(MockRequest)][1:]  # the fields `log_call` is given, in order
_VIOLATIONS_AT = _AFTER_SEQ.index("violations")


class MockState:
    def __init__(self, *, sent_log: int = 10000, request_log: int = 10000, memory_bytes: int = 64 << 20, seed: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self.clock = clock  # the idempotency window's time (seconds); a test passes its own
        self._sent = _Log(sent_log, _sent_from)
        self._requests = _Log(request_log, _request_from)
        self._replies: OrderedDict[tuple[str, str], tuple[int, int, Stored]] = OrderedDict()
        self._replies_dropped = 0
        self._memory_bytes = memory_bytes
        self._bytes = 0
        self._seq = 0
        self._windows: dict[str, tuple[float, int]] = {}
        self._script: deque[Scripted] = deque()
        self._seed = seed
        self._random = random.Random(seed)
        self.requests = 0

    def configure(self, *, sent_log: int, request_log: int, memory_bytes: int, seed: int) -> None:
        """New limits and seed (a reconfigured mock); entries over the new limits are dropped."""
        with self._lock:
            self._sent.cap, self._requests.cap, self._memory_bytes = sent_log, request_log, memory_bytes
            self._seed, self._random = seed, random.Random(seed)
            self._trim()

    # -- the byte budget ----------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _trim(self) -> None:
        """Drop entries until every log is within its count (0: no cap) and all within the byte budget."""
        for log in (self._sent, self._requests):
            while log.cap and len(log.entries) > log.cap:
                self._bytes -= log.pop()
        while self._bytes > self._memory_bytes or len(self._replies) > _IDEMPOTENCY_KEYS:
            heads = [(seq, name) for name, seq in (("sent", self._sent.oldest()), ("requests", self._requests.oldest()),
                                                   ("replies", self._oldest_reply())) if seq is not None]
            if len(self._replies) > _IDEMPOTENCY_KEYS:
                heads = [(0, "replies")]
            if not heads:
                break
            _, name = min(heads)
            if name == "replies":
                self._bytes -= self._replies.popitem(last=False)[1][1]
                self._replies_dropped += 1
            else:
                self._bytes -= (self._sent if name == "sent" else self._requests).pop()

    def _oldest_reply(self) -> int | None:
        return next(iter(self._replies.values()))[0] if self._replies else None

    def _add(self, log: _Log, seq: int, fields: Any, cost: int, *, compact: bool = True) -> None:
        log.append(seq, cost, fields, compact=compact)
        self._bytes += cost
        if log.cap and len(log.entries) > log.cap:  # a full log drops its oldest: the common case, done here
            self._bytes -= log.pop()
        if self._bytes > self._memory_bytes:
            self._trim()

    # -- sends and requests -------------------------------------------------------------------

    def record(self, *fields: Any) -> None:
        """An accepted send: SentRecord's fields in order (made into one when `sent` is read)."""
        with self._lock:
            self._seq = seq = self._seq + 1
            self._bytes += self._sent.keep(seq, len(fields[3]) + ENTRY_OVERHEAD, fields)
            if self._bytes > self._memory_bytes:
                self._trim()

    def log_request(self, **fields: Any) -> None:
        """A request the API path did not answer (no route), kept as its record."""
        with self._lock:
            entry = MockRequest(seq=self._next_seq(), **fields)
            head = sum(len(k) + len(v) + HEADER_OVERHEAD for k, v in entry.raw_headers)
            self._add(self._requests, entry.seq, entry, len(entry.raw) + head + ENTRY_OVERHEAD, compact=False)

    def log_call(self, size: int, *fields: Any) -> None:
        """A request to the API, answered: MockRequest's fields after `seq`, in order (made into one when read);
        `size` is what it holds (its body and headers), counted against the byte budget. Its violations are kept
        as tuples, which marshal writes."""
        violations = fields[_VIOLATIONS_AT]
        if violations:
            fields = (*fields[:_VIOLATIONS_AT], tuple((v.rule_id, v.level, v.pointer, v.message) for v in violations),
                      *fields[_VIOLATIONS_AT + 1:])
        with self._lock:
            self.requests += 1
            self._seq = seq = self._seq + 1
            self._bytes += self._requests.keep(seq, size + ENTRY_OVERHEAD, fields)
            if self._bytes > self._memory_bytes:
                self._trim()

    @property
    def sent(self) -> list[SentRecord]:
        with self._lock:
            return self._sent.items()

    @property
    def request_log(self) -> list[MockRequest]:
        with self._lock:
            return self._requests.items()

    @property
    def dropped(self) -> int:
        """Accepted sends dropped from the log (over `limits.sent_log` or the byte budget)."""
        with self._lock:
            return self._sent.dropped

    @property
    def dropped_requests(self) -> int:
        with self._lock:
            return self._requests.dropped

    @property
    def memory(self) -> dict[str, int]:
        """Bytes held against the budget, and what was dropped to keep within it."""
        with self._lock:
            return {"bytes": self._bytes, "budget": self._memory_bytes, "dropped_sent": self._sent.dropped,
                    "dropped_requests": self._requests.dropped, "dropped_replies": self._replies_dropped}

    def reset(self) -> int:
        with self._lock:
            cleared = len(self._sent.entries)
            for log in (self._sent, self._requests):
                log.clear()
            self._replies.clear()
            self._replies_dropped = 0
            self._bytes = 0
            self._windows.clear()
            self._script.clear()
            self._random = random.Random(self._seed)
            self.requests = 0
            return cleared

    # -- faults -------------------------------------------------------------------------------

    def draw(self) -> float:
        with self._lock:
            return self._random.random()

    def script(self, answers: Iterable[Scripted]) -> None:
        with self._lock:
            self._script.extend(answers)

    def take_scripted(self) -> Scripted | None:
        """The next scripted answer, if one is queued (each counts down its `times`)."""
        if not self._script:  # the common case, read without the lock (a deque's length is read atomically)
            return None
        with self._lock:
            if not self._script:
                return None
            head = self._script[0]
            head.times -= 1
            if head.times <= 0:
                self._script.popleft()
            return head

    @property
    def scripted_left(self) -> int:
        with self._lock:
            return sum(s.times for s in self._script)

    # -- idempotency and rate limits ----------------------------------------------------------

    def stored_reply(self, api_key: str, key: str) -> Stored | None:
        """The answer stored under this API key and Idempotency-Key within the window (None: the key is new)."""
        with self._lock:
            entry = self._replies.get((api_key, key))
            if entry is None:
                return None
            if self.clock() - entry[2].at >= IDEMPOTENCY_WINDOW_S:
                self._bytes -= self._replies.pop((api_key, key))[1]
                return None
            return entry[2]

    def store_reply(self, api_key: str, key: str, digest: str, status: int, payload: dict[str, Any]) -> None:
        """Keep an accepted answer for the window; entries past it go first, then the oldest (bytes and count bounded)."""
        with self._lock:
            now = self.clock()
            old = self._replies.pop((api_key, key), None)
            if old is not None:
                self._bytes -= old[1]
            while self._replies:
                oldest_key, (_, cost, stored) = next(iter(self._replies.items()))
                if now - stored.at < IDEMPOTENCY_WINDOW_S:
                    break
                del self._replies[oldest_key]
                self._bytes -= cost
            cost = len(api_key) + len(key) + len(digest) + len(json.dumps(payload)) + ENTRY_OVERHEAD
            self._replies[(api_key, key)] = (self._next_seq(), cost, Stored(digest, now, status, payload))
            self._bytes += cost
            self._trim()

    def take_slot(self, client: str, limit: int, window: float) -> float | None:
        """Count a request in `client`'s fixed window; seconds to wait when it is full."""
        now = time.monotonic()
        with self._lock:
            start, used = self._windows.get(client, (now, 0))
            if now - start >= window:
                start, used = now, 0
            if used >= limit:
                return window - (now - start)
            self._windows[client] = (start, used + 1)
            return None
