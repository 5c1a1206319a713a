"""The rule catalogue: every rule of the contract, once.

This is the product's reading of the vendor's document (see CONTRACT.md in the planning
repository): each rule with its stable id, its level, its words and the words of the
document it rests on, and its machine-checkable form. Validators, the mock, the test
plan, the strategies and the reports all read this list; nothing restates a rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migma_contract.contract.rules import (
    CONFLICTING_MEDIA_TYPES,
    MALFORMED_MEDIA_TYPE,
    Acceptance,
    BearerRequired,
    DeclaredTypes,
    EmailFormat,
    EnumMember,
    ForbiddenWhen,
    IsJsonObject,
    KeyedPair,
    KeyedRetry,
    KnownFields,
    Level,
    NotExercisable,
    OpenPoint,
    RequiredProperties,
    RequiredWhen,
    ResponseFacts,
    ResponseHistory,
    ResponsePredicate,
    ResponseSchema,
    Rule,
    RuleSet,
    ScopeRequired,
    Subject,
    Utf8Body,
    bearer_key,
)
from migma_contract.core.fields import trimmed, values_of
from migma_contract.core.flags import flag

if TYPE_CHECKING:
    from migma_contract.document.spec import Spec

__all__ = [
    "ACCEPTS_VALID",
    "AUTH_REQUIRED",
    "AUTH_SCOPE",
    "BATCH_TYPES",
    "BODY_JSON_OBJECT",
    "BODY_UTF8",
    "CONFLICT_CODE",
    "IDEMPOTENCY_CONFLICT",
    "IDEMPOTENCY_HEADER",
    "IDEMPOTENCY_KEY_LENGTH",
    "IDEMPOTENCY_NOT_STORED",
    "IDEMPOTENCY_REPLAY",
    "IDEMPOTENCY_SCOPE",
    "IDEMPOTENCY_WINDOW_S",
    "KNOWN_FIELDS",
    "MAX_IDEMPOTENCY_KEY",
    "NO_SERVER_ERROR",
    "OPEN_POINTS",
    "RATE_LIMIT_RETRY_AFTER",
    "REPLAYED_HEADER",
    "RESPONDS_IN_TIME",
    "REUSED_KEY_STATUSES",
    "RULES",
    "SINGLE_TYPE",
    "STATUS_DOCUMENTED",
    "VENDOR_SETS",
    "get_rule",
    "judge_credentials",
    "retry_after_seconds",
    "retry_after_value",
    "rules_for",
]

SINGLE_TYPE = "email"
BATCH_TYPES = ("audience", "segment", "tag")
JSON_MEDIA_TYPE = "application/json"
IDEMPOTENCY_HEADER = "Idempotency-Key"  # a replay under the same key may repeat an answer (result-id-unique)
REPLAYED_HEADER = "Idempotent-Replayed"  # `true` on a replayed answer (the vendor set)
MAX_IDEMPOTENCY_KEY = 100  # characters
IDEMPOTENCY_WINDOW_S = 24 * 3600  # how long a key is remembered, per API key
CONFLICT_CODE = "IDEMPOTENCY_CONFLICT"  # the vendor's name for a reused key; where it appears is left open
VENDOR_SETS = (RuleSet.CONTRACT, RuleSet.VENDOR)  # the rule sets of a run with the vendor set

S, D, X = Level.SCHEMA, Level.DOCUMENTED, Level.STRICT


def _success_statuses(spec: Spec) -> frozenset[int]:
    return frozenset(s for s in spec.documented_statuses if 200 <= s < 300)


def _error_statuses(spec: Spec) -> frozenset[int]:
    return frozenset(s for s in spec.documented_statuses if 400 <= s < 500)


def _documented(spec: Spec) -> frozenset[int]:
    return spec.documented_statuses


def _on_result(schema: dict[str, Any]) -> Any:
    """A fragment about `data` (the SendEmailResult) of a success body."""
    return lambda spec, status: {"properties": {"data": schema}}


def _result(body: Any) -> Any:
    """The `data` object of a body (None when there is none)."""
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class _Speaks:
    """A response rule's `speaks_of`: whether a body gives the rule something to judge, with the JSON Schema (per
    status) accepting exactly the bodies the test is true of, so a validator can ask every rule's test at once, in
    Rust, with the rules themselves (`validators._StatusRules.quick`); tests hold the two to each other."""

    test: Callable[[int, Any], bool]
    schema: Callable[[int], dict[str, Any]]

    def __call__(self, status: int, body: Any) -> bool:
        return self.test(status, body)


def _has_envelope(status: int, body: Any) -> bool:
    """A body that says something of the envelope: a success's, or an error's `success` or `error` field."""
    return isinstance(body, dict) and (status < 400 or "success" in body or "error" in body)


def _has_result(status: int, body: Any) -> bool:
    return _result(body) is not None


def _result_has(field: str) -> _Speaks:
    return _Speaks(lambda status, body: field in (_result(body) or {}), lambda status: _result_schema([field]))


def _says_success(status: int, body: Any) -> bool:
    return isinstance(body, dict) and body.get("success") is True


def _result_schema(required: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": ["data"], "properties": {"data": {"type": "object", "required": required}}}


_HAS_ENVELOPE = _Speaks(_has_envelope, lambda status: {"type": "object"} if status < 400 else
                       {"type": "object", "anyOf": [{"required": ["success"]}, {"required": ["error"]}]})
_HAS_RESULT = _Speaks(_has_result, lambda status: _result_schema([]))
_SAYS_SUCCESS = _Speaks(_says_success, lambda status: {"type": "object", "required": ["success"],
                                                      "properties": {"success": {"const": True}}})


def _check_server_error(spec: Spec, facts: ResponseFacts) -> str | None:
    if facts.status >= 500:
        return f"server error {facts.status}"
    return None


def _check_in_time(spec: Spec, facts: ResponseFacts) -> str | None:
    if facts.elapsed is not None and facts.timeout is not None and facts.elapsed > facts.timeout:
        return f"answered after {facts.elapsed:.2f} s, over the {facts.timeout:g} s timeout"
    return None


def _check_status_documented(spec: Spec, facts: ResponseFacts) -> str | None:
    statuses = spec.documented_statuses if facts.documented is None else facts.documented
    if facts.status in statuses:
        return None
    documented = ", ".join(str(s) for s in sorted(statuses))
    if facts.status == 429:
        return f"429 rate limited, still after the bounded retries (documented: {documented})"
    return f"status {facts.status} is not documented (documented: {documented})"


def _shown_value(value: str | None, limit: int = 120) -> str:
    """A header value a server sent, quoted for a message and cut (visibly) at `limit` characters."""
    return "None" if value is None else repr(value[:limit]) + (f" (cut: {len(value):,} characters)" if len(value) > limit else "")


def _check_json_content(spec: Spec, facts: ResponseFacts) -> str | None:
    expected = spec.response_media_types(facts.status) or (JSON_MEDIA_TYPE,)
    if facts.media_type not in expected:
        got = facts.headers.get("content-type")
        if facts.media_type == CONFLICTING_MEDIA_TYPES and got is not None:
            # a singleton field (RFC 9110 §8.3) given twice, differently: one reader takes the first, another the last
            values = values_of(got)
            shown = ", ".join(_shown_value(value, 60) for value in values[:4]) + (", ..." if len(values) > 4 else "")
            return f"Content-Type given with {len(values)} different values ({shown}): which one holds is anyone's guess"
        if facts.media_type == MALFORMED_MEDIA_TYPE:
            return (f"Content-Type {_shown_value(got)} is not one well-formed media type (RFC 9110 §8.3.1: a strict client, "
                    "Go's mime.ParseMediaType, refuses it; one reading the first of two field lines may read ''), "
                    f"expected {' or '.join(expected)}")
        return f"Content-Type is {_shown_value(got if facts.media_type else None)}, expected {' or '.join(expected)}"
    if not facts.parsed and facts.unread is None:  # (a body not read, its charset or its depth, is not judged)
        return f"the body is not JSON ({facts.parse_error})"
    return None


def _result_id(facts: ResponseFacts) -> str | None:
    """`data.id` of a success body when it is a non-empty string (result-has-id judges the rest)."""
    body = facts.body
    if not isinstance(body, dict) or body.get("success") is not True or not isinstance(body.get("data"), dict):
        return None
    value = body["data"].get("id")
    return value if isinstance(value, str) and value else None


def _requested_provider(spec: Spec, request: Any) -> Any:
    prop = spec.request_properties.get("providerType", {})
    if isinstance(request, dict) and "providerType" in request:
        return request["providerType"]
    return prop.get("default")


def _check_provider(spec: Spec, facts: ResponseFacts) -> str | None:
    data = facts.body.get("data") if isinstance(facts.body, dict) else None
    if not isinstance(data, dict) or "provider" not in data or facts.request is None:
        return None
    expected = _requested_provider(spec, facts.request)
    if data["provider"] != expected:
        named = isinstance(facts.request, dict) and "providerType" in facts.request
        why = f"the request asked for {expected!r}" if named else f"the request named no providerType, so {expected!r} is expected"
        return f"/data/provider is {data['provider']!r}, {why}"
    return None


# The forms other modules call beyond the shared facets (parsing a body, suggesting a field), typed as what they are.
BODY_FORM = IsJsonObject()
KNOWN_FIELDS_FORM = KnownFields()

# The rules other modules name (by these constants, never by their id strings).
BODY_JSON_OBJECT = Rule(
    "body-json-object", S, Subject.REQUEST,
    "the body must be a JSON object (not a list, scalar, empty or non-JSON body)",
    "requestBody schema `type: object`", BODY_FORM, 400)
BODY_UTF8 = Rule(
    "body-utf8", X, Subject.REQUEST,
    "the body must be UTF-8 (RFC 8259 §8.1: JSON exchanged between systems MUST be UTF-8); a body that is a JSON "
    "object in another encoding or with invalid bytes is refused. Kept apart from `body-json-object` because the "
    "vendor's document never states it and many stock parsers accept such bodies",
    "RFC 8259 §8.1, `content: application/json`", Utf8Body(), 400)
AUTH_REQUIRED = Rule(
    "auth-required", S, Subject.AUTH,
    "no `Authorization` header, a header that is not `Bearer <key>`, or an unknown key ⇒ 401 `ApiError`",
    "securitySchemes.apiKeyAuth: \"Use 'Authorization: Bearer YOUR_API_KEY'\"", BearerRequired(), 401)
AUTH_SCOPE = Rule(
    "auth-scope", D, Subject.AUTH,
    "a valid key without the `email:send` permission ⇒ 403 `ApiError`",
    "\"Requires API key with email:send.\"", ScopeRequired(), 403)
ACCEPTS_VALID = Rule(
    "accepts-valid", S, Subject.ACCEPTANCE,
    "a request that satisfies every rule, sent with a full-scope key, gets 200",
    "responses: '200': \"Email sent or batch queued\"", Acceptance(), 200)
NO_SERVER_ERROR = Rule(
    "no-server-error", S, Subject.RESPONSE,
    "never a 5xx, whatever the request", "general HTTP",
    ResponsePredicate(lambda spec, status: True, _check_server_error, status_only=True))
KNOWN_FIELDS = Rule(
    "known-fields", X, Subject.REQUEST,
    "a client sends only the properties the document names; an unknown one (a misspelt `recipient_email`, `reply_to`) "
    "is a client's mistake, refused by the mock and validate_request at strict (servers are not judged by it: "
    "the document lets them ignore unknown properties)",
    "SendEmailRequest `properties` (the strictest reading, for clients: a property the document does not name is a "
    "mistake, better refused than silently ignored)", KNOWN_FIELDS_FORM, 400)
RESPONDS_IN_TIME = Rule(
    "responds-in-time", S, Subject.RESPONSE,
    "an answer within the run's timeout (default 10 s); a hang is a finding, not a hung run", "general HTTP",
    ResponsePredicate(lambda spec, status: True, _check_in_time, needs_timing=True))

STATUS_DOCUMENTED = Rule(
    "status-documented", S, Subject.RESPONSE,
    "status is one of 200, 400, 401, 403; 429 is transient (retried after `Retry-After`, bounded), "
    "a failure only when retries run out", "`responses:`",
    ResponsePredicate(lambda spec, status: status < 500, _check_status_documented, status_only=True))


# --- the vendor set: what the vendor's wider documentation adds (opt-in) -------------------------

V = RuleSet.VENDOR
_IDEMPOTENCY_PAGE = "the vendor's docs, idempotency page and its Node SDK's README (quoted in issue 15)"
_RATE_PAGE = "the vendor's docs, rate limits (quoted in issue 15)"


def _replayed(facts: ResponseFacts) -> bool:
    return trimmed(facts.headers.get(REPLAYED_HEADER.lower(), "")).lower() == "true"


def _api_error(facts: ResponseFacts) -> str | None:
    """Why a body is not the `ApiError` envelope (`success: false`, a non-empty `error` text); None when it is."""
    body = facts.body
    if not facts.parsed:
        return f"the body is not JSON ({facts.parse_error})"
    if not isinstance(body, dict) or body.get("success") is not False:
        return "the body does not say `success: false`"
    if not (isinstance(body.get("error"), str) and body["error"].strip()):
        return "the body has no `error` text"
    return None


def _unsettled(facts: ResponseFacts, what: str) -> None:
    """A 429 or 5xx answer decides nothing about a stored key: the rule stays unjudged by this pair."""
    if facts.status == 429 or facts.status >= 500:
        raise NotExercisable(f"{what} was answered {facts.status} (transient), which judges nothing about the key")


def _first_accepted(first: ResponseFacts) -> str | None:
    if 200 <= first.status < 300:
        return None
    return (f"the first request under the key was answered {first.status}, not accepted; only an accepted send is "
            "judged (whether a refusal is replayed is left open)")


def _check_replay(first: ResponseFacts | None, second: ResponseFacts) -> str | None:
    assert first is not None
    _unsettled(second, "the replay")
    problems = []
    if second.status != first.status:
        problems.append(f"the replay was answered {second.status}, the original {first.status}")
    elif second.body != first.body:
        old, new = _result_id(first), _result_id(second)
        if old and new and old != new:
            problems.append(f"the replay carries data.id {new[:80]!r}, the original {old[:80]!r}: the send was processed again")
        else:
            problems.append("the replay's body differs from the original's")
    if not _replayed(second):
        problems.append(f"no `{REPLAYED_HEADER}: true` header on the replay")
    return "; ".join(problems) or None


def _check_conflict(first: ResponseFacts | None, second: ResponseFacts) -> str | None:
    assert first is not None
    _unsettled(second, "the request with another body")
    if second.status != 409:
        how = " as a replay of the first" if _replayed(second) else ""
        return f"another body under the same key was answered {second.status}{how}, not 409"
    problem = _api_error(second)
    return f"the 409 is not the ApiError envelope: {problem}" if problem else None


def _check_scope(first: ResponseFacts | None, second: ResponseFacts) -> str | None:
    assert first is not None
    _unsettled(second, "the request under the second API key")
    old, new = _result_id(first), _result_id(second)
    if _replayed(second) or (old is not None and old == new):
        return (f"the same key under another API key got the first key's answer (data.id {str(new)[:80]!r}"
                f"{', marked as a replay' if _replayed(second) else ''}): keys are not scoped per API key")
    if second.status == 409:
        return "the same key and body under another API key was refused as a conflict (409): keys are not scoped per API key"
    if second.status in (401, 403):
        raise NotExercisable(f"the server refused {flag('--second-api-key')} ({second.status}): idempotency-scope needs a second "
                             "full-scope key")
    if not 200 <= second.status < 300:
        raise NotExercisable(f"the send under {flag('--second-api-key')} was answered {second.status}; are the fixtures valid for "
                             "that key too?")
    return None


def _check_key_length(first: ResponseFacts | None, only: ResponseFacts) -> str | None:
    _unsettled(only, "the request with the long key")
    if only.status != 400:
        return f"a key of {MAX_IDEMPOTENCY_KEY + 1} characters was answered {only.status}, not 400"
    problem = _api_error(only)
    return f"the 400 is not the ApiError envelope: {problem}" if problem else None


def _transient(status: int) -> bool:
    return status == 429 or status >= 500


def _check_not_stored(first: ResponseFacts, retry: ResponseFacts, injected: bool) -> str | None:
    # A replay of another status is an earlier answer under the key (an accepted send before the 429, or the
    # work done before a gateway's 5xx): it says nothing of whether the transient answer was stored.
    if _replayed(retry) and retry.status == first.status:
        return (f"the retry after a {first.status} was answered {retry.status} with `{REPLAYED_HEADER}: true`: "
                f"the {first.status} was stored and replayed")
    if injected and retry.status == first.status and retry.body == first.body:
        return (f"the retry got the same {first.status} again, although the failure was injected once: "
                f"the {first.status} was stored and replayed")
    if _transient(retry.status):
        raise NotExercisable(f"the retry after a {first.status} was answered {retry.status} too")
    return None


RATE_LIMIT_RETRY_AFTER_ID = "rate-limit-retry-after"


def retry_after_seconds(value: str) -> int | None:
    """The seconds of a `Retry-After` value the contract accepts (RFC 9110 delay-seconds: `1*DIGIT`), else None.

    The one home of what `rate-limit-retry-after` wants: the rule judges by it, and the toolkit's own
    answers (the strategies' 429s, the mock's) are written by `retry_after_value` and checked by it.
    """
    text = trimmed(value)
    return int(text) if re.fullmatch(r"[0-9]+", text) else None


def retry_after_value(seconds: float) -> str:
    """`seconds` as a `Retry-After` value the contract accepts; ValueError for a value it cannot be (a fraction,
    a negative, a non-finite number): a client written to the vendor's docs reads it with `int(...)`."""
    whole = int(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and math.isfinite(seconds) and seconds == int(seconds) else None
    value = str(whole) if whole is not None else ""
    if retry_after_seconds(value) is None:
        raise ValueError(f"a whole number of seconds >= 0 (RFC 9110 delay-seconds, rule {RATE_LIMIT_RETRY_AFTER_ID}), "
                         f"not {seconds!r}")
    return value


def _check_retry_after(spec: Spec, facts: ResponseFacts) -> str | None:
    problems = []
    value = facts.headers.get("retry-after")
    if value is None:
        problems.append("no Retry-After header")
    elif retry_after_seconds(value) is None:
        problems.append(f"Retry-After {value[:40]!r} is not a whole number of seconds")
    envelope = _api_error(facts)
    if envelope:
        problems.append(f"not the ApiError envelope ({envelope})")
    return "; ".join(problems) or None


IDEMPOTENCY_REPLAY = Rule(
    "idempotency-replay", D, Subject.IDEMPOTENCY,
    f"the same `{IDEMPOTENCY_HEADER}` and the same body (same API key, within 24 h) ⇒ the original status and body "
    f"again, with `{REPLAYED_HEADER}: true`; judged on an accepted send (whether a 4xx is replayed is left open)",
    f"{_IDEMPOTENCY_PAGE}: \"the same key with the same body replays the original response (same status and body) and "
    f"marks the replay with an `{REPLAYED_HEADER}: true` header\"",
    KeyedPair("same", _check_replay, _first_accepted), set=V)
IDEMPOTENCY_CONFLICT = Rule(
    "idempotency-conflict", D, Subject.IDEMPOTENCY,
    "the same key with a different body ⇒ 409 with the `ApiError` envelope (the toolkit does not require "
    f"`{CONFLICT_CODE}` anywhere on the wire; the reference mock sends it as `code` and at the start of `error`)",
    f"{_IDEMPOTENCY_PAGE}: \"the same key with a different body answers 409 (`{CONFLICT_CODE}`)\"",
    KeyedPair("other-body", _check_conflict, _first_accepted), 409, set=V)
# The answers a send under a key used before may get: the vendor's conflict (idempotency-conflict, 409), and 422, which
# the IETF's Idempotency-Key draft (draft-ietf-httpapi-idempotency-key-header §2.7) gives a key reused with another
# payload. Traffic does not show a key's earlier use, so the judge leaves such an answer's status unjudged there.
REUSED_KEY_STATUSES = frozenset({IDEMPOTENCY_CONFLICT.deserves, 422})
IDEMPOTENCY_SCOPE = Rule(
    "idempotency-scope", D, Subject.IDEMPOTENCY,
    "the same key under another API key is a different key: the send is processed anew (no replay, no 409)",
    f"{_IDEMPOTENCY_PAGE}: \"scoped per API key for 24 hours\"",
    KeyedPair("other-api-key", _check_scope, _first_accepted), set=V)
IDEMPOTENCY_KEY_LENGTH = Rule(
    "idempotency-key-length", D, Subject.IDEMPOTENCY,
    f"a key longer than {MAX_IDEMPOTENCY_KEY} characters ⇒ 400 `ApiError`",
    f"{_IDEMPOTENCY_PAGE}: \"a string of at most {MAX_IDEMPOTENCY_KEY} characters\"",
    KeyedPair(None, _check_key_length, length=MAX_IDEMPOTENCY_KEY + 1), 400, set=V)
IDEMPOTENCY_NOT_STORED = Rule(
    "idempotency-not-stored", D, Subject.IDEMPOTENCY,
    "a 429 or 5xx answer is never replayed: a retry with the same key is processed anew",
    f"{_IDEMPOTENCY_PAGE}: \"429 and 5xx answers are never stored, so they stay safe to retry\"",
    KeyedRetry(_transient, _check_not_stored), set=V)
RATE_LIMIT_RETRY_AFTER = Rule(
    RATE_LIMIT_RETRY_AFTER_ID, D, Subject.RESPONSE,
    "a 429 carries an integer `Retry-After` (seconds) and the `ApiError` envelope",
    f"{_RATE_PAGE}: 429 \"Rate limit exceeded\"; the SDK \"waits `Retry-After` seconds (an integer) before retrying a 429\"",
    ResponsePredicate(lambda spec, status: status == 429, _check_retry_after, provoke=429), set=V)

RULES: tuple[Rule, ...] = (
    # --- what a conforming server must reject with 400 -----------------------------------
    BODY_JSON_OBJECT,
    BODY_UTF8,
    Rule("required-fields", S, Subject.REQUEST,
         "`recipientType`, `from`, `fromName`, `subject` present",
         "SendEmailRequest `required:`", RequiredProperties(), 400),
    Rule("field-types", S, Subject.REQUEST,
         "each property has its declared type; `null` is not a string (3.1)",
         "SendEmailRequest properties", DeclaredTypes(), 400),
    Rule("recipient-type-enum", S, Subject.REQUEST,
         "`recipientType` ∈ email, audience, segment, tag",
         "recipientType `enum`", EnumMember("recipientType"), 400),
    Rule("provider-type-enum", S, Subject.REQUEST,
         "`providerType` ∈ ses, resend, sendgrid, mailgun, migma",
         "providerType `enum`", EnumMember("providerType"), 400),
    Rule("email-format", D, Subject.REQUEST,
         "`recipientEmail`, `from`, `replyTo` must be email addresses: RFC 5321 `Mailbox` (what `format: email` means "
         "in JSON Schema 2020-12), so no display name (`Name <a@b.c>`), no surrounding whitespace, no comments",
         "`format: email` (an annotation in 3.1, asserted here because the API sends email)", EmailFormat(), 400),
    Rule("email-needs-recipientEmail", D, Subject.REQUEST,
         "`recipientType: email` ⇒ `recipientEmail` present",
         "recipientEmail: \"Required for single email sends.\"",
         RequiredWhen("recipientType", (SINGLE_TYPE,), "recipientEmail"), 400),
    Rule("batch-needs-recipientId", D, Subject.REQUEST,
         "`recipientType` ∈ audience, segment, tag ⇒ `recipientId` present",
         "recipientId: \"Required for audience/segment/tag sends.\"",
         RequiredWhen("recipientType", BATCH_TYPES, "recipientId"), 400),
    Rule("batch-forbids-recipientEmail", D, Subject.REQUEST,
         "`recipientType` ∈ audience, segment, tag ⇒ `recipientEmail` absent",
         "the toolkit's reading of the conditional rule: recipientEmail if and only if `recipientType` is `email` "
         "(the document says only \"Required for single email sends.\")",
         ForbiddenWhen("recipientType", BATCH_TYPES, "recipientEmail"), 400),
    KNOWN_FIELDS,
    # --- credentials ------------------------------------------------------------------------
    AUTH_REQUIRED,
    AUTH_SCOPE,
    # --- positive acceptance ----------------------------------------------------------------
    ACCEPTS_VALID,
    # --- what every response must satisfy -------------------------------------------------
    NO_SERVER_ERROR,
    RESPONDS_IN_TIME,
    STATUS_DOCUMENTED,
    Rule("content-type-json", S, Subject.RESPONSE,
         "documented responses carry `Content-Type: application/json` (parameters such as charset allowed) "
         "and a body that parses as JSON", "`content: application/json`",
         ResponsePredicate(lambda spec, status: status in spec.documented_statuses, _check_json_content, media_only=True)),
    Rule("success-schema", S, Subject.RESPONSE,
         "200 body validates against `ApiResponseSendEmail` (`data` ⇒ `SendEmailResult`)",
         "responses '200' schema `ApiResponseSendEmail`",
         ResponseSchema(_success_statuses, lambda spec, status: spec.response_schema(status) or {}, whole_body=True)),
    Rule("error-schema", S, Subject.RESPONSE,
         "400/401/403 body validates against `ApiError`: `success` and `error` present",
         "`ApiError.required`",
         ResponseSchema(_error_statuses, lambda spec, status: spec.response_schema(status) or {}, whole_body=True)),
    Rule("envelope-consistent", D, Subject.RESPONSE,
         "200 ⇒ `success: true` and `data` an object; 4xx ⇒ `success: false` and a non-empty `error` string",
         "ApiResponse / ApiError",
         ResponseSchema(_documented, lambda spec, status: (
             {"properties": {"success": {"const": True}, "data": {"type": "object"}}, "required": ["data"]}
             if status < 400 else
             {"properties": {"success": {"const": False}, "error": {"if": {"type": "string"}, "then": {"minLength": 1}}}}
         ), speaks_of=_HAS_ENVELOPE)),
    Rule("result-has-id", D, Subject.RESPONSE,
         "`data.id` is a non-empty string",
         "SendEmailResult.id: \"Message ID (for single sends) or batch ID (for batch sends)\"",
         ResponseSchema(_success_statuses, _on_result(
             {"required": ["id"], "properties": {"id": {"type": "string", "minLength": 1}}}), speaks_of=_HAS_RESULT)),
    Rule("result-status-known", D, Subject.RESPONSE,
         "`data.status` present and ∈ sent, queued, processing",
         "SendEmailResult.status: \"sent, queued, or processing\"; \"return immediately with status queued\"",
         ResponseSchema(_success_statuses, _on_result(
             {"required": ["status"], "properties": {"status": {"enum": ["sent", "queued", "processing"]}}}), speaks_of=_HAS_RESULT)),
    Rule("result-count", D, Subject.RESPONSE,
         "`data.sentCount`, when present, is an integer ≥ 0", "SendEmailResult.sentCount",
         ResponseSchema(_success_statuses, _on_result(
             {"properties": {"sentCount": {"type": "integer", "minimum": 0}}}), speaks_of=_result_has("sentCount"))),
    Rule("result-status-queued", X, Subject.RESPONSE,
         "`data.status` is `queued`",
         "\"All sends are queued … return immediately with status queued\"",
         ResponseSchema(_success_statuses, _on_result({"properties": {"status": {"const": "queued"}}}), speaks_of=_result_has("status"))),
    Rule("result-provider", X, Subject.RESPONSE,
         "`data.provider`, when present, equals the requested `providerType`, or `migma` when none was given",
         "providerType `default: migma`",
         ResponsePredicate(lambda spec, status: 200 <= status < 300, _check_provider, needs_body=True, needs_request=True,
                           speaks_of=_result_has("provider"))),
    Rule("result-id-unique", D, Subject.RESPONSE,
         "two accepted sends never share `data.id`, unless the second is an idempotent replay of the first "
         "(same `Idempotency-Key`, under the same API key, with the same body)",
         "SendEmailResult.id: \"Message ID (for single sends) or batch ID (for batch sends)\": an id names one send",
         ResponseHistory(_success_statuses, _result_id, "data.id")),
    Rule("success-without-error", X, Subject.RESPONSE,
         "a 200 with `success: true` has `error` absent or null",
         "ApiResponse: `error` is nullable; a success that carries an error text contradicts itself",
         ResponseSchema(_success_statuses, lambda spec, status: {
             "if": {"properties": {"success": {"const": True}}, "required": ["success"]},
             "then": {"properties": {"error": {"type": "null"}}},
         }, speaks_of=_SAYS_SUCCESS)),
    # --- the vendor set (opt-in) -----------------------------------------------------------
    IDEMPOTENCY_REPLAY,
    IDEMPOTENCY_CONFLICT,
    IDEMPOTENCY_SCOPE,
    IDEMPOTENCY_KEY_LENGTH,
    IDEMPOTENCY_NOT_STORED,
    RATE_LIMIT_RETRY_AFTER,
)

OPEN_POINTS: tuple[OpenPoint, ...] = (
    OpenPoint(
        "recipientId-on-single-send",
        "whether recipientId is ignored or refused on an `email` send",
        {"properties": {"recipientType": {"const": SINGLE_TYPE}}, "required": ["recipientType", "recipientId"]},
        "avoid",
        drop="recipientId",
    ),
    OpenPoint(
        "both-emailId-and-conversationId",
        "which of emailId and conversationId wins when both are given",
        {"required": ["emailId", "conversationId"]},
        "avoid",
        drop="conversationId",
    ),
    OpenPoint(
        "neither-emailId-nor-conversationId",
        "whether emailId or conversationId is required (a request with neither may get 200 or 400)",
        {"not": {"anyOf": [{"required": ["emailId"]}, {"required": ["conversationId"]}]}},
        "either",
    ),
)

_BY_ID = {rule.id: rule for rule in RULES}
# What a request breaking a rule of its body deserves (400): an open point's "either" allows it beside 200.
REFUSAL_STATUSES = frozenset(rule.deserves for rule in RULES if rule.subject is Subject.REQUEST)


def get_rule(rule_id: str) -> Rule:
    """The rule with this id; a KeyError naming the known ids otherwise."""
    try:
        return _BY_ID[rule_id]
    except KeyError:
        raise KeyError(f"unknown rule {rule_id!r}; known: {', '.join(_BY_ID)}") from None


def rules_for(level: Level | str = Level.DOCUMENTED, sets: Iterable[RuleSet | str] = (RuleSet.CONTRACT,)) -> tuple[Rule, ...]:
    """The rules a run at `level` checks (each level includes the ones before it), of the rule `sets` asked for.

    The vendor set is opt-in: `rules_for(level, VENDOR_SETS)` adds it.
    """
    selected = Level.parse(level)
    chosen = {RuleSet(s) for s in sets}
    return tuple(rule for rule in RULES if rule.set in chosen and selected.includes(rule.level))


def judge_credentials(header: str | None, scopes_of: Any, *, key: str | None = None) -> tuple[Rule, str] | None:
    """The auth rule a request with this `Authorization` header breaks, and why (None: authorised).

    `scopes_of(key)` gives a known key's permissions, or None for an unknown key. The
    rules are asked in catalogue order, so 401 comes before 403. `key`: the header's
    bearer key when the caller has it already (`bearer_key(header)`).
    """
    key = key if key is not None else bearer_key(header)
    scopes = scopes_of(key) if key is not None else None
    for rule in _AUTH_RULES:
        why = rule.form.refusal(header, scopes)
        if why:
            return rule, why
    return None


_AUTH_RULES = tuple(rule for rule in RULES if rule.subject is Subject.AUTH)  # in catalogue order: 401 before 403
