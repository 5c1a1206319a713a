"""The reference mock: POST /v1/sending answered exactly as the contract says.

Which statuses it answers and which bodies it refuses come from the rule catalogue (the
same compiled request validator `validate_request` uses, the statuses the auth and
request rules demand); what it models beyond that (keys and scopes, verified domains,
known emails, lists and contacts) comes from its configuration. Every request is recorded
with its verdict (the rules it breaks, whatever it was answered), so a consumer's test can
fail on a request its code should never have sent. Inspection endpoints live under
`/_mock/`, apart from the API's own paths, and answer only local, same-origin callers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from migma_contract.contract.catalogue import (
    ACCEPTS_VALID,
    AUTH_REQUIRED,
    BODY_FORM,
    BODY_JSON_OBJECT,
    BODY_UTF8,
    CONFLICT_CODE,
    IDEMPOTENCY_CONFLICT,
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_LENGTH,
    MAX_IDEMPOTENCY_KEY,
    REPLAYED_HEADER,
    SINGLE_TYPE,
    get_rule,
    judge_credentials,
    retry_after_value,
)
from migma_contract.contract.rules import Level, NotUtf8, Refused, Rule, TooDeep, bearer_key, repeated_member
from migma_contract.contract.validators import Contract, Violation, contract_for
from migma_contract.core.fields import trimmed
from migma_contract.document.spec import OPERATION_PATH, Spec
from migma_contract.judge.deserve import DATA_REFUSAL, Ambiguous, parsed_body, refusal_status
from migma_contract.judge.refusals import coded
from migma_contract.judge.verdict import ONE_VALUE_FIELDS, request_doubt
from migma_contract.mock._config import MockConfig, load_mock_config
from migma_contract.mock._state import HEADER_OVERHEAD, MockRequest, MockState, Scripted, SentRecord
from migma_contract.wire.boundary import foreign_request, read_capped

__all__ = ["ReferenceMock", "create_app"]

STATUS_OK = ACCEPTS_VALID.deserves
_BODY = BODY_FORM
JSON_TYPES = ("application/json",)
_AUTH_MEMO = 64  # Authorization values whose reading is kept (per configuration); past it the memo starts again


class _Refusal(Exception):
    """Answer with an `ApiError` body and this status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.headers, self.extra = status, message, headers or {}, extra

    def answer(self) -> _Answer:
        return _Answer(self.status, {"success": False, "error": self.message, **self.extra}, self.headers)


_encode_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode  # built once
# the headers the API path reads (and logs)
_IDEMPOTENCY = IDEMPOTENCY_HEADER.lower()
_READ_HEADERS = {name.encode("latin-1"): name for name in ("authorization", "content-type", "content-length", _IDEMPOTENCY,
                                                          "user-agent", "content-encoding")}
_UNSUPPORTED = 415  # RFC 9110 §15.5.16: a media type or content coding the server does not read


# The accepted send's answer, the mock's most common one, written from a template: the generic
# encoder builds its C encoder anew on each call (~2 µs of a ~17 µs send). Used only when `data`
# has exactly these keys, in this order, with these types; tests hold it to `_encode_json`.
_ACCEPTED_JSON = '{"success":true,"data":{"id":%s,"provider":%s,"status":%s,"sentCount":%d,"message":%s},"error":null}'
_PAYLOAD_KEYS = ("success", "data", "error")
_ACCEPTED_KEYS = ("id", "provider", "status", "sentCount", "message")
_json_string = json.encoder.encode_basestring  # the string writer of ensure_ascii=False


def _payload_json(payload: dict[str, Any]) -> str:
    """`payload` as `_encode_json` writes it."""
    if tuple(payload) == _PAYLOAD_KEYS and payload["success"] is True and payload["error"] is None:
        data = payload["data"]
        if type(data) is dict and tuple(data) == _ACCEPTED_KEYS:
            id_, provider, status, count, message = data.values()
            if type(id_) is type(provider) is type(status) is type(message) is str and type(count) is int:
                return _ACCEPTED_JSON % (_json_string(id_), _json_string(provider), _json_string(status), count, _json_string(message))
    return _encode_json(payload)


_QUEUED_TRANSACTIONAL, _QUEUED_MARKETING = "Email queued for delivery (transactional)", "Email queued for delivery (marketing)"
_JSON_TEXTS: dict[str, str] = {}  # providers and messages as JSON strings: a handful of values, written once


def _accepted_json(data: dict[str, Any]) -> bytes | None:
    """`_payload_json` of the accepted answer with this `data`, as `_accept` makes it (its keys in order; None: a
    providerType of another type, which only a level below the enum lets through, is left to `_payload_json`)."""
    id_, provider, status, count, message = data.values()
    if type(provider) is not str:
        return None
    if (shown := _JSON_TEXTS.get(provider)) is None:
        shown = _json_text(provider)
    if (said := _JSON_TEXTS.get(message)) is None:
        said = _json_text(message)
    return (_ACCEPTED_JSON % (_json_string(id_), shown, _json_string(status), count, said)).encode()


def _json_text(text: str) -> str:
    """`text` as a JSON string, kept in `_JSON_TEXTS` when short (a providerType is the client's: any length)."""
    shown: str = _json_string(text)
    if len(text) <= 64:
        if len(_JSON_TEXTS) >= 256:
            _JSON_TEXTS.clear()
        _JSON_TEXTS[text] = shown
    return shown


@dataclass(slots=True)
class _Answer:
    """What the API path answers: a status, a JSON body, extra headers."""

    status: int
    payload: dict[str, Any]
    headers: dict[str, str] | None = None
    body: bytes | None = None  # `payload` written already (`_accepted_json`)

    def encoded(self) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """The ASGI headers and body (the body encoded as Starlette's JSONResponse does)."""
        body = self.body if self.body is not None else _payload_json(self.payload).encode("utf-8")
        length = (b"content-length", b"%d" % len(body))
        if not self.headers:
            return [length, (b"content-type", b"application/json")], body
        # as Starlette's Response: the given headers first, then the length and type
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in self.headers.items()]
        return [*headers, length, (b"content-type", b"application/json")], body


@dataclass(frozen=True, slots=True)
class _AsgiEndpoint:
    """An ASGI app for a Starlette `Route` (a bound method there would be called with a Request)."""

    app: Callable[[Scope, Receive, Send], Awaitable[None]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@dataclass(slots=True)
class _Call:
    """One POST /v1/sending as the mock reads it: the request line, its headers (first of each name), the body stream.

    `raw_headers` are all of them as they arrived (kept in the request log), `head_size` their bytes; `repeated`: the
    fields the contract reads as one value (`ONE_VALUE_FIELDS`) given more than once."""

    method: str
    path: str
    headers: dict[str, str]
    receive: Receive
    raw_headers: list[tuple[bytes, bytes]]
    head_size: int
    scheme: str
    query: bytes
    repeated: tuple[str, ...] = ()

    @classmethod
    def of(cls, scope: Scope, receive: Receive) -> _Call:
        # ASGI header names arrive lowercased; the first of each name counts, as in Starlette's Headers.
        headers: dict[str, str] = {}
        repeated: tuple[str, ...] = ()
        raw = scope["headers"]
        for key, value in raw:
            name = _READ_HEADERS.get(key)
            if name is not None:
                if name not in headers:
                    headers[name] = value.decode("latin-1")
                elif name == "content-encoding":  # a list field (RFC 9110 §5.3): every coding counts, as the judge reads it
                    headers[name] += ", " + value.decode("latin-1")
                elif name in ONE_VALUE_FIELDS and name not in repeated:
                    repeated += (name,)
        size = sum(map(len, chain.from_iterable(raw))) + HEADER_OVERHEAD * len(raw)  # (counted in C)
        return cls(scope["method"], scope["path"], headers, receive, raw, size, scope.get("scheme", "http"),
                   scope.get("query_string", b""), repeated)

    async def body(self, limit: int) -> bytes | None:
        """The whole body (None once it is over `limit` bytes; ClientDisconnect when the client leaves first).

        The common case, the whole body in the first message and within the cap, is taken as it is; anything
        else goes through the one capped reader, that message first."""
        first = await self.receive()
        whole = _whole(first, limit)
        return whole if whole is not None else await self.rest(first, limit)

    async def rest(self, first: Any, limit: int) -> bytes | None:
        """`body` for a body that did not come whole, within the cap, in its `first` message."""
        pending = [first]

        async def again() -> Any:
            return pending.pop() if pending else await self.receive()

        read = await read_capped(again, limit)
        if read.disconnected:
            raise ClientDisconnect()
        return read.content


def _whole(first: Any, limit: int) -> bytes | None:
    """The body, when the first message of a request holds all of it within `limit` bytes (None: read on)."""
    if first["type"] == "http.request" and not first.get("more_body", False):
        chunk: bytes = first.get("body", b"")
        if len(chunk) <= limit:
            return chunk
    return None


_IN_PART = "in-part"  # the outcome of a request the one judge judges in part (`request_doubt`, `parsed_body`)


def _in_part(why: str, status: int | None) -> str:
    """The warning for a request the one judge leaves (in part) unjudged: why, and what the mock answered."""
    answered = (f"the mock refuses it {status}, as a strict server may" if status is not None else
                "the mock reads the first")
    return f"judged in part, no party blamed: {why} ({answered}; docs/check.md)"


def _unsupported(content_type: str | None, repeated: tuple[str, ...]) -> str:
    """The 415's message for a request whose media type the mock does not read."""
    if content_type is None:
        given = "no Content-Type"
    elif "content-type" in repeated:
        given = "Content-Type given more than once"
    else:
        given = f"Content-Type {content_type[:60]!r}"
    return f"{given} is not supported; send the body as JSON with one Content-Type: application/json (UTF-8)"


def _doubt_of(read: Any) -> str:
    """Why `parsed_body` left a body unread (an `Ambiguous`)."""
    assert type(read) is Ambiguous
    return read.why


def _unread(verdict: _Verdict, content_type: str, refused: Refused) -> tuple[Any, _Refusal]:
    """A body the mock does not read: the client's body-json-object break, unless the one judge leaves it unread too
    (`parsed_body`: a leading byte order mark, JSON whose reading RFC 8259 leaves open) or it is past the mock's own
    nesting bound (`limits.max_depth`): then refused 400 as a strict server may, with a warning, and no party blamed."""
    read = parsed_body(verdict.raw, content_type)
    status = BODY_JSON_OBJECT.deserves
    if type(read) is Ambiguous:
        verdict.outcome = _IN_PART
        verdict.warnings.append(_in_part(read.why, status))
    elif isinstance(refused, TooDeep):
        verdict.outcome = "limit"
        verdict.warnings.append(f"{refused.message}: past the mock's bound (limits.max_depth), not the contract's: no "
                                f"party blamed (the mock refuses it {status})")
    else:
        return _broken(verdict, refused.message)
    return None, _Refusal(status, refused.message)


def _unique(verdict: _Verdict, value: Any) -> tuple[Any, _Refusal | None]:
    """`value`, unless its body gives a member name twice in one object (`repeated_member`, as the one judge reads it:
    which value a server reads does not show): then refused 400 as a strict parser refuses it, with a warning, no
    party blamed."""
    repeat = repeated_member(verdict.raw, value)
    if repeat is None:
        return value, None
    status = BODY_JSON_OBJECT.deserves
    verdict.outcome = _IN_PART
    verdict.warnings.append(_in_part(Ambiguous.member(repeat).why, status))
    return None, _Refusal(status, f"the body gives {repeat.words()} in one object; send each member once")


def _broken(verdict: _Verdict, message: str) -> tuple[Any, _Refusal]:
    """A body that is no JSON object: noted in the verdict (rule body-json-object), and the refusal it deserves."""
    verdict.violations.append(Violation(BODY_JSON_OBJECT.id, BODY_JSON_OBJECT.level.value, "", message))
    return None, _Refusal(BODY_JSON_OBJECT.deserves, message)


def _error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": False, "error": message, **extra}, status_code=status, headers=headers)


class _InspectionJSON(JSONResponse):
    """JSON with every non-ASCII character escaped: a lone surrogate a client sent is listed, not a crash."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def seconds_header(seconds: float) -> str:
    """A wait as a Retry-After value: whole seconds, rounded up (a sub-second wait is 1; RFC 9110 has no fractions)."""
    return retry_after_value(math.ceil(seconds - 1e-9) if seconds > 0 else 0)


@dataclass(slots=True)
class _Verdict:
    """What is known about one request so far; logged whatever happens."""

    at: str = ""
    raw: bytes = b""
    outcome: str = "refused"
    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    key_name: str | None = None


class ReferenceMock:
    """An ASGI app implementing the contract, with its recorded sends and requests.

    Use it in-process (`httpx.ASGITransport(app=mock)`), on a loopback port
    (`with mock.running() as url: ...`), or from the command line (`migma-contract mock`).
    Change its world or faults while it runs with `configure(...)`; script the next
    answers with `fail_next(...)`.
    """

    def __init__(self, config: MockConfig | str | Path | dict[str, Any] | None = None, *, spec: Spec | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        first = config if isinstance(config, MockConfig) else load_mock_config(config)
        self.contract: Contract = contract_for(spec)
        self._strict = self.contract.request_validator(Level.STRICT).violations  # every rule, whatever the mock's level
        # ids for accepted sends: 96 random bits each, from a generator seeded once by the OS (a
        # getrandom call per send costs several µs on a virtual machine; ids need to be unique, not secret)
        self._ids = random.Random(os.urandom(16))
        self._default_provider = self.contract.spec.request_properties.get("providerType", {}).get("default", "migma")
        self._auth_memo: tuple[MockConfig | None, dict[str | None, tuple[str, str | None, tuple[Rule, str] | None]]] = (None, {})
        # `clock`: seconds, for the 24 h window of idempotent replies (a test passes its own; default time.monotonic)
        self.state = MockState(sent_log=first.sent_log, request_log=first.request_log,
                               memory_bytes=first.memory_bytes, seed=first.seed, **({"clock": clock} if clock else {}))
        self.config = first
        self.app = Starlette(
            routes=[
                # reached only by a path `__call__` does not recognise but Starlette's matching does
                Route(OPERATION_PATH, _AsgiEndpoint(self._api), methods=["POST"]),
                Route("/_mock/sent", self._guarded(self._list_sent), methods=["GET"]),
                Route("/_mock/requests", self._guarded(self._list_requests), methods=["GET"]),
                Route("/_mock/reset", self._guarded(self._reset), methods=["POST"]),
                Route("/_mock/health", self._guarded(self._health), methods=["GET"]),
            ],
            exception_handlers={HTTPException: self._http_error, Exception: self._crash},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The API's one operation is answered here directly (Starlette's request and response
        # objects and its routing would cost more than the mock's own work); every other path
        # and method goes through Starlette: inspection, 404/405, redirects.
        if scope["type"] == "http" and scope["method"] == "POST" and (
                (scope["path"] == OPERATION_PATH and not scope.get("root_path")) or _route_path(scope) == OPERATION_PATH):
            await self._api(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/sending as raw ASGI."""
        call = _Call.of(scope, receive)
        crash: Exception | None = None
        try:
            answer = await self._send(call)
        except Exception as exc:  # a bug in the mock, never expected: answered as Starlette's handler would
            crash = exc
            answer = _Refusal(500, f"internal error in the reference mock: {type(exc).__name__}").answer()
        headers, body = answer.encoded()
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if crash is not None:
            raise crash  # and then raised to the server, as Starlette's ServerErrorMiddleware does (the server logs it)

    # -- configuration ------------------------------------------------------------------------

    @property
    def config(self) -> MockConfig:
        return self._config

    @config.setter
    def config(self, config: MockConfig) -> None:
        self._config = config
        self.state.configure(sent_log=config.sent_log, request_log=config.request_log,
                             memory_bytes=config.memory_bytes, seed=config.seed)

    def configure(self, world: str | Path | dict[str, Any] | None = None, **sections: Any) -> MockConfig:
        """Change what the mock models while it runs; returns the new configuration.

        `world` (a file or a dict of sections) and `sections` (`faults={...}`,
        `limits={...}`, `level="documented"`, `open_world=True`, ...) are laid over the
        current configuration the way a config file is laid over the default: `faults`,
        `limits` and `inspection` merge key by key, other sections are replaced. The
        configuration itself stays immutable; this swaps it for a new, checked one.
        """
        base = self.config.raw if world is None else load_mock_config(world, base=self.config.raw).raw
        self.config = load_mock_config(dict(sections), base=base)
        return self.config

    def fail_next(self, status: int = 503, *, times: int = 1, retry_after: float | None = None, error: str | None = None,
                  processed: bool = False) -> None:
        """Answer the next `times` sends with `status` (then as usual); queued after earlier ones.

        A 429 always carries `Retry-After` (`retry_after` whole seconds, 0 for an immediate
        retry; by default `faults.retry_after`); other statuses carry it when `retry_after` is
        given. A fraction is refused (ValueError): RFC 9110 and the catalogue's
        `rate-limit-retry-after` want whole seconds, and a client reading it with `int(...)` breaks.
        The request is still judged and logged as if it had been answered normally.
        `processed=True`: the send goes through first (it is in `sent`, and its answer is
        stored under its `Idempotency-Key`), and only its answer is the failure, as from a
        gateway that gave up after the API did its work: a retry under the same key is a
        replay, a retry without one mails again.
        """
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"fail_next: status must be an HTTP error status (400-599), not {status!r}")
        if not isinstance(times, int) or times < 1:
            raise ValueError(f"fail_next: times must be a whole number of at least 1, not {times!r}")
        if retry_after is not None:
            try:
                retry_after = int(retry_after_value(retry_after))
            except ValueError as exc:
                raise ValueError(f"fail_next: retry_after must be {exc}; for an immediate retry pass retry_after=0") from None
        self.state.script([Scripted(status, times, retry_after, error, processed)])

    # -- inspection ---------------------------------------------------------------------------

    @property
    def sent(self) -> list[SentRecord]:
        """Every accepted send, oldest first (bounded: `limits.sent_log`, `limits.memory_bytes`)."""
        return self.state.sent

    @property
    def requests(self) -> list[MockRequest]:
        """Every request to the API, oldest first, with its verdict (bounded like `sent`)."""
        return self.state.request_log

    @property
    def rejected(self) -> list[MockRequest]:
        """The requests that break the contract (a rule of the catalogue, or an endpoint that does not exist)."""
        return [r for r in self.state.request_log if r.breaks_contract]

    def reset(self) -> None:
        """Forget sends, requests, idempotent replies, rate windows, scripted answers; restart the fault draw."""
        self.state.reset()

    @contextmanager
    def running(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on a loopback port in a background thread; yields the base URL.

        Connections are bounded as `limits.max_connections` and `limits.request_timeout` say.
        """
        from migma_contract.wire.serve import serve_in_thread

        with serve_in_thread(self, host, port, max_connections=self.config.max_connections,
                             request_timeout=self.config.request_timeout) as url:
            yield url

    # -- the endpoint -------------------------------------------------------------------------

    async def _send(self, request: _Call) -> _Answer:
        config = self.config  # one configuration per request, even if `configure` runs meanwhile
        verdict = _Verdict(_now())
        try:
            answer = await self._answer(request, config, verdict)
        except ClientDisconnect:
            verdict.outcome = "disconnected"
            answer = _Refusal(BODY_JSON_OBJECT.deserves, "the client disconnected before the body arrived").answer()
        except _Refusal as refusal:
            answer = refusal.answer()
        error = answer.payload.get("error") if answer.status != STATUS_OK else None
        headers = request.headers
        self.state.log_call(  # its size, then MockRequest's fields, in order
            len(verdict.raw) + request.head_size,
            verdict.at, request.method, request.path, answer.status, verdict.outcome,
            tuple(verdict.violations) if verdict.violations else (), tuple(verdict.warnings) if verdict.warnings else (), error if isinstance(error, str) else None, headers.get("content-type"), verdict.key_name,
            headers.get(_IDEMPOTENCY), headers.get("user-agent"), verdict.raw, request.raw_headers, request.scheme, request.query,
        )
        return answer

    def _credentials(self, config: MockConfig, header: str | None) -> tuple[str, str | None, tuple[Rule, str] | None]:
        """(the bearer key or "", the key's name for the log, the auth rule broken and why): worked out once per
        `Authorization` value and configuration (clients send the same one again and again)."""
        memo = self._auth_memo
        if memo[0] is not config:
            memo = self._auth_memo = (config, {})
        known = memo[1].get(header)
        if known is None:
            bearer = bearer_key(header)
            key = bearer or ""
            name = config.key_names.get(key) or ("(known key)" if key in config.keys else None)
            known = (key, name, judge_credentials(header, config.keys.get, key=bearer))
            if len(memo[1]) >= _AUTH_MEMO:
                memo[1].clear()
            memo[1][header] = known
        return known

    async def _answer(self, request: _Call, config: MockConfig, verdict: _Verdict) -> _Answer:
        """Judge the request fully (for the log), then answer: scripted fault, auth, rate limit, body, world."""
        if config.latency_ms:
            await anyio.sleep(config.latency_ms / 1000)
        headers = request.headers
        authorization = headers.get("authorization")
        memo = self._auth_memo  # (`_credentials`, its common case without the call)
        known = memo[1].get(authorization) if memo[0] is config else None
        key, verdict.key_name, refused = known if known is not None else self._credentials(config, authorization)
        # the head as the one judge reads it: a request its parties may read differently is refused as a strict server
        # refuses it, with a warning, and blamed on no one (docs/check.md: judged in part)
        doubt, unjudged = request_doubt(headers.get("content-type"), request.repeated)
        if doubt is not None:
            verdict.warnings.append(_in_part(doubt, _UNSUPPORTED if unjudged == "media" else AUTH_REQUIRED.deserves
                                             if unjudged == "request" else None))
            if unjudged != "key":
                verdict.outcome = _IN_PART
                if unjudged == "request":  # (which credentials a server reads does not show: the strictest refuses them)
                    refused = (AUTH_REQUIRED, "Authorization is given more than once; send one")
        if refused is not None and verdict.outcome != _IN_PART:
            verdict.violations.append(Violation(refused[0].id, refused[0].level.value, "", refused[1]))
        # the body: whole in its first message and within the cap (the common case, read here), else the capped reader
        limit = config.max_body_bytes
        body: Any
        body_refusal: _Refusal | None
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):  # ("²": no int)
            body, body_refusal = None, _Refusal(BODY_JSON_OBJECT.deserves, f"the body is {declared[:20]} bytes; the limit is {limit}")
        else:
            first = await request.receive()  # (`request.body`, one coroutine fewer)
            raw = _whole(first, limit)
            if raw is None:
                raw = await request.rest(first, limit)
            if raw is None:
                body, body_refusal = None, _Refusal(BODY_JSON_OBJECT.deserves, f"the body is over the {limit}-byte limit")
            elif verdict.outcome == _IN_PART:
                verdict.raw = raw
                body, body_refusal = None, _Refusal(_UNSUPPORTED, _unsupported(headers.get("content-type"), request.repeated))
            else:
                verdict.raw = raw
                coding = headers.get("content-encoding")
                if coding is not None and coded(coding):  # RFC 9110 §8.4: a coding the mock does not decode is a 415
                    verdict.outcome = _IN_PART
                    verdict.warnings.append(_in_part(_doubt_of(parsed_body(raw, None, coding)), _UNSUPPORTED))
                    body, body_refusal = None, _Refusal(_UNSUPPORTED, f"Content-Encoding {coding[:40]!r} is not "
                                                        "supported; send the JSON body as it is")
                else:
                    body, body_refusal = self._read_json(headers.get("content-type", ""), config, verdict)
        if body_refusal is None and (violations := self._strict(body)):
            self._judge_body(violations, config, verdict)

        idempotency_key = headers.get(_IDEMPOTENCY)
        if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            rule = IDEMPOTENCY_KEY_LENGTH
            verdict.violations.append(Violation(rule.id, rule.level.value, "", f"{IDEMPOTENCY_HEADER} is {len(idempotency_key)} "
                                                f"characters long; at most {MAX_IDEMPOTENCY_KEY} are allowed"))

        scripted = self.state.take_scripted()
        if scripted is not None and not scripted.processed:
            verdict.outcome = "fault"
            raise self._injected(scripted.status, scripted.error or f"injected failure (fail_next {scripted.status})",
                                 scripted.retry_after, config)
        try:
            response = self._decide(request, config, verdict, key, refused, body, body_refusal, idempotency_key)
        except _Refusal:
            if scripted is None:
                raise
        if scripted is not None:  # processed, then answered with the fault (a gateway failing after the API's work)
            verdict.outcome = "fault"
            raise self._injected(scripted.status, scripted.error or f"injected failure after the send (fail_next {scripted.status})",
                                 scripted.retry_after, config)
        return response

    def _decide(self, request: _Call, config: MockConfig, verdict: _Verdict, key: str, refused: Any, body: Any,
                body_refusal: _Refusal | None, idempotency_key: str | None) -> _Answer:
        """The answer the contract gives: auth, rate limit, body, the stored answer of a key, the world."""
        if refused is not None:
            raise _Refusal(refusal_status([refused[0].id]), refused[1])
        if config.rate_limit is not None:
            self._rate_limit(key, config, verdict)
        if body_refusal is not None:
            if verdict.outcome != _IN_PART:
                verdict.outcome = "limit" if not verdict.violations else "refused"
            raise body_refusal
        if verdict.violations:
            raise _Refusal(refusal_status(v.rule_id for v in verdict.violations), verdict.violations[0].message,
                           violations=[{"rule": v.rule_id, "pointer": v.pointer, "message": v.message} for v in verdict.violations])
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() if idempotency_key else ""
        if idempotency_key:
            stored = self.state.stored_reply(key, idempotency_key)
            if stored is not None and stored.digest == digest:
                verdict.outcome = "replayed"
                return _Answer(stored.status, stored.payload, {REPLAYED_HEADER: "true"})
            if stored is not None:
                verdict.outcome = "conflict"
                raise _Refusal(IDEMPOTENCY_CONFLICT.deserves,
                               f"{CONFLICT_CODE}: this {IDEMPOTENCY_HEADER} came with another body in the last 24 h; "
                               "send that body again, or use a new key", code=CONFLICT_CODE)
        if config.failure_rate and self.state.draw() < config.failure_rate:
            verdict.outcome = "fault"
            raise self._injected(config.failure_status, "injected failure (faults.failure_rate); retry later", None, config)
        verdict.outcome = "world"
        data = self._accept(body, verdict.raw, config, idempotency_key, request.headers.get("user-agent"), verdict.at)
        verdict.outcome = "accepted"
        payload = {"success": True, "data": data, "error": None}
        if idempotency_key:  # only an accepted send is stored: a 429 or 5xx never, a 4xx neither (see _state)
            self.state.store_reply(key, idempotency_key, digest, STATUS_OK, payload)
        return _Answer(STATUS_OK, payload, None, _accepted_json(data))

    def _judge_body(self, violations: list[Violation], config: MockConfig, verdict: _Verdict) -> None:
        """The request rules the body breaks (`_strict`'s): those of the mock's level refuse it, the others are warnings."""
        level = Level.parse(config.level)
        for violation in violations:
            if level.includes(get_rule(violation.rule_id).level):
                verdict.violations.append(violation)
            else:
                verdict.warnings.append(f"{violation} (a {violation.level} rule: refused at level {violation.level}, "
                                        f"accepted at {level.value})")

    @staticmethod
    def _injected(status: int, message: str, retry_after: float | None, config: MockConfig) -> _Refusal:
        if retry_after is None and status == 429:
            retry_after = config.retry_after
        headers = {"Retry-After": seconds_header(retry_after)} if retry_after is not None else {}
        return _Refusal(status, message, headers=headers)

    def _rate_limit(self, key: str, config: MockConfig, verdict: _Verdict) -> None:
        if config.rate_limit is None:
            return
        limit, window = config.rate_limit
        wait = self.state.take_slot(key, limit, window)
        if wait is not None:
            verdict.outcome = "rate-limited"
            shown = seconds_header(wait)
            raise _Refusal(429, f"rate limit of {limit} requests per {window:g} s exceeded; retry after {shown} s",
                           headers={"Retry-After": shown})

    def _read_json(self, content_type: str, config: MockConfig, verdict: _Verdict) -> tuple[Any, _Refusal | None]:
        """The parsed body (`verdict.raw`), or the refusal it deserves (noted in the verdict when it breaks a rule; a
        body the one judge leaves unread, `_unread`, with a warning). Its media type is JSON's (`request_doubt`)."""
        try:
            return _unique(verdict, _BODY.parse(verdict.raw, max_depth=config.max_depth))
        except NotUtf8 as not_utf8:
            # body-utf8 is a rule of its own (strict): below it, the body is read as a lenient server reads it
            message = BODY_UTF8.form.message("", not_utf8.message)
            level = Level.parse(config.level)
            if level.includes(BODY_UTF8.level):
                verdict.violations.append(Violation(BODY_UTF8.id, BODY_UTF8.level.value, "", message))
                return None, _Refusal(BODY_UTF8.deserves, message)
            verdict.warnings.append(f"[{BODY_UTF8.id}] {message} (a {BODY_UTF8.level.value} rule: refused at level "
                                    f"{BODY_UTF8.level.value}, accepted at {level.value})")
        except Refused as refused:
            return _unread(verdict, content_type, refused)
        try:
            return _unique(verdict, _BODY.parse(verdict.raw, max_depth=config.max_depth, lenient=True))
        except Refused as refused:
            return _unread(verdict, content_type, refused)

    # -- the world ----------------------------------------------------------------------------

    def _accept(self, body: dict[str, Any], raw: bytes, config: MockConfig, idempotency_key: str | None,
                user_agent: str | None, at: str) -> dict[str, Any]:
        """Send it in the mock's world (recorded in `sent`); the answer's `data`. A `_Refusal` when the world says no."""
        open_world = config.open_world
        if not open_world and (sender_domain := body["from"].rpartition("@")[2].lower()) not in config.verified_domains:
            raise _Refusal(DATA_REFUSAL, f"from: the domain {sender_domain!r} is not verified (verified: {', '.join(sorted(config.verified_domains))})")
        provider = body.get("providerType", self._default_provider)
        if not open_world and provider not in config.providers:
            raise _Refusal(DATA_REFUSAL, f"providerType {provider!r} is not connected; connect it in Settings -> Integrations")
        email_id, conversation_id = body.get("emailId"), body.get("conversationId")
        if email_id is None and conversation_id is None:
            raise _Refusal(DATA_REFUSAL, "nothing to send: give emailId (or conversationId)")
        source = config.emails.get(email_id) if email_id is not None else config.conversations.get(body["conversationId"])
        if source is None and open_world:
            source = {"project": body.get("projectId")}
        if source is None:
            name, value = ("emailId", email_id) if email_id is not None else ("conversationId", conversation_id)
            raise _Refusal(DATA_REFUSAL, f"{name} {value!r} not found")
        project_id = body.get("projectId")
        if project_id is not None and project_id not in config.projects and not open_world:
            raise _Refusal(DATA_REFUSAL, f"projectId {project_id!r} not found")
        if project_id is not None and source.get("project") and source["project"] != project_id:
            raise _Refusal(DATA_REFUSAL, f"the email belongs to project {source['project']!r}, not {project_id!r}")
        kind = body["recipientType"]
        transactional = body.get("transactional", kind == SINGLE_TYPE)
        if kind == SINGLE_TYPE:
            if (recipient := body.get("recipientEmail")) is None:  # (its rule is documented: a level below lets it through)
                raise _Refusal(DATA_REFUSAL, f"nothing to send to: give recipientEmail (recipientType {SINGLE_TYPE!r})")
            candidates: tuple[str, ...] = (recipient,)
        else:
            members = config.lists.get(kind, {}).get(body.get("recipientId"))  # type: ignore[arg-type]
            if members is None and not open_world:
                raise _Refusal(DATA_REFUSAL, f"recipientId: {kind} {body.get('recipientId')!r} not found")
            candidates = members or ()
        recipients, excluded = self._filter(config, candidates, transactional, source.get("topic"))
        record_id = f"{'msg' if kind == SINGLE_TYPE else 'batch'}_{self._ids.getrandbits(96):024x}"
        self.state.record(  # SentRecord's fields, in order
            record_id, at, kind, raw, recipients, excluded, transactional, not transactional, provider,
            project_id or source.get("project"), email_id, conversation_id if email_id is None else None, len(recipients),
            idempotency_key, user_agent,
        )
        return {"id": record_id, "provider": provider, "status": "queued", "sentCount": len(recipients),
                "message": self._summary(kind, transactional, len(recipients), excluded)}

    @staticmethod
    def _filter(config: MockConfig, candidates: tuple[str, ...], transactional: bool, topic: str | None) -> tuple[tuple[str, ...], dict[str, str]]:
        """Bounced and invalid always excluded; marketing also skips unsubscribed and topic opt-outs."""
        kept, excluded = [], {}
        for address in candidates:
            contact = config.contacts.get(address.lower())
            if contact is None:
                kept.append(address)
            elif contact.status in ("bounced", "invalid"):
                excluded[contact.email] = contact.status
            elif not transactional and contact.status == "unsubscribed":
                excluded[contact.email] = "unsubscribed"
            elif not transactional and topic and topic in contact.unsubscribed_topics:
                excluded[contact.email] = f"unsubscribed from topic {topic}"
            else:
                kept.append(contact.email)
        return tuple(kept), excluded

    @staticmethod
    def _summary(recipient_type: str, transactional: bool, sent_count: int, excluded: dict[str, str]) -> str:
        if recipient_type == SINGLE_TYPE:
            if sent_count:  # (one string each: its hash is kept, see `_accepted_json`)
                return _QUEUED_TRANSACTIONAL if transactional else _QUEUED_MARKETING
            return f"Email queued; recipient excluded ({', '.join(excluded.values())})"
        kind = "transactional" if transactional else "marketing"
        return f"Batch queued for {sent_count} recipient(s) ({kind}; {len(excluded)} excluded)"

    # -- inspection endpoints and errors ------------------------------------------------------

    def _guarded(self, handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """`/_mock/*` answers only a local Host and no other origin: it lists recipients and can reset the mock."""

        async def guarded(request: Request) -> Response:
            refusal = self._inspection_refusal(request)
            return refusal if refusal is not None else await handler(request)

        return guarded

    def _inspection_refusal(self, request: Request) -> Response | None:
        config = self.config
        why = foreign_request(request.headers.raw, allowed_hosts=config.allowed_hosts, allowed_origins=config.allowed_origins)
        if why is not None and why.startswith("answers"):
            return _error(403, f"/_mock {why}; add it to inspection.allowed_hosts in the mock's config")
        if why is not None:
            return _error(403, f"/_mock {why}; add the origin to inspection.allowed_origins in the mock's config")
        content_type = request.headers.get("content-type")
        if request.method == "POST" and content_type is not None:
            media_type = trimmed(content_type.split(";", 1)[0]).lower()  # SP and HTAB only, as HTTP and the judge read it
            if media_type not in JSON_TYPES:
                return _error(415, f"/_mock takes no body or a JSON one, not {media_type[:40]!r}")
        return None

    async def _list_sent(self, request: Request) -> Response:
        sent = self.state.sent
        return _InspectionJSON({"count": len(sent), "dropped": self.state.dropped, "memory": self.state.memory,
                                "sent": [r.as_dict() for r in sent]})

    async def _list_requests(self, request: Request) -> Response:
        logged = self.state.request_log
        return _InspectionJSON({"count": len(logged), "dropped": self.state.dropped_requests, "memory": self.state.memory,
                                "requests": [r.as_dict() for r in logged]})

    async def _reset(self, request: Request) -> Response:
        cleared = self.state.reset()
        return JSONResponse({"success": True, "cleared": cleared})

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"success": True, "requests": self.state.requests})

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path[:200]}; the API is POST {OPERATION_PATH}, inspection under /_mock/"
            if request.url.path.endswith("/sending"):
                message += " (a base URL ending in /v1 joined with a path starting with /v1 again?)"
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        if not request.url.path.startswith("/_mock/") and exc.status_code in (404, 405):
            self.state.log_request(at=_now(), method=request.method, path=request.url.path[:200], status=exc.status_code,
                                   outcome="no-route", error=message, raw_headers=request.scope["headers"],
                                   scheme=request.url.scheme, query=request.scope.get("query_string", b""))
        return _error(exc.status_code, message, dict(exc.headers or {}))

    async def _crash(self, request: Request, exc: Exception) -> Response:  # a bug in the mock, never expected
        return _error(500, f"internal error in the reference mock: {type(exc).__name__}")


_second: tuple[int, str] = (-1, "")
_last: tuple[int, str] = (-1, "")  # the last millisecond stamped: a busy mock answers several in each
_time_ns = time.time_ns


def _now() -> str:
    """The time, ISO 8601 to the millisecond."""
    global _last
    millis = _time_ns() // 1_000_000
    last = _last  # one read: another thread may replace it meanwhile (a whole tuple, never half of one)
    if last[0] != millis:
        last = _last = (millis, _stamp(millis))
    return last[1]


def _stamp(millis: int) -> str:
    """`millis` (since the epoch) as ISO 8601 in UTC to the millisecond, as `datetime.isoformat` writes it: the date
    and time of day formatted once a second (a busy mock answers many requests a second, each in its own
    millisecond), the milliseconds by integer arithmetic (float division is one off in far years)."""
    global _second
    second, milli = divmod(millis, 1000)
    if second != _second[0]:
        _second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{milli:03d}+00:00"


def _route_path(scope: Scope) -> str:
    """The path as the app's routes see it (without the root path it is mounted under)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def create_app(config: MockConfig | str | Path | dict[str, Any] | None = None, *, spec: Spec | None = None,
               clock: Callable[[], float] | None = None) -> ReferenceMock:
    """A reference mock with `config` (a path, a dict, or None for the built-in world); `clock` times its idempotency window."""
    return ReferenceMock(config, spec=spec, clock=clock)
