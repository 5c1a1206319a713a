"""The validators' fast path: a yes from it is always the traced validator's yes.

`_fastschema` flattens each rule set into one schema and swaps `format: email` for a
Rust-side pattern; these tests hold it to the slow path's verdicts on generated schemas,
bodies, responses and strings.
"""

import json
import string

import jsonschema_rs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from migma_contract import Contract, Level, contract_for, load_spec, rules_for, validate_request
from migma_contract.contract import validators as contract_module
from migma_contract.contract.email import FAST_ADDRESS_SCHEMA, is_email_address
from migma_contract.contract.fastschema import fast_formats, flatten, inline_refs
from migma_contract.contract.rules import ResponseFacts, ResponsePredicate, ResponseSchema

VALID = {"recipientType": "email", "recipientEmail": "to@example.com", "from": "sender@example.com", "fromName": "A", "subject": "S"}
FAST_ADDRESS = jsonschema_rs.Draft202012Validator(FAST_ADDRESS_SCHEMA)

# --- addresses: the pattern accepts only what the predicate accepts ---------------------------

_ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
_ODD = "éü用@. \"\\[]:\t\u00a0()<>,;"
_atoms = st.text(alphabet=_ATEXT + _ODD, max_size=30)
_local = st.lists(_atoms, min_size=1, max_size=5).map(".".join)
_quoted = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12).map(lambda s: f'"{s}"')
_label = st.text(alphabet=string.ascii_letters + string.digits + "-ü例_", max_size=70)
_domain = (
    st.lists(_label, min_size=1, max_size=6).map(".".join)
    | st.ip_addresses(v=4).map(lambda ip: f"[{ip}]")
    | st.ip_addresses(v=6).map(lambda ip: f"[IPv6:{ip}]")
)
_plain = st.tuples(
    st.lists(st.text(alphabet=_ATEXT, min_size=1, max_size=30), min_size=1, max_size=4).map(".".join),
    st.lists(st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=64), min_size=1, max_size=4).map(".".join),
).map("@".join)


@st.composite
def _near_misses(draw):
    """A plain-looking address with one character inserted, replaced or dropped."""
    address = draw(_plain)
    at = draw(st.integers(0, len(address)))
    odd = draw(st.sampled_from([*_ODD, ".", "-", "..", "\n", ""]))
    return address[:at] + odd + address[at + draw(st.integers(0, 1)):]


_addresses = st.one_of(
    _plain,
    _near_misses(),
    st.tuples(_local | _quoted, st.sampled_from(["@", "@", "@", "", "@@", " @"]), _domain).map("".join),
    st.text(alphabet=_ATEXT[:8] + _ODD, max_size=30),
    st.text(max_size=30),
)


@settings(max_examples=400)
@given(_addresses)
@example("a" * 64 + "@x.io")  # the local part's 64 octets, at the boundary and over it
@example("a" * 65 + "@x.io")
@example("a@" + "b" * 64 + ".io")  # a label's 63 characters, over
def test_the_fast_address_pattern_accepts_only_addresses(value):
    if FAST_ADDRESS.is_valid(value):
        assert is_email_address(value)


@settings(max_examples=150)
@given(_addresses)
def test_email_format_verdicts_are_the_predicates(value):
    for name in ("from", "recipientEmail", "replyTo"):
        broken = {v.rule_id for v in validate_request({**VALID, name: value})}
        assert ("email-format" in broken) == (not is_email_address(value)), (name, value)


@pytest.mark.parametrize("address", ["a@example.com", "first.last+tag@sub.example.co.uk", "o'neil@example.org", "x@localhost"])
def test_plain_addresses_are_decided_without_python(address, monkeypatch):
    calls = []

    def counted(value):
        calls.append(value)
        return is_email_address(value)

    monkeypatch.setitem(contract_module._PY_FORMATS, "email", counted)
    validator = Contract(load_spec()).request_validator("documented")
    assert validator.violations({**VALID, "from": address, "replyTo": address}) == []
    assert calls == []
    # what the pattern leaves undecided goes to the predicate, with the predicate's verdict
    assert validator.violations({**VALID, "from": '"quoted local"@example.com'}) == []
    assert validator.violations({**VALID, "from": "jürgen@example.de"}) == []
    assert [v.rule_id for v in validator.violations({**VALID, "from": "two@at@example.com"})] == ["email-format"]
    assert calls


# --- flatten: the same yes and no as allOf, on generated schemas and instances ----------------

_NAMES = ("a", "b")
_VALUES = st.sampled_from([0, 1, 1.0, True, False, None, "", "x", "xy", [], {}])
_BASE = st.sampled_from([
    True, False, {}, {"type": "string"}, {"type": "object"}, {"type": "integer"}, {"type": ["string", "null"]},
    {"minLength": 1}, {"maxLength": 1}, {"const": 1}, {"const": True}, {"enum": ["x", 0]}, {"enum": [1.0, "xy"]},
    {"required": ["a"]}, {"required": ["b"]}, {"additionalProperties": False}, {"maxProperties": 1}, {"minimum": 1},
    {"items": {"type": "string"}}, {"description": "ignored"},
])


def _extend(inner):
    return st.one_of(
        st.dictionaries(st.sampled_from(_NAMES), inner, min_size=1, max_size=2).map(lambda p: {"properties": p}),
        st.tuples(inner, inner).map(lambda p: {"if": p[0], "then": p[1]}),
        st.tuples(inner, inner, inner).map(lambda p: {"if": p[0], "then": p[1], "else": p[2]}),
        inner.map(lambda s: {"not": s}),
        st.lists(inner, min_size=1, max_size=3).map(lambda s: {"allOf": s}),
        st.lists(inner, min_size=1, max_size=2).map(lambda s: {"anyOf": s}),
        st.tuples(inner, inner).map(lambda p: {**p[0], **p[1]} if isinstance(p[0], dict) and isinstance(p[1], dict) else p[0]),
    )


_SCHEMAS = st.recursive(_BASE, _extend, max_leaves=8)
_INSTANCES = st.recursive(
    _VALUES, lambda inner: st.dictionaries(st.sampled_from((*_NAMES, "c")), inner, max_size=3) | st.lists(inner, max_size=2), max_leaves=6
)


@settings(max_examples=300)
@given(st.lists(_SCHEMAS, min_size=1, max_size=4), st.lists(_INSTANCES, min_size=1, max_size=8))
def test_flatten_accepts_exactly_what_allof_accepts(schemas, instances):
    together = jsonschema_rs.Draft202012Validator({"allOf": schemas})
    flat = jsonschema_rs.Draft202012Validator(flatten(schemas))
    for instance in instances:
        assert flat.is_valid(instance) == together.is_valid(instance), (flatten(schemas), instance)


def test_flatten_merges_what_is_independent_and_keeps_the_rest_apart():
    merged = flatten([{"type": "string"}, {"if": {"type": "string"}, "then": {"enum": ["x"]}}, {"description": "d"}])
    assert merged == {"type": "string", "enum": ["x"]}  # the `if` is implied by the type
    kept = flatten([{"properties": {"a": {}}, "additionalProperties": False}, {"properties": {"b": {}}}])
    assert kept == {"properties": {"b": {}}, "allOf": [{"properties": {"a": {}}, "additionalProperties": False}]}
    assert flatten([{"const": 1}, {"const": True}]) == {"const": 1, "allOf": [{"const": True}]}  # 1 is not true in JSON


def test_inline_refs_leaves_recursive_and_scoped_definitions_alone():
    defs = {"Node": {"properties": {"next": {"$ref": "#/$defs/Node"}}}, "Scoped": {"$id": "x", "type": "string"}, "Leaf": {"type": "string"}}
    assert inline_refs({"$ref": "#/$defs/Leaf", "minLength": 1}, defs) == {"allOf": [{"type": "string"}, {"minLength": 1}]}
    assert inline_refs({"$ref": "#/$defs/Scoped"}, defs) == {"$ref": "#/$defs/Scoped"}
    assert inline_refs({"$ref": "#/$defs/Node"}, defs) == {"$ref": "#/$defs/Node"}  # recursive: kept whole (pass H, H2)


def test_fast_formats_swaps_only_schema_positions():
    schema = {"properties": {"a": {"format": "email"}}, "enum": [{"format": "email"}], "items": {"format": "email", "pattern": "x"}}
    swapped = fast_formats(schema, {"email": {"pattern": "p"}})
    assert swapped["properties"]["a"] == {"pattern": "p"}
    assert swapped["enum"] == [{"format": "email"}]  # data, not a schema
    assert swapped["items"] == {"pattern": "x", "allOf": [{"pattern": "p"}]}


# --- the compiled rule sets: fast yes ⇔ traced yes on generated bodies and responses ------------

_TEXTS = st.sampled_from(["", "x", "email", "segment", "migma", "ses", "queued", "sent", "done", "a@example.com", "not an address"])
_LEAVES = _TEXTS | st.sampled_from([None, True, False, 0, 1, -1, 2.5])
_REQUEST_KEYS = st.sampled_from(["recipientType", "recipientId", "recipientEmail", "from", "fromName", "replyTo", "subject",
                                 "providerType", "emailId", "transactional", "variables", "other"])
_BODIES = st.dictionaries(_REQUEST_KEYS, _LEAVES, max_size=8).map(lambda extra: {**VALID, **extra}) | st.dictionaries(_REQUEST_KEYS, _LEAVES)
_RESULTS = st.dictionaries(st.sampled_from(["id", "status", "sentCount", "provider", "message"]), _LEAVES, max_size=5)
_RESPONSES = st.fixed_dictionaries({}, optional={"success": _LEAVES, "data": _RESULTS | _LEAVES, "error": _LEAVES})


@pytest.mark.parametrize("level", list(Level))
@settings(max_examples=150)
@given(body=_BODIES, response=_RESPONSES)
def test_fast_and_traced_rule_sets_agree(level, body, response):
    contract = contract_for()
    request_set = contract.request_validator(level)._set
    assert request_set.accepts(body) == (request_set.traced(body) == []), body
    validator = contract.response_validator(level)
    for status in sorted(contract.spec.documented_statuses):
        rule_set = validator._for_status(status).rule_set
        if rule_set is not None:
            assert rule_set.accepts(response) == (rule_set.traced(response) == []), (status, response)


# --- evaluate's shortcuts (per-status work, the cached clean verdict) change no verdict --------------

def _plain_verdict(level, status, headers, body, request, elapsed, timeout):
    """The response rules applied and broken, worked out the plain way, rule by rule."""
    spec = contract_for().spec
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    content_type = lowered.get("content-type")
    media_type = content_type.split(";", 1)[0].strip().lower() if content_type else None
    parsed, error = True, None
    if isinstance(body, bytes):
        try:
            body = json.loads(body.decode("utf-8"))
        except ValueError as exc:
            parsed, error, body = False, str(exc), None
    facts = ResponseFacts(status, lowered, media_type, body, parsed, error, request, elapsed, timeout)
    applied, broken = [], []
    for rule in rules_for(level):
        form = rule.form
        if isinstance(form, ResponsePredicate) and form.applies(spec, status):
            if (form.needs_body and not parsed) or (form.needs_timing and elapsed is None):
                continue
            failed = bool(form.check(spec, facts))
        elif isinstance(form, ResponseSchema) and form.applies(spec, status) and parsed:
            fragment = form.fragment(spec, status)
            validator = jsonschema_rs.Draft202012Validator(fragment, validate_formats=True, formats={"email": is_email_address})
            failed = not validator.is_valid(body)
        else:
            continue
        # a rule about a field judges only the bodies that have it (unless it found a fault all the same)
        if failed or form.speaks_of is None or not parsed or form.speaks_of(status, body):
            applied.append(rule.id)
        if failed:
            broken.append(rule.id)
    return applied, broken


_STATUSES = st.sampled_from([200, 200, 400, 401, 403, 404, 418, 429, 500, 503])
_HEADERS = st.sampled_from([{"content-type": "application/json"}, {"Content-Type": "application/json; charset=utf-8"},
                            {"content-type": "text/plain"}, {}, {"X-Other": "1"}])
_RAW = st.sampled_from([b"", b"<html>", b"{", b"\xff", "\ufeff{}".encode()])


@pytest.mark.parametrize("level", list(Level))
@settings(max_examples=120)
@given(status=_STATUSES, headers=_HEADERS, response=_RESPONSES | _RAW, raw=st.booleans(),
       request=st.none() | st.fixed_dictionaries({}, optional={"providerType": _TEXTS}), elapsed=st.sampled_from([None, 0.1, 11.0]))
def test_evaluate_gives_the_plain_verdict(level, status, headers, response, raw, request, elapsed):
    body = response if isinstance(response, bytes) else json.dumps(response).encode() if raw else response
    timeout = 10.0 if elapsed is not None else None
    verdict = contract_for().response_validator(level).evaluate(status, headers, body, request, elapsed=elapsed, timeout=timeout)
    applied, broken = _plain_verdict(level, status, headers, body, request, elapsed, timeout)
    assert list(verdict.applied) == applied
    assert list(dict.fromkeys(v.rule_id for v in verdict.violations)) == broken


# --- branches on one required property's values (the recipient variants) ------------------------

_KINDS = ["email", "audience", "segment", "tag"]
_SUBSETS = st.lists(st.sampled_from(_KINDS), min_size=1, max_size=4, unique=True)
_CONDITION = st.tuples(_SUBSETS, st.booleans(), st.booleans(), st.booleans()).map(
    lambda p: {**({"type": "object"} if p[1] else {}), **({"required": ["kind"]} if p[2] else {}),
               "properties": {"kind": {"const": p[0][0]} if p[3] and len(p[0]) == 1 else {"enum": p[0]}}}
)
_CONSEQUENCE = st.sampled_from([{}, {"required": ["a"]}, {"required": ["b"]}, {"not": {"required": ["a"]}},
                                {"required": ["b"], "not": {"required": ["a"]}}, {"properties": {"a": {"type": "string"}}}])
_BRANCH = st.tuples(_CONDITION, _CONSEQUENCE, st.none() | _CONSEQUENCE).map(
    lambda p: {"if": p[0], "then": p[1], **({"else": p[2]} if p[2] is not None else {})}
)
# every instance that tells the branches apart: each kind (and none, and a wrong one) with `a` and `b` present or not
_OBJECTS = [
    {**({"kind": kind} if kind is not None else {}), **a, **b}
    for kind in (*_KINDS, "other", 5, None) for a in ({}, {"a": "x"}, {"a": 1}) for b in ({}, {"b": "y"})
] + [[], "kind", None]


@settings(max_examples=300)
@given(st.booleans(), st.lists(_BRANCH, min_size=1, max_size=4))
def test_branches_on_a_discriminator_merge_without_changing_what_is_accepted(typed, branches):
    base = {**({"type": "object"} if typed else {}), "required": ["kind"], "properties": {"kind": {"type": "string", "enum": _KINDS}}}
    together = jsonschema_rs.Draft202012Validator({"allOf": [base, *branches]})
    flat = jsonschema_rs.Draft202012Validator(flatten([base, *branches]))
    for instance in _OBJECTS:
        assert flat.is_valid(instance) == together.is_valid(instance), (flatten([base, *branches]), instance)


_ALL_SUBSETS = [[k for i, k in enumerate(_KINDS) if mask >> i & 1] for mask in range(1, 2 ** len(_KINDS))]


@pytest.mark.parametrize("first", _ALL_SUBSETS, ids=",".join)
def test_every_pair_of_branches_on_a_discriminator_flattens_exactly(first):
    """Every pair of value sets (disjoint or not, covering or not), each with an `else` or without."""
    base = {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string", "enum": _KINDS}}}
    for second in _ALL_SUBSETS:
        for else_first, else_second in ((None, None), ({"required": ["b"]}, None), (None, {"required": ["b"]})):
            branches = [
                {"if": {"properties": {"kind": {"enum": first}}, "required": ["kind"]}, "then": {"required": ["a"]},
                 **({"else": else_first} if else_first else {})},
                {"if": {"type": "object", "properties": {"kind": {"enum": second}}}, "then": {"not": {"required": ["a"]}, "required": ["b"]},
                 **({"else": else_second} if else_second else {})},
            ]
            together = jsonschema_rs.Draft202012Validator({"allOf": [base, *branches]})
            flat = jsonschema_rs.Draft202012Validator(flatten([base, *branches]))
            for instance in _OBJECTS:
                assert flat.is_valid(instance) == together.is_valid(instance), (flatten([base, *branches]), instance)


def test_the_recipient_variants_become_one_if_else():
    """`recipientEmail` iff email, `recipientId` otherwise: one test of recipientType, not two."""
    audience = {"if": {"type": "object", "properties": {"kind": {"enum": ["audience", "segment", "tag"]}}, "required": ["kind"]},
                "then": {"required": ["id"], "not": {"required": ["address"]}}}
    email = {"if": {"type": "object", "properties": {"kind": {"enum": ["email"]}}, "required": ["kind"]}, "then": {"required": ["address"]}}
    base = {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string", "enum": _KINDS}}}
    flat = flatten([base, email, audience])
    assert flat["if"] == {"properties": {"kind": {"const": "email"}}}
    assert flat["then"] == {"required": ["address"]} and flat["else"] == audience["then"] and "allOf" not in flat
