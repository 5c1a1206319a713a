"""The reference mock: POST /v1/sending answered exactly as the contract says.

Which statuses it answers and which bodies it refuses come from the rule catalogue (the
same compiled request validator `validate_request` uses, the statuses the auth and
request rules demand); what it models beyond that (keys and scopes, verified domains,
known emails, lists and contacts) comes from its configuration. Inspection endpoints live
under `/_mock/`, apart from the API's own paths.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .._catalogue import ACCEPTS_VALID, BODY_JSON_OBJECT, SINGLE_TYPE, judge_credentials
from .._rules import IsJsonObject, Refused, bearer_key
from .._spec import Spec
from .._validators import Contract, contract_for
from ._config import MockConfig, load_mock_config
from ._state import MockState, SentRecord

__all__ = ["ReferenceMock", "create_app"]

STATUS_BAD_REQUEST = BODY_JSON_OBJECT.expected_status or 400
STATUS_OK = ACCEPTS_VALID.expected_status or 200
_BODY = BODY_JSON_OBJECT.form
assert isinstance(_BODY, IsJsonObject)
JSON_TYPES = ("application/json",)


class _Refusal(Exception):
    """Answer with an `ApiError` body and this status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.headers, self.extra = status, message, headers or {}, extra


def _error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": False, "error": message, **extra}, status_code=status, headers=headers)


class ReferenceMock:
    """An ASGI app implementing the contract, with its recorded sends.

    Use it in-process (`httpx.ASGITransport(app=mock)`), on a loopback port
    (`with mock.running() as url: ...`), or from the command line (`migma-contract mock`).
    """

    def __init__(self, config: MockConfig | str | Path | dict[str, Any] | None = None, *, spec: Spec | None = None) -> None:
        self.config = config if isinstance(config, MockConfig) else load_mock_config(config)
        self.contract: Contract = contract_for(spec)
        self._validator = self.contract.request_validator("documented")
        self._default_provider = self.contract.spec.request_properties.get("providerType", {}).get("default", "migma")
        self.state = MockState(self.config.sent_log, self.config.seed)
        self.app = Starlette(
            routes=[
                Route("/v1/sending", self._send, methods=["POST"]),
                Route("/_mock/sent", self._list_sent, methods=["GET"]),
                Route("/_mock/reset", self._reset, methods=["POST"]),
                Route("/_mock/health", self._health, methods=["GET"]),
            ],
            exception_handlers={HTTPException: self._http_error, Exception: self._crash},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # -- inspection ---------------------------------------------------------------------------

    @property
    def sent(self) -> list[SentRecord]:
        """Every accepted send, oldest first (capped at `limits.sent_log`)."""
        return self.state.sent

    def reset(self) -> None:
        """Forget recorded sends, idempotent replies, rate windows; restart the fault draw."""
        self.state.reset()

    @contextmanager
    def running(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on a loopback port in a background thread; yields the base URL."""
        from .._http.serve import serve_in_thread

        with serve_in_thread(self, host, port) as url:
            yield url

    # -- the endpoint -------------------------------------------------------------------------

    async def _send(self, request: Request) -> Response:
        self.state.count_request()
        try:
            if self.config.latency_ms:
                await anyio.sleep(self.config.latency_ms / 1000)
            key = self._authenticate(request.headers.get("authorization"))
            self._rate_limit(key)
            body = await self._read_json(request)
            violations = self._validator.violations(body)
            if violations:
                raise _Refusal(
                    STATUS_BAD_REQUEST, violations[0].message,
                    violations=[{"rule": v.rule_id, "pointer": v.pointer, "message": v.message} for v in violations],
                )
            idempotency_key = request.headers.get("idempotency-key")
            replay_key = f"{key}|{idempotency_key}|{json.dumps(body, sort_keys=True)}" if idempotency_key else None
            if replay_key and (reply := self.state.reply_for(replay_key)):
                return JSONResponse(reply[1], status_code=reply[0])
            if self.config.failure_rate and self.state.draw() < self.config.failure_rate:
                raise _Refusal(self.config.failure_status, "injected failure (faults.failure_rate); retry later")
            record = self._accept(body, idempotency_key, request.headers.get("user-agent"))
        except _Refusal as refusal:
            return _error(refusal.status, refusal.message, refusal.headers, **refusal.extra)
        payload = {
            "success": True,
            "data": {
                "id": record.id,
                "provider": record.provider,
                "status": "queued",
                "sentCount": record.sent_count,
                "message": self._summary(record),
            },
            "error": None,
        }
        if replay_key:
            self.state.remember_reply(replay_key, (STATUS_OK, payload))
        return JSONResponse(payload, status_code=STATUS_OK)

    def _authenticate(self, header: str | None) -> str:
        """The caller's key; the catalogue's auth rules decide what is refused, and with what."""
        refused = judge_credentials(header, self.config.keys.get)
        if refused is not None:
            rule, why = refused
            raise _Refusal(rule.expected_status or 401, why)
        return bearer_key(header) or ""

    def _rate_limit(self, key: str) -> None:
        if self.config.rate_limit is None:
            return
        limit, window = self.config.rate_limit
        wait = self.state.take_slot(key, limit, window)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            raise _Refusal(429, f"rate limit of {limit} requests per {window:g} s exceeded; retry after {seconds} s",
                           headers={"Retry-After": str(seconds)})

    async def _read_json(self, request: Request) -> Any:
        content_type = request.headers.get("content-type", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in JSON_TYPES and not media_type.endswith("+json"):
            raise _Refusal(STATUS_BAD_REQUEST, f"Content-Type must be application/json, not {content_type or 'missing'!r}")
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Refusal(STATUS_BAD_REQUEST, f"the body is {int(declared)} bytes; the limit is {limit}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Refusal(STATUS_BAD_REQUEST, f"the body is over the {limit}-byte limit")
            chunks.append(chunk)
        try:
            return _BODY.parse(b"".join(chunks), max_depth=self.config.max_depth)
        except Refused as refused:
            raise _Refusal(BODY_JSON_OBJECT.expected_status or 400, refused.message) from None

    # -- the world ----------------------------------------------------------------------------

    def _accept(self, body: dict[str, Any], idempotency_key: str | None, user_agent: str | None) -> SentRecord:
        config = self.config
        open_world = config.open_world
        sender_domain = body["from"].rpartition("@")[2].lower()
        if sender_domain not in config.verified_domains and not open_world:
            raise _Refusal(STATUS_BAD_REQUEST, f"from: the domain {sender_domain!r} is not verified (verified: {', '.join(sorted(config.verified_domains))})")
        provider = body.get("providerType", self._default_provider)
        if provider not in config.providers and not open_world:
            raise _Refusal(STATUS_BAD_REQUEST, f"providerType {provider!r} is not connected; connect it in Settings -> Integrations")
        email_id, conversation_id = body.get("emailId"), body.get("conversationId")
        if email_id is None and conversation_id is None:
            raise _Refusal(STATUS_BAD_REQUEST, "nothing to send: give emailId (or conversationId)")
        source = config.emails.get(email_id) if email_id is not None else config.conversations.get(conversation_id)
        if source is None and open_world:
            source = {"project": body.get("projectId")}
        if source is None:
            name, value = ("emailId", email_id) if email_id is not None else ("conversationId", conversation_id)
            raise _Refusal(STATUS_BAD_REQUEST, f"{name} {value!r} not found")
        project_id = body.get("projectId")
        if project_id is not None and project_id not in config.projects and not open_world:
            raise _Refusal(STATUS_BAD_REQUEST, f"projectId {project_id!r} not found")
        if project_id is not None and source.get("project") and source["project"] != project_id:
            raise _Refusal(STATUS_BAD_REQUEST, f"the email belongs to project {source['project']!r}, not {project_id!r}")
        kind = body["recipientType"]
        transactional = body.get("transactional", kind == SINGLE_TYPE)
        if kind == SINGLE_TYPE:
            candidates: tuple[str, ...] = (body["recipientEmail"],)
        else:
            members = config.lists.get(kind, {}).get(body.get("recipientId"))  # type: ignore[arg-type]
            if members is None and not open_world:
                raise _Refusal(STATUS_BAD_REQUEST, f"recipientId: {kind} {body.get('recipientId')!r} not found")
            candidates = members or ()
        recipients, excluded = self._filter(candidates, transactional, source.get("topic"))
        prefix = "msg" if kind == SINGLE_TYPE else "batch"
        record = SentRecord(
            id=f"{prefix}_{uuid.uuid4().hex[:24]}",
            at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            recipient_type=kind,
            request=body,
            recipients=recipients,
            excluded=excluded,
            transactional=transactional,
            list_unsubscribe=not transactional,
            provider=provider,
            project_id=project_id or source.get("project"),
            email_id=email_id,
            conversation_id=conversation_id if email_id is None else None,
            sent_count=len(recipients),
            idempotency_key=idempotency_key,
            user_agent=user_agent,
        )
        self.state.record(record)
        return record

    def _filter(self, candidates: tuple[str, ...], transactional: bool, topic: str | None) -> tuple[tuple[str, ...], dict[str, str]]:
        """Bounced and invalid always excluded; marketing also skips unsubscribed and topic opt-outs."""
        kept, excluded = [], {}
        for address in candidates:
            contact = self.config.contacts.get(address.lower())
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
    def _summary(record: SentRecord) -> str:
        kind = "transactional" if record.transactional else "marketing"
        if record.recipient_type == SINGLE_TYPE:
            return f"Email queued for delivery ({kind})" if record.sent_count else f"Email queued; recipient excluded ({', '.join(record.excluded.values())})"
        return f"Batch queued for {record.sent_count} recipient(s) ({kind}; {len(record.excluded)} excluded)"

    # -- inspection endpoints and errors ------------------------------------------------------

    async def _list_sent(self, request: Request) -> Response:
        sent = self.state.sent
        return JSONResponse({"count": len(sent), "dropped": self.state.dropped, "sent": [r.as_dict() for r in sent]})

    async def _reset(self, request: Request) -> Response:
        cleared = self.state.reset()
        return JSONResponse({"success": True, "cleared": cleared})

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"success": True, "requests": self.state.requests})

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}; the API is POST /v1/sending, inspection under /_mock/"
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message, dict(exc.headers or {}))

    async def _crash(self, request: Request, exc: Exception) -> Response:  # a bug in the mock, never expected
        return _error(500, f"internal error in the reference mock: {type(exc).__name__}")


def create_app(config: MockConfig | str | Path | dict[str, Any] | None = None, *, spec: Spec | None = None) -> ReferenceMock:
    """A reference mock (an ASGI app) for `config`: a path, a dict, or None for the default world."""
    return ReferenceMock(config, spec=spec)
