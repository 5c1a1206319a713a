"""The proof corpus: single-fault variants of the reference mock, and legal variants.

Each faulty variant breaks one CONTRACT.md rule (or a general HTTP expectation) in one
way, as a real server might; each legal variant does something the contract allows.
The checker must name each fault's rule and must pass every legal variant.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from migma_contract import validate_request
from migma_contract.mock import create_app

FULL_KEY = "mc_test_full_access"
RESTRICTED_KEY = "mc_test_no_email_send"
SECOND_KEY = "mc_test_second_app"
VENDOR = {"with_vendor": True, "second_api_key": SECOND_KEY, "max_requests": 180}  # how a vendor-set variant is checked


def fake_success() -> dict[str, Any]:
    """A success body as a lax server answers it (a fresh id each time, as result-id-unique wants)."""
    return {"success": True, "data": {"id": f"msg_{uuid.uuid4().hex}", "provider": "migma", "status": "queued", "sentCount": 1,
                                      "message": "ok"}, "error": None}


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


@dataclass
class Req:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return _json_or_none(self.body)

    @property
    def fields(self) -> dict[str, Any]:
        value = self.json
        return value if isinstance(value, dict) else {}

    def rules(self) -> set[str]:
        """The rules this request breaks, by the public validator (not the mock's own answer)."""
        value = self.json
        if value is None:
            return {"body-json-object"}
        return {v.rule_id for v in validate_request(value, "strict")}


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return _json_or_none(self.body)


    @staticmethod
    def of(status: int, payload: Any, content_type: str = "application/json", **headers: str) -> Resp:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return Resp(status, {"content-type": content_type, **headers}, body)


Before = Callable[[Req], Awaitable[Resp | Req | None]]
After = Callable[[Req, Resp], Resp]


class Wrapped:
    """The reference mock behind a fault: `before` may answer or rewrite the request, `after` the response."""

    def __init__(self, before: Before | None = None, after: After | None = None, config: Any = None) -> None:
        self.inner = create_app(config)
        self.before = before
        self.after = after
        self.calls = 0

    def fail_next(self, *args: Any, **kwargs: Any) -> None:
        """The inner mock's fault injection, so a check of this variant can provoke a 429 or 5xx behind the fault."""
        self.inner.fail_next(*args, **kwargs)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        self.calls += 1
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        request = Req(scope["method"], scope["path"], {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}, b"".join(chunks))
        response: Resp | None = None
        if self.before is not None:
            outcome = await self.before(request)
            if isinstance(outcome, Resp):
                response = outcome
            elif isinstance(outcome, Req):
                request = outcome
        if response is None:
            response = await self._forward(scope, request)
            if self.after is not None:
                response = self.after(request, response)
        raw_headers = [(k.encode(), v.encode()) for k, v in response.headers.items() if k != "content-length"]
        raw_headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _forward(self, scope: dict[str, Any], request: Req) -> Resp:
        headers = [(k.encode(), v.encode("latin-1")) for k, v in request.headers.items() if k != "content-length"]
        headers.append((b"content-length", str(len(request.body)).encode()))
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await anyio.sleep_forever()
            sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}

        result: dict[str, Any] = {"body": b""}

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                result["status"] = message["status"]
                result["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                result["body"] += message.get("body", b"")

        await self.inner({**scope, "headers": headers}, receive, capture)
        return Resp(result["status"], result["headers"], result["body"])


@dataclass
class Variant:
    name: str
    rule: str | None  # the rule a correct checker must name; None for a legal variant
    before: Before | None = None
    after: After | None = None
    level: str = "documented"
    config: Any = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def app(self) -> Wrapped:
        return Wrapped(self.before, self.after, self.config)


# --- building blocks ----------------------------------------------------------------------------


def accept_when(rule: str, predicate: Callable[[Req], bool] = lambda r: True) -> After:
    """A lax validator: a 400 for `rule` becomes a success."""

    def after(request: Req, response: Resp) -> Resp:
        if response.status == 400 and rule in request.rules() and predicate(request):
            return Resp.of(200, fake_success())
        return response

    return after


def on_success(change: Callable[[dict[str, Any], Req], None], when: Callable[[Req], bool] = lambda r: True) -> After:
    def after(request: Req, response: Resp) -> Resp:
        if response.status == 200 and when(request):
            payload = response.json
            change(payload, request)
            return Resp.of(200, payload)
        return response

    return after


def on_error(change: Callable[[Resp], Resp]) -> After:
    def after(request: Req, response: Resp) -> Resp:
        return change(response) if response.status >= 400 else response

    return after


def answer(when: Callable[[Req], bool], response: Resp) -> Before:
    async def before(request: Req) -> Resp | None:
        return response if when(request) else None

    return before


def hang(when: Callable[[Req], bool]) -> Before:
    async def before(request: Req) -> None:
        if when(request):
            await anyio.sleep(3600)

    return before


def with_headers(change: Callable[[Req], dict[str, str] | None]) -> Before:
    async def before(request: Req) -> Req | None:
        headers = change(request)
        return Req(request.method, request.path, headers, request.body) if headers is not None else None

    return before


def _set(path: str, value: Any) -> Callable[[dict[str, Any], Req], None]:
    def change(payload: dict[str, Any], request: Req) -> None:
        node = payload
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node[last] = value

    return change


def _drop(path: str) -> Callable[[dict[str, Any], Req], None]:
    def change(payload: dict[str, Any], request: Req) -> None:
        node = payload
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node.pop(last, None)

    return change


def _error_json(change: Callable[[dict[str, Any]], Any]) -> Callable[[Resp], Resp]:
    def apply(response: Resp) -> Resp:  # the body changed, the other headers kept (a 429's Retry-After)
        payload = response.json
        kept = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
        return Resp.of(response.status, change(payload), response.headers.get("content-type", "application/json"), **kept)

    return apply


def _has_non_ascii(value: Any) -> bool:
    return isinstance(value, str) and not value.isascii()


def _full_key(request: Req) -> dict[str, str]:
    return {**request.headers, "authorization": f"Bearer {FULL_KEY}"}


def _content_type_text(response: Resp) -> Resp:
    return Resp(response.status, {**response.headers, "content-type": "text/plain; charset=utf-8"}, response.body)


def _coercible(request: Req) -> bool:
    """What a validator with type coercion (Ajv's coerceTypes: "array") takes: ["email"], 123, null, "true"."""
    fields = request.fields
    kind = fields.get("recipientType")
    return ((isinstance(kind, list) and len(kind) == 1 and isinstance(kind[0], str))
            or (isinstance(fields.get("fromName"), int) and not isinstance(fields.get("fromName"), bool))
            or ("replyTo" in fields and fields["replyTo"] is None)
            or fields.get("transactional") == "true")


def _strings(request: Req) -> list[str]:
    return [v for v in request.fields.values() if isinstance(v, str)]


def lenient_text(body: bytes) -> str:
    """What a stock JSON body parser (Express's, Prism's) reads: UTF-16/32 told by the byte order mark or the
    RFC 4627 pattern of zero bytes, anything else as UTF-8 with invalid bytes replaced by U+FFFD."""
    for bom, codec in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
                       (b"\xfe\xff", "utf-16")):
        if body.startswith(bom):
            return body.decode(codec, errors="replace")
    head = body[:4]
    if len(head) == 4 and head[0] and not head[1] and head[2] and not head[3]:
        return body.decode("utf-16-le", errors="replace")
    if len(head) == 4 and not head[0] and head[1] and not head[2] and head[3]:
        return body.decode("utf-16-be", errors="replace")
    return body.decode("utf-8", errors="replace")


async def _lenient_utf8(request: Req) -> Req | None:
    """A server reading bodies as a stock parser does (`lenient_text`): a body in another encoding goes through."""
    text = lenient_text(request.body)
    if text.encode("utf-8") != request.body:
        return Req(request.method, request.path, request.headers, text.encode("utf-8"))
    return None


def _same_id(payload: dict[str, Any], request: Req) -> None:
    payload["data"]["id"] = "msg_1"


def _replayed(response: Resp) -> bool:
    return response.headers.get("idempotent-replayed") == "true"


def _new_id_on_replay(request: Req, response: Resp) -> Resp:
    """A replay marked as such, but the send was made again: a new id."""
    if _replayed(response):
        payload = response.json
        payload["data"]["id"] = f"msg_{uuid.uuid4().hex[:24]}"
        return Resp.of(response.status, payload, **{"idempotent-replayed": "true"})
    return response


def _caching_5xx() -> tuple[Before, After]:
    """A cache in front of the API that stores every answer under its key, 5xx included."""
    cache: dict[str, Resp] = {}

    async def before(request: Req) -> Resp | None:
        return cache.get(request.headers.get("idempotency-key", ""))

    def after(request: Req, response: Resp) -> Resp:
        if response.status >= 500 and request.headers.get("idempotency-key"):
            cache[request.headers["idempotency-key"]] = response
        return response

    return before, after


_CACHE_BEFORE, _CACHE_AFTER = _caching_5xx()


def _long_key_cut(request: Req) -> dict[str, str] | None:
    """A server that cuts an over-long key to its 100 characters instead of refusing it."""
    key = request.headers.get("idempotency-key", "")
    return {**request.headers, "idempotency-key": key[:100]} if len(key) > 100 else None


def _answer_cache() -> tuple[Before, After]:
    """A response cache in front of the API keyed by the credentials and the body: an identical send gets the first answer."""
    cache: dict[tuple[str, bytes], Resp] = {}

    async def before(request: Req) -> Resp | None:
        return cache.get((request.headers.get("authorization", ""), request.body))

    def after(request: Req, response: Resp) -> Resp:
        if response.status == 200:
            cache[(request.headers.get("authorization", ""), request.body)] = response
        return response

    return before, after


_ANSWER_CACHE_BEFORE, _ANSWER_CACHE_AFTER = _answer_cache()


def _scope_checked_on_single_sends_only(request: Req) -> dict[str, str] | None:
    """A server checking email:send in its single-send handler only: a batch send with the restricted key goes through."""
    if request.headers.get("authorization") == f"Bearer {RESTRICTED_KEY}" and request.fields.get("recipientType") != "email":
        return _full_key(request)
    return None


MISSING_SCOPE_IS_401 = Variant(
    "missing-scope-is-401", None,
    after=lambda req, resp: Resp.of(401, {"success": False, "error": "unauthorized"}) if resp.status == 403 else resp,
    notes="401 for a key without email:send cannot be told from a wrong --restricted-api-key: exit 2, never a verdict")


# --- the corpus -----------------------------------------------------------------------------------

FAULTS: list[Variant] = [
    Variant("accepts-a-json-list", "body-json-object", after=accept_when("body-json-object", lambda r: isinstance(r.json, list))),
    Variant("fromName-optional", "required-fields", after=accept_when("required-fields", lambda r: "fromName" not in r.fields)),
    Variant("coerces-string-booleans", "field-types", after=accept_when("field-types", lambda r: isinstance(r.fields.get("transactional"), str))),
    Variant("null-replyTo-means-absent", "field-types", after=accept_when("field-types", lambda r: "replyTo" in r.fields and r.fields["replyTo"] is None)),
    Variant("recipientType-case-insensitive", "recipient-type-enum",
            after=accept_when("recipient-type-enum", lambda r: str(r.fields.get("recipientType", "")).lower() in ("email", "audience", "segment", "tag"))),
    Variant("unknown-provider-accepted", "provider-type-enum", after=accept_when("provider-type-enum")),
    Variant("address-without-at-accepted", "email-format", after=accept_when("email-format", lambda r: "@" not in str(r.fields.get("recipientEmail", "@")))),
    Variant("from-takes-a-display-name", "email-format",
            after=accept_when("email-format", lambda r: re.fullmatch(r"[^<>]+<[^<>@]+@[^<>@]+>", str(r.fields.get("from", ""))) is not None),
            notes="`from: Name <a@b.c>` parsed as an RFC 5322 header (as several email APIs do), not as a Mailbox"),
    Variant("addresses-trimmed", "email-format",
            after=accept_when("email-format", lambda r: any(isinstance(v, str) and v != v.strip() and "@" in v for v in r.fields.values()))),
    Variant("single-send-without-recipientEmail", "email-needs-recipientEmail", after=accept_when("email-needs-recipientEmail")),
    Variant("tag-send-without-recipientId", "batch-needs-recipientId", after=accept_when("batch-needs-recipientId", lambda r: r.fields.get("recipientType") == "tag")),
    Variant("batch-ignores-recipientEmail", "batch-forbids-recipientEmail", after=accept_when("batch-forbids-recipientEmail")),
    Variant("anonymous-sends-allowed", "auth-required",
            before=with_headers(lambda r: _full_key(r) if "authorization" not in r.headers else None)),
    Variant("basic-auth-accepted", "auth-required",
            before=with_headers(lambda r: _full_key(r) if r.headers.get("authorization", "").startswith("Basic ") else None)),
    Variant("scope-not-checked", "auth-scope",
            before=with_headers(lambda r: _full_key(r) if r.headers.get("authorization") == f"Bearer {RESTRICTED_KEY}" else None)),
    Variant("rejects-non-ascii-subject", "accepts-valid",
            before=answer(lambda r: r.fields.get("recipientType") in ("email", "segment", "tag", "audience") and _has_non_ascii(r.fields.get("subject")) and not r.headers.get("authorization", "").endswith(RESTRICTED_KEY),
                          Resp.of(400, {"success": False, "error": "subject must be ASCII"}))),
    Variant("rejects-long-variables", "accepts-valid",
            before=answer(lambda r: len(json.dumps(r.fields.get("variables", {}))) > 5000, Resp.of(400, {"success": False, "error": "variables too large"}))),
    Variant("crashes-on-nested-variables", "no-server-error",
            before=answer(lambda r: any(isinstance(v, dict) for v in (r.fields.get("variables") or {}).values()) if isinstance(r.fields.get("variables"), dict) else False,
                          Resp.of(500, b"Internal Server Error", "text/plain"))),
    Variant("bad-gateway-on-tag-sends", "no-server-error",
            before=answer(lambda r: r.fields.get("recipientType") == "tag" and r.headers.get("authorization") == f"Bearer {FULL_KEY}",
                          Resp.of(502, {"success": False, "error": "upstream failed"}))),
    Variant("hangs-on-long-subject", "responds-in-time", before=hang(lambda r: len(str(r.fields.get("subject", ""))) > 300)),
    Variant("422-for-validation-errors", "status-documented",
            after=lambda req, resp: Resp(422, resp.headers, resp.body) if resp.status == 400 else resp),
    # pass U2, F1: the check judged its requests without the Content-Length httpx frames them with, so a 411 ("no
    # Content-Length", a refusal HTTP names) was excused on every send: CONFORMANT, exit 0
    Variant("411-for-accepted-sends", "status-documented",
            after=lambda req, resp: Resp.of(411, {"error": "length required"}) if resp.status == 200 else resp),
    Variant("201-for-accepted-sends", "status-documented", after=lambda req, resp: Resp(201, resp.headers, resp.body) if resp.status == 200 else resp),
    Variant("errors-as-text-plain", "content-type-json", after=on_error(_content_type_text)),
    Variant("success-body-not-json", "content-type-json",
            after=lambda req, resp: Resp.of(200, b"<html><body>queued</body></html>", "text/html") if resp.status == 200 else resp),
    Variant("truncated-success-json", "content-type-json",
            after=lambda req, resp: Resp(200, resp.headers, resp.body[: len(resp.body) // 2]) if resp.status == 200 else resp),
    Variant("sentCount-as-string", "success-schema", after=on_success(lambda p, r: p["data"].update(sentCount=str(p["data"]["sentCount"])))),
    Variant("message-as-number", "success-schema", after=on_success(_set("data.message", 42))),
    Variant("error-without-success-field", "error-schema", after=on_error(_error_json(lambda p: {"error": p["error"]}))),
    Variant("error-field-missing", "error-schema", after=on_error(_error_json(lambda p: {"success": False, "message": p["error"]}))),
    Variant("errors-claim-success", "envelope-consistent", after=on_error(_error_json(lambda p: {**p, "success": True}))),
    Variant("empty-error-message", "envelope-consistent", after=on_error(_error_json(lambda p: {**p, "error": ""}))),
    Variant("success-without-data", "envelope-consistent", after=on_success(_drop("data"))),
    Variant("empty-id", "result-has-id", after=on_success(_set("data.id", ""))),
    Variant("missing-id-on-batch", "result-has-id", after=on_success(_drop("data.id"), when=lambda r: r.fields.get("recipientType") != "email")),
    Variant("status-done", "result-status-known", after=on_success(_set("data.status", "done"))),
    Variant("status-missing", "result-status-known", after=on_success(_drop("data.status"))),
    Variant("negative-sentCount", "result-count", after=on_success(_set("data.sentCount", -1), when=lambda r: r.fields.get("recipientType") == "segment")),
    Variant("fractional-sentCount", "result-count", after=on_success(_set("data.sentCount", 1.5))),
    Variant("coerces-like-ajv", "field-types", after=accept_when("field-types", _coercible),
            notes="several coercions in one rule: each is its own finding"),
    Variant("accepts-non-utf8-like-a-stock-parser", "body-utf8", before=_lenient_utf8, level="strict",
            notes="UTF-16, Latin-1 and invalid bytes read leniently (Express, Prism): a strict rule of its own (RFC 8259 §8.1)"),
    Variant("crashes-on-blank-fromName", "no-server-error",
            before=answer(lambda r: isinstance(r.fields.get("fromName"), str) and r.fields["fromName"] != "" and not r.fields["fromName"].strip(),
                          Resp.of(500, {"success": False, "error": "Internal Server Error"}))),
    Variant("crashes-on-very-long-strings", "no-server-error",
            before=answer(lambda r: any(len(v) > 15_000 for v in _strings(r)), Resp.of(500, b"Internal Server Error", "text/plain"))),
    Variant("same-id-for-every-send", "result-id-unique", after=on_success(_same_id)),
    Variant("answers-identical-sends-from-a-cache", "result-id-unique", before=_ANSWER_CACHE_BEFORE, after=_ANSWER_CACHE_AFTER,
            notes="two identical sends without an Idempotency-Key get one answer, one data.id: the second send was lost"),
    Variant("scope-checked-on-single-sends-only", "auth-scope", before=with_headers(_scope_checked_on_single_sends_only)),
    Variant("error-text-on-success", "success-without-error", after=on_success(_set("error", "string")), level="strict"),
    Variant("status-sent", "result-status-queued", after=on_success(_set("data.status", "sent")), level="strict"),
    Variant("provider-always-migma", "result-provider", after=on_success(_set("data.provider", "migma")), level="strict"),
    # --- the vendor set (checked with --with-vendor; unjudged without it) -------------------------------
    Variant("replays-with-a-new-id", "idempotency-replay", after=_new_id_on_replay, extra=VENDOR),
    Variant("another-body-accepted-not-409", "idempotency-conflict",
            after=lambda req, resp: Resp.of(200, fake_success()) if resp.status == 409 else resp, extra=VENDOR),
    Variant("replays-across-api-keys", "idempotency-scope",
            before=with_headers(lambda r: _full_key(r) if r.headers.get("authorization") == f"Bearer {SECOND_KEY}" else None),
            extra=VENDOR),
    Variant("caches-a-503", "idempotency-not-stored", before=_CACHE_BEFORE, after=_CACHE_AFTER, extra=VENDOR),
    Variant("429-without-retry-after", "rate-limit-retry-after",
            after=lambda req, resp: Resp(429, {k: v for k, v in resp.headers.items() if k != "retry-after"}, resp.body)
            if resp.status == 429 else resp, extra=VENDOR),
    Variant("long-key-accepted", "idempotency-key-length", before=with_headers(_long_key_cut), extra=VENDOR),
]


# --- the vendor set and 429 (issue 25): rate limits landing on the keyed requests --------------------------


def throttled(arrival: int = 2, retry_after: str | None = "0", replay_stored: bool = False,
              when: Callable[[Req], bool] = lambda r: bool(r.headers.get("idempotency-key"))) -> Before:
    """429 (the ApiError envelope) on the `arrival`-th request of each Idempotency-Key (or credentials) `when` picks.

    `replay_stored`: the 429 is stored under the key and replayed, marked, to every later request with it (a
    cache that keeps rate-limit answers too). `retry_after` None: no Retry-After header.
    """
    arrivals: dict[str, int] = {}
    stored: dict[str, Resp] = {}

    async def before(request: Req) -> Resp | None:
        if not when(request):
            return None
        mark = request.headers.get("idempotency-key") or request.headers.get("authorization", "")
        if mark in stored:
            return Resp(stored[mark].status, {**stored[mark].headers, "idempotent-replayed": "true"}, stored[mark].body)
        arrivals[mark] = arrivals.get(mark, 0) + 1
        if arrivals[mark] != arrival:
            return None
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        answer = Resp.of(429, {"success": False, "error": "rate limit exceeded"}, **headers)
        if replay_stored:
            stored[mark] = answer
        return answer

    return before


def every_nth(n: int, retry_after: str | None) -> Before:
    """429 to every n-th request (`retry_after` None: without a Retry-After header)."""
    counter = {"calls": 0}

    async def before(request: Req) -> Resp | None:
        counter["calls"] += 1
        if counter["calls"] % n == 0:
            return Resp.of(429, {"success": False, "error": "slow down"}, **({"retry-after": retry_after} if retry_after else {}))
        return None

    return before


def _every(n: int) -> Before:
    counter = {"calls": 0}

    async def before(request: Req) -> Resp | None:
        counter["calls"] += 1
        if counter["calls"] % n == 0:
            return Resp.of(429, {"success": False, "error": "slow down"}, **{"retry-after": "0"})
        return None

    return before


LEGAL: list[Variant] = [
    # known-fields holds clients only: the document lets a server ignore properties it does not name
    Variant("ignores-unknown-fields", None, after=accept_when("known-fields"), level="strict"),
    Variant("batch-status-processing", None, after=on_success(_set("data.status", "processing"), when=lambda r: r.fields.get("recipientType") != "email")),
    Variant("extra-fields-everywhere", None,
            after=lambda req, resp: Resp.of(resp.status, {**resp.json, "requestId": "req_1", **({"data": {**resp.json["data"], "queuedAt": "now"}} if resp.status == 200 else {"code": "E_BAD"})},
                                            **{k: v for k, v in resp.headers.items() if k not in ("content-type", "content-length")})),
    Variant("charset-parameter", None, after=lambda req, resp: Resp(resp.status, {**resp.headers, "content-type": "application/json; charset=utf-8"}, resp.body)),
    Variant("lenient-about-emailId", None,
            after=lambda req, resp: Resp.of(200, fake_success()) if resp.status == 400 and "nothing to send" in str((resp.json or {}).get("error")) else resp),
    # every 7th request refused: its retries take budget too, so the plan gets a seventh more (a cut plan is INCOMPLETE)
    Variant("occasional-429-with-retry-after", None, before=_every(7), extra={"max_requests": 180}),
    Variant("own-error-wording", None, after=on_error(_error_json(lambda p: {"success": False, "error": "Request rejected. See docs."}))),
    Variant("error-null-omitted-and-no-sentCount", None, after=on_success(lambda p, r: (p.pop("error", None), p["data"].pop("sentCount", None)))),
    Variant("status-sent-at-documented-level", None, after=on_success(_set("data.status", "sent"))),
    # body-utf8 is strict: below it, a server reading other encodings leniently is not failed (issue 25)
    Variant("non-utf8-read-leniently-at-schema-level", None, before=_lenient_utf8, level="schema"),
    Variant("non-utf8-read-leniently-at-documented-level", None, before=_lenient_utf8),
]
