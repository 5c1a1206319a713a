"""The rule catalogue: every rule of the contract, once.

This is the product's reading of the vendor's document (see CONTRACT.md in the planning
repository): each rule with its stable id, its level, its words and the words of the
document it rests on, and its machine-checkable form. Validators, the mock, the test
plan, the strategies and the reports all read this list; nothing restates a rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._rules import (
    Acceptance,
    BearerRequired,
    DeclaredTypes,
    EmailFormat,
    EnumMember,
    ForbiddenWhen,
    IsJsonObject,
    KnownFields,
    Level,
    OpenPoint,
    RequiredProperties,
    RequiredWhen,
    ResponseFacts,
    ResponseHistory,
    ResponsePredicate,
    ResponseSchema,
    Rule,
    ScopeRequired,
    Subject,
)

if TYPE_CHECKING:
    from ._spec import Spec

__all__ = [
    "ACCEPTS_VALID",
    "AUTH_REQUIRED",
    "AUTH_SCOPE",
    "BATCH_TYPES",
    "BODY_JSON_OBJECT",
    "IDEMPOTENCY_HEADER",
    "KNOWN_FIELDS",
    "NO_SERVER_ERROR",
    "OPEN_POINTS",
    "RESPONDS_IN_TIME",
    "RULES",
    "SINGLE_TYPE",
    "STATUS_DOCUMENTED",
    "get_rule",
    "judge_credentials",
    "rules_for",
]

SINGLE_TYPE = "email"
BATCH_TYPES = ("audience", "segment", "tag")
JSON_MEDIA_TYPE = "application/json"
IDEMPOTENCY_HEADER = "Idempotency-Key"  # a replay under the same key may repeat an answer (result-id-unique)

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


def _check_server_error(spec: Spec, facts: ResponseFacts) -> str | None:
    if facts.status >= 500:
        return f"server error {facts.status}"
    return None


def _check_in_time(spec: Spec, facts: ResponseFacts) -> str | None:
    if facts.elapsed is not None and facts.timeout is not None and facts.elapsed > facts.timeout:
        return f"answered after {facts.elapsed:.2f} s, over the {facts.timeout:g} s timeout"
    return None


def _check_status_documented(spec: Spec, facts: ResponseFacts) -> str | None:
    if facts.status in spec.documented_statuses:
        return None
    documented = ", ".join(str(s) for s in sorted(spec.documented_statuses))
    if facts.status == 429:
        return f"429 rate limited, still after the bounded retries (documented: {documented})"
    return f"status {facts.status} is not documented (documented: {documented})"


def _check_json_content(spec: Spec, facts: ResponseFacts) -> str | None:
    expected = spec.response_media_types(facts.status) or (JSON_MEDIA_TYPE,)
    if facts.media_type not in expected:
        got = facts.headers.get("content-type") if facts.media_type else None
        return f"Content-Type is {got!r}, expected {' or '.join(expected)}"
    if not facts.parsed:
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
        return f"/data/provider is {data['provider']!r}, the request asked for {expected!r}"
    return None


# The rules other modules name (by these constants, never by their id strings).
BODY_JSON_OBJECT = Rule(
    "body-json-object", S, Subject.REQUEST,
    "the body must be a JSON object (not a list, scalar, empty or non-JSON body)",
    "requestBody schema `type: object`", IsJsonObject(), 400)
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
    ResponsePredicate(lambda spec, status: True, _check_server_error))
KNOWN_FIELDS = Rule(
    "known-fields", X, Subject.REQUEST,
    "a client sends only the properties the document names; an unknown one (a misspelt `recipient_email`, `reply_to`) "
    "is a client's mistake, refused by the mock and validate_request at strict (servers are not judged by it: "
    "the document lets them ignore unknown properties)",
    "SendEmailRequest `properties` (the strictest reading, for clients: a property the document does not name is a "
    "mistake, better refused than silently ignored)", KnownFields(), 400)
RESPONDS_IN_TIME = Rule(
    "responds-in-time", S, Subject.RESPONSE,
    "an answer within the run's timeout (default 10 s); a hang is a finding, not a hung run", "general HTTP",
    ResponsePredicate(lambda spec, status: True, _check_in_time, needs_timing=True))

STATUS_DOCUMENTED = Rule(
    "status-documented", S, Subject.RESPONSE,
    "status is one of 200, 400, 401, 403; 429 is transient (retried after `Retry-After`, bounded), "
    "a failure only when retries run out", "`responses:`",
    ResponsePredicate(lambda spec, status: status < 500, _check_status_documented))

RULES: tuple[Rule, ...] = (
    # --- what a conforming server must reject with 400 -----------------------------------
    BODY_JSON_OBJECT,
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
         "`recipientEmail`, `from`, `replyTo` must be email addresses",
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
         ResponsePredicate(lambda spec, status: status in spec.documented_statuses, _check_json_content)),
    Rule("success-schema", S, Subject.RESPONSE,
         "200 body validates against `ApiResponseSendEmail` (`data` ⇒ `SendEmailResult`)",
         "responses '200' schema `ApiResponseSendEmail`",
         ResponseSchema(_success_statuses, lambda spec, status: spec.response_schema(status) or {})),
    Rule("error-schema", S, Subject.RESPONSE,
         "400/401/403 body validates against `ApiError`: `success` and `error` present",
         "`ApiError.required`",
         ResponseSchema(_error_statuses, lambda spec, status: spec.response_schema(status) or {})),
    Rule("envelope-consistent", D, Subject.RESPONSE,
         "200 ⇒ `success: true` and `data` an object; 4xx ⇒ `success: false` and a non-empty `error` string",
         "ApiResponse / ApiError",
         ResponseSchema(_documented, lambda spec, status: (
             {"properties": {"success": {"const": True}, "data": {"type": "object"}}, "required": ["data"]}
             if status < 400 else
             {"properties": {"success": {"const": False}, "error": {"if": {"type": "string"}, "then": {"minLength": 1}}}}
         ))),
    Rule("result-has-id", D, Subject.RESPONSE,
         "`data.id` is a non-empty string",
         "SendEmailResult.id: \"Message ID (for single sends) or batch ID (for batch sends)\"",
         ResponseSchema(_success_statuses, _on_result(
             {"required": ["id"], "properties": {"id": {"type": "string", "minLength": 1}}}))),
    Rule("result-status-known", D, Subject.RESPONSE,
         "`data.status` present and ∈ sent, queued, processing",
         "SendEmailResult.status: \"sent, queued, or processing\"; \"return immediately with status queued\"",
         ResponseSchema(_success_statuses, _on_result(
             {"required": ["status"], "properties": {"status": {"enum": ["sent", "queued", "processing"]}}}))),
    Rule("result-count", D, Subject.RESPONSE,
         "`data.sentCount`, when present, is an integer ≥ 0", "SendEmailResult.sentCount",
         ResponseSchema(_success_statuses, _on_result(
             {"properties": {"sentCount": {"type": "integer", "minimum": 0}}}))),
    Rule("result-status-queued", X, Subject.RESPONSE,
         "`data.status` is `queued`",
         "\"All sends are queued … return immediately with status queued\"",
         ResponseSchema(_success_statuses, _on_result({"properties": {"status": {"const": "queued"}}}))),
    Rule("result-provider", X, Subject.RESPONSE,
         "`data.provider`, when present, equals the requested `providerType`, or `migma` when none was given",
         "providerType `default: migma`",
         ResponsePredicate(lambda spec, status: 200 <= status < 300, _check_provider, needs_body=True)),
    Rule("result-id-unique", D, Subject.RESPONSE,
         "two accepted sends never share `data.id`, unless the second is an idempotent replay of the first "
         "(same `Idempotency-Key`)",
         "SendEmailResult.id: \"Message ID (for single sends) or batch ID (for batch sends)\": an id names one send",
         ResponseHistory(_success_statuses, _result_id, "data.id")),
    Rule("success-without-error", X, Subject.RESPONSE,
         "a 200 with `success: true` has `error` absent or null",
         "ApiResponse: `error` is nullable; a success that carries an error text contradicts itself",
         ResponseSchema(_success_statuses, lambda spec, status: {
             "if": {"properties": {"success": {"const": True}}, "required": ["success"]},
             "then": {"properties": {"error": {"type": "null"}}},
         })),
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


def get_rule(rule_id: str) -> Rule:
    """The rule with this id; a KeyError naming the known ids otherwise."""
    try:
        return _BY_ID[rule_id]
    except KeyError:
        raise KeyError(f"unknown rule {rule_id!r}; known: {', '.join(_BY_ID)}") from None


def rules_for(level: Level | str = Level.DOCUMENTED) -> tuple[Rule, ...]:
    """The rules a run at `level` checks (each level includes the ones before it)."""
    selected = Level.parse(level)
    return tuple(rule for rule in RULES if selected.includes(rule.level))


def judge_credentials(header: str | None, scopes_of: Any) -> tuple[Rule, str] | None:
    """The auth rule a request with this `Authorization` header breaks, and why (None: authorised).

    `scopes_of(key)` gives a known key's permissions, or None for an unknown key. The
    rules are asked in catalogue order, so 401 comes before 403.
    """
    from ._rules import bearer_key

    key = bearer_key(header)
    scopes = scopes_of(key) if key is not None else None
    for rule in RULES:
        if rule.subject is Subject.AUTH:
            why = rule.form.refusal(header, scopes)  # type: ignore[union-attr]
            if why:
                return rule, why
    return None
