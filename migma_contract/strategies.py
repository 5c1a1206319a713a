"""Hypothesis strategies for POST /v1/sending: request bodies, single fields, and the API's answers.

    from hypothesis import given
    from migma_contract.strategies import valid_requests, invalid_requests

    @given(valid_requests(recipient_type="segment"))
    def test_my_client_builds_what_the_api_accepts(body): ...

    @given(invalid_requests(RULE_ID))  # a request rule's id, e.g. batch-needs-recipientId
    def test_my_server_refuses(body): ...

`valid_requests` draws bodies that satisfy every rule and leave nothing open (plain
addresses on a reserved domain, printable text); `invalid_requests(rule_id)` draws a valid
body and breaks exactly that one rule, the way the conformance plan does;
`field_values(prop)` draws valid values of one property. `success_responses()` and
`error_responses(status)` draw `httpx.Response`s the contract allows, to fuzz a client's
handling of what comes back. Every strategy is built when called, never at import.
"""

from __future__ import annotations

import copy
import string
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from migma_contract.contract.catalogue import VENDOR_SETS, get_rule, retry_after_value
from migma_contract.contract.rules import NotExercisable, RuleSet, Subject
from migma_contract.contract.validators import contract_for
from migma_contract.document.spec import Spec
from migma_contract.generate.bodies import BodyFactory, Fixtures
from migma_contract.generate.open_points import open_in_valid_body

__all__ = ["error_responses", "field_values", "invalid_requests", "success_responses", "valid_requests"]


def _characters(chars: str) -> Any:
    """`chars` as the one-character strategy `st.text(alphabet=chars)` builds, without loading Hypothesis'
    Unicode category table first (~25 ms of CPU: its check of the categories asked for, none here).

    The same intervals, so the same draws (`tests/test_strategies.py` holds it); on a Hypothesis
    whose internals differ, the characters themselves (the public way).
    """
    try:
        from hypothesis.internal.intervalsets import IntervalSet
        from hypothesis.strategies._internal.strings import OneCharStringStrategy

        return OneCharStringStrategy(IntervalSet.from_string(chars))
    except (ImportError, TypeError, AttributeError):
        return chars


_LOCAL_CHARS = string.ascii_lowercase + string.digits
_LOCAL = st.text(alphabet=_characters(_LOCAL_CHARS), min_size=1, max_size=12)
# Text is drawn from a curated alphabet, not all of Unicode: every UTF-8 length (1 to 4
# bytes), Latin-1, combining marks, right-to-left scripts, CJK, emoji (astral: a surrogate
# pair in UTF-16), a zero-width joiner and a wide space. These are the characters servers
# mishandle, and drawing from ~220 of them costs Hypothesis a third of drawing from the
# whole of Unicode's letter, mark, number, punctuation and symbol categories.
_ALPHABET = "".join(sorted({
    *map(chr, range(0x20, 0x7F)),  # ASCII printable
    *map(chr, range(0xA1, 0x100)),  # Latin-1 (2 bytes)
    "\u0301", "\u0308", "\u0327",  # combining acute, diaeresis, cedilla
    "\u05d0", "\u05e9", "\u0627", "\u0644", "\u0645",  # Hebrew, Arabic (right to left)
    "\u0416", "\u03a9", "\u0939", "\u0e01",  # Cyrillic, Greek, Devanagari, Thai
    "\u4e2d", "\u6587", "\u3042", "\uac00", "\u3000",  # CJK, kana, Hangul (3 bytes), ideographic space
    "\u200d", "\u00ad", "\u2019", "\u20ac",  # zero-width joiner, soft hyphen, quote, euro
    "\U0001f600", "\U0001f44d", "\U0001f3fd", "\U00010348",  # emoji, skin tone, Gothic (4 bytes)
}))
_TEXT = st.text(alphabet=_characters(_ALPHABET), min_size=1, max_size=80).filter(lambda s: s.strip() != "")
_JSON_LEAF = st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.floats(allow_nan=False, allow_infinity=False) | _TEXT
# template variables: plain values, and a list or an object of them (two levels; st.recursive costs several times more)
_JSON = _JSON_LEAF | st.lists(_JSON_LEAF, max_size=3) | st.dictionaries(_TEXT, _JSON_LEAF, max_size=3)


def _value_strategy(prop: str, schema: dict[str, Any], bodies: BodyFactory, required: bool) -> st.SearchStrategy[Any]:
    if schema.get("enum"):
        return st.sampled_from([v for v in schema["enum"] if _usable(bodies, prop, v)])
    if schema.get("format") == "email":
        return _LOCAL.map(lambda local: f"{local}@{bodies.fixtures.recipient_domain}")
    if schema.get("type") == "boolean":
        return st.booleans()
    if schema.get("type") == "object":
        return st.dictionaries(_TEXT, _JSON, max_size=3)
    return _TEXT


def _usable(bodies: BodyFactory, prop: str, value: Any) -> bool:
    try:
        bodies.enum_value(prop, value)
    except NotExercisable:
        return False
    return True


_FIXED = frozenset({"recipientType", "recipientId", "recipientEmail", "from", "emailId", "conversationId", "projectId"})


def _valid_bodies(bodies: BodyFactory, kinds: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid bodies of `kinds`; every strategy is built here once, none per draw (draws stay ~1 ms)."""
    spec = bodies.spec
    templates = {kind: bodies.valid_body(kind) for kind in kinds}
    optional = [
        (prop, prop in spec.request_required, _value_strategy(prop, schema, bodies, prop in spec.request_required))
        for prop, schema in spec.request_properties.items()
        if prop not in _FIXED
    ]
    address = _value_strategy("recipientEmail", {"format": "email"}, bodies, True)
    try:
        conversation: str | None = bodies.valid_value("conversationId")
    except NotExercisable:  # no conversation fixture on a data-bound target: keep emailId
        conversation = None
    kind_of = st.sampled_from(kinds)
    coin = st.booleans()
    # which optional properties a body has: one draw of a bit mask, not a coin each (each
    # draw costs Hypothesis about as much as a short string); it shrinks to none of them
    present = st.integers(0, (1 << len(optional)) - 1)
    return _draw_body(bodies, templates, kind_of, present, optional, address, conversation, coin)


# The composite strategies are defined once, here, not per call: Hypothesis reads a composite's
# source when it is defined (~1 ms each), and a run builds one per request rule.
@st.composite
def _draw_body(draw: st.DrawFn, bodies: BodyFactory, templates: dict[str, dict[str, Any]], kind_of: st.SearchStrategy[str],
               present: st.SearchStrategy[int], optional: list[tuple[str, bool, st.SearchStrategy[Any]]],
               address: st.SearchStrategy[str], conversation: str | None, coin: st.SearchStrategy[bool]) -> dict[str, Any]:
    body = copy.deepcopy(templates[draw(kind_of)])
    mask = draw(present)
    for bit, (prop, required, strategy) in enumerate(optional):
        if required or mask >> bit & 1:
            body[prop] = draw(strategy)
    if "recipientEmail" in body:
        body["recipientEmail"] = draw(address)
    if conversation is not None and draw(coin):
        body["conversationId"] = conversation
        body.pop("emailId", None)
    return bodies.complete(body)


def valid_requests(
    recipient_type: str | None = None, *, fixtures: Fixtures | None = None, spec: Spec | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies every rule accepts and no reasonable server may refuse.

    `recipient_type` pins the recipient type; `fixtures` supplies a data-bound target's
    real values (sender, emailId, list ids), used wherever real data is needed.
    """
    contract = contract_for(spec)
    bodies = BodyFactory(contract.spec, fixtures or Fixtures())
    if recipient_type is not None and recipient_type not in bodies.recipient_types:
        raise ValueError(f"unknown recipient_type {recipient_type!r}; choose one of {', '.join(bodies.recipient_types)}")
    kinds, missing = [], None
    for kind in [recipient_type] if recipient_type else bodies.recipient_types:
        try:
            bodies.valid_body(kind)
            kinds.append(kind)
        except NotExercisable as exc:  # a data-bound target without this list's fixture
            missing = exc
    if not kinds:
        raise ValueError(f"no valid request can be built: {missing.reason if missing else 'no recipient type'}")
    validator = contract.request_validator("strict")
    return _valid_bodies(bodies, kinds).filter(
        lambda body: not validator.violations(body) and open_in_valid_body(contract, body, bodies.fixtures) is None
    )


class _Seeded(BodyFactory):
    """A factory whose valid body of one recipient type is a drawn one (shares `base`'s set-up)."""

    def __init__(self, base: BodyFactory, seed: dict[str, Any]) -> None:  # no super().__init__: reuse base's state
        self.__dict__.update(base.__dict__)
        self._seed = seed

    def valid_body(self, recipient_type: str | None = None) -> dict[str, Any]:
        kind = recipient_type or self._seed["recipientType"]
        if kind == self._seed["recipientType"]:
            return copy.deepcopy(self._seed)
        return super().valid_body(kind)


def invalid_requests(
    rule_id: str, *, fixtures: Fixtures | None = None, spec: Spec | None = None
) -> st.SearchStrategy[Any]:
    """Bodies that break exactly the request rule `rule_id`, and nothing else."""
    rule = get_rule(rule_id)
    form = rule.form
    if rule.subject is not Subject.REQUEST:
        raise ValueError(f"{rule_id!r} constrains {rule.constrains}s, not request bodies; request rules can be broken alone")
    contract = contract_for(spec)
    fixtures = fixtures or Fixtures()
    base = BodyFactory(contract.spec, fixtures)
    validator = contract.request_validator("strict")
    seeds = valid_requests(fixtures=fixtures, spec=spec)
    start = st.integers(min_value=0, max_value=63)
    return _broken(rule_id, form, contract.spec, base, validator, seeds, start)


@st.composite
def _broken(draw: st.DrawFn, rule_id: str, form: Any, spec: Spec, base: BodyFactory, validator: Any,
            seeds: st.SearchStrategy[dict[str, Any]], start: st.SearchStrategy[int]) -> Any:
    seed = draw(seeds)
    offset = draw(start)

    def alone(body: Any) -> bool:
        return {v.rule_id for v in validator.violations(body)} == {rule_id}

    # The first mutation from a drawn offset (cyclically) that breaks this rule alone; the
    # mutations are built only as far as needed (a rule may have dozens, each a deep copy).
    built: list[Any] = []
    try:
        for mutation in form.mutations(spec, _Seeded(base, seed)):
            built.append(mutation.body)
            if len(built) > offset and alone(mutation.body):
                return mutation.body
    except NotExercisable:  # a data-bound target without the fixture this rule's cases need
        built = []
    for index in range(len(built)):
        body = built[(offset + index) % len(built)]
        if alone(body):
            return body
    reject()
    return None


# --- single fields, and the API's answers (to fuzz a client's response handling) ------------------

_FIXED_FIELDS = ("from", "emailId", "conversationId", "projectId", "recipientId")


def field_values(
    prop: str, *, recipient_type: str | None = None, fixtures: Fixtures | None = None, spec: Spec | None = None
) -> st.SearchStrategy[Any]:
    """Values of one request property that every rule accepts in an otherwise valid body.

    For a form field or a builder of your own: `field_values("recipientEmail")` draws plain
    addresses on the recipient domain, `field_values("providerType")` the enum's values.
    Properties that must name real data (`from`, `emailId`, `recipientId`, ...) give the
    fixture's value (or the generated one on an open target).
    """
    contract = contract_for(spec)
    bodies = BodyFactory(contract.spec, fixtures or Fixtures())
    properties = contract.spec.request_properties
    if prop not in properties:
        from migma_contract.contract.catalogue import KNOWN_FIELDS_FORM

        meant = KNOWN_FIELDS_FORM.suggestion(prop)
        hint = f"; did you mean {meant}?" if meant else ""
        raise ValueError(f"{prop!r} is not a property of the request{hint} (known: {', '.join(properties)})")
    try:
        base = bodies.valid_body(recipient_type) if recipient_type else bodies.body_where_relevant(prop)
        if prop in _FIXED_FIELDS:
            return st.just(bodies.valid_value(prop, base.get("recipientType")))
    except NotExercisable as exc:
        raise ValueError(f"no valid {prop} can be drawn: {exc.reason}") from None
    validator = contract.request_validator("strict")
    values = (_value_strategy("recipientEmail", {"format": "email"}, bodies, True) if prop == "recipientEmail"
              else _value_strategy(prop, properties[prop], bodies, prop in contract.spec.request_required))
    return values.filter(lambda value: _accepted(contract, validator, bodies, {**base, prop: value}))


def _accepted(contract: Any, validator: Any, bodies: BodyFactory, body: dict[str, Any]) -> bool:
    return not validator.violations(body) and open_in_valid_body(contract, body, bodies.fixtures) is None


def _resolve(schema: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its `$ref` (into `$defs`) and `allOf` merged: properties, required, type, enum, bounds."""
    if not isinstance(schema, dict):
        return {} if schema is True else {"not": {}}
    parts = [schema]
    if "$ref" in schema:
        parts.append(_resolve(defs[schema["$ref"].rsplit("/", 1)[-1]], defs))
    parts += [_resolve(part, defs) for part in schema.get("allOf", [])]
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key in ("$ref", "allOf", "$defs", "$schema", "description", "default"):
                continue
            if key == "properties":
                props = merged.setdefault("properties", {})
                for name, sub in value.items():
                    props[name] = {"allOf": [*props[name]["allOf"], sub]} if name in props else {"allOf": [sub]}
            elif key == "required":
                merged["required"] = sorted({*merged.get("required", []), *value})
            elif key == "type":
                types = set(value if isinstance(value, list) else [value])
                merged["type"] = sorted(types & set(merged["type"])) if "type" in merged else sorted(types)
            elif key == "if":
                merged.setdefault("conditionals", []).append((value, part.get("then", {})))
            elif key != "then":
                merged[key] = value
    return merged


def _from_schema(schema: Any, defs: dict[str, Any], extras: bool) -> st.SearchStrategy[Any]:
    """Values of a response schema as the document and the catalogue write them (the subset they use)."""
    resolved = _resolve(schema, defs)
    if "const" in resolved:
        return st.just(resolved["const"])
    if "enum" in resolved:
        return st.sampled_from(resolved["enum"])
    types = resolved.get("type") or (["object"] if "properties" in resolved else ["string", "integer", "boolean", "null"])

    def of_type(kind: str) -> st.SearchStrategy[Any]:
        extra = {}
        for condition, then in resolved.get("conditionals", []):  # `if: {type: T}, then: {...}`: applies to T
            if kind in (condition.get("type") if isinstance(condition.get("type"), list) else [condition.get("type")]):
                extra.update(then)
        if kind == "object":
            props = resolved.get("properties", {})
            required = set(resolved.get("required", []))
            # each built when first drawn: a document may describe recursive data (a result holding its previous one)
            fields = {name: _lazily(sub, defs, extras) for name, sub in props.items()}

            @st.composite
            def build(draw: st.DrawFn) -> dict[str, Any]:
                value = {name: draw(strategy) for name, strategy in fields.items() if name in required or draw(st.booleans())}
                if extras and draw(st.integers(0, 4)) == 0:  # now and then a field the document does not name
                    value.update(draw(st.dictionaries(_LOCAL.map(lambda k: f"x_{k}"), _JSON_LEAF, min_size=1, max_size=2)))
                return value

            return build()
        if kind == "string":
            return st.text(min_size=int(extra.get("minLength", resolved.get("minLength", 0))), max_size=40)
        if kind == "integer":
            return st.integers(min_value=resolved.get("minimum", -(10**6)), max_value=10**6)
        if kind == "number":
            return st.floats(min_value=resolved.get("minimum"), allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "array":
            return st.lists(_JSON_LEAF, max_size=3)
        return st.none()

    return st.one_of([of_type(kind) for kind in types])


def _lazily(schema: Any, defs: dict[str, Any], extras: bool) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: _from_schema(schema, defs, extras))


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    import httpx  # imported by the strategies' builders already: importing it while drawing would disturb `random`

    return httpx.Response(status, json=body, headers=headers)


def _documented_response(status: int, level: str, request: Any, spec: Spec | None, extras: bool, vendor: bool,
                         headers: dict[str, str] | None = None) -> st.SearchStrategy[Any]:
    from migma_contract.contract.catalogue import rules_for

    contract = contract_for(spec)
    base = contract.spec.response_schema(status) or {}
    fragments = [f for r in rules_for(level) if (f := r.form.response_fragment(contract.spec, status)) is not None]
    defs = dict(base.get("$defs", {}))
    for fragment in fragments:
        defs.update(fragment.get("$defs", {}))
    bodies = _from_schema({"allOf": [base, *fragments]}, defs, extras)
    if request is not None and status < 300:
        provider = request.get("providerType", contract.spec.request_properties.get("providerType", {}).get("default"))
        bodies = bodies.map(lambda body: _with_provider(body, provider))
    validator = contract.response_validator(level, _sets(vendor))
    content_type = {"content-type": "application/json"}
    validator.evaluate(status, content_type, {})  # compiles this status's validator now, not while drawing

    def kept(body: Any) -> bool:  # every rule kept, and every rule judged (none left unjudged: `unread`)
        verdict = validator.evaluate(status, content_type, body, request)
        return not verdict.violations and verdict.unread is None

    return bodies.filter(kept).map(lambda body: _response(status, body, headers))


def _with_provider(body: Any, provider: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("data"), dict) and "provider" in body["data"]:
        body["data"]["provider"] = provider
    return body


def _sets(vendor: bool) -> tuple[RuleSet, ...] | None:
    return VENDOR_SETS if vendor else None


def success_responses(
    *, level: str = "strict", request: dict[str, Any] | None = None, extra_fields: bool = True, vendor: bool = False,
    spec: Spec | None = None,
) -> st.SearchStrategy[Any]:
    """`httpx.Response`s of a successful send that every response rule of `level` accepts
    (and, with `vendor`, every rule of the vendor set: `--with-vendor`).

    Optional fields come and go, and (with `extra_fields`) a field the document does not
    name appears now and then, as a newer API might send: a client must cope with all of
    it. With `request`, `data.provider` matches what it asked for.

        @given(success_responses())
        def test_my_client_reads_any_success(response):
            assert parse_result(response).id
    """
    statuses = sorted(s for s in contract_for(spec).spec.documented_statuses if 200 <= s < 300)
    return st.one_of([_documented_response(status, level, request, spec, extra_fields, vendor) for status in statuses])


def error_responses(
    status: int | None = None, *, level: str = "strict", extra_fields: bool = True, vendor: bool = False,
    spec: Spec | None = None,
) -> st.SearchStrategy[Any]:
    """`httpx.Response`s of a refused send: an `ApiError` body with `status`.

    By default one of the documented error statuses (400, 401, 403), each body accepted by
    every response rule of `level` (the vendor set's too, with `vendor`). Any other error
    status can be asked for: 429 comes with a `Retry-After` of whole seconds (0 to 2, as the
    catalogue's `rate-limit-retry-after` and RFC 9110 want: a client may read it with
    `int(...)`), a 5xx with an `ApiError`-shaped body, the way the reference mock injects
    them. Such a status is what `status-documented` and `no-server-error` judge by itself;
    every other rule accepts the response.
    """
    documented = sorted(s for s in contract_for(spec).spec.documented_statuses if 400 <= s < 500)
    if status is None:
        return st.one_of([error_responses(s, level=level, extra_fields=extra_fields, vendor=vendor, spec=spec) for s in documented])
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"error_responses: status must be an HTTP error status (400-599), not {status!r}")
    if status in documented:
        return _documented_response(status, level, None, spec, extra_fields, vendor)
    import httpx  # noqa: F401  (see _response)

    body = st.fixed_dictionaries({"success": st.just(False), "error": _TEXT})
    if status == 429:
        waits = st.integers(0, 2).map(retry_after_value)  # written by the rule's own home (shrinks to 0)
        return st.tuples(body, waits).map(lambda pair: _response(status, pair[0], {"Retry-After": pair[1]}))
    return body.map(lambda b: _response(status, b))
