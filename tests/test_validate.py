"""validate_request / validate_response: each response rule satisfied and broken alone."""

import functools
import json

import openapi_core
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_core.testing import MockRequest, MockResponse

from migma_contract import RULES, RuleSet, Subject, contract_for, get_rule, load_spec, validate_request, validate_response
from migma_contract.contract.rules import ResponseHistory
from migma_contract.contract.validators import response_facts

JSON = {"content-type": "application/json"}
OK = {"success": True, "data": {"id": "m_1", "status": "queued", "provider": "migma", "sentCount": 1, "message": "Queued"}}
ERR = {"success": False, "error": "recipientId is required"}


def ok(**data):
    return {"success": True, "data": {**OK["data"], **data}}


# rule id -> (a response that breaks it alone, a response that satisfies it); each response is
# (status, headers, body, request, elapsed). A new response rule fails test_table_covers_every_rule
# until it has its two cases here.
CASES = {
    "no-server-error": ((500, JSON, ERR, None, None), (400, JSON, ERR, None, None)),
    "responds-in-time": ((200, JSON, OK, None, 10.5), (200, JSON, OK, None, 0.2)),
    "status-documented": ((418, JSON, ERR, None, None), (403, JSON, ERR, None, None)),
    "content-type-json": ((200, {"content-type": "text/plain"}, OK, None, None), (200, {"Content-Type": "application/json; charset=utf-8"}, OK, None, None)),
    "success-schema": ((200, JSON, ok(message=5), None, None), (200, JSON, {**OK, "error": None}, None, None)),
    "error-schema": ((400, JSON, {"success": False}, None, None), (401, JSON, ERR, None, None)),
    "envelope-consistent": ((200, JSON, {**OK, "success": False}, None, None), (200, JSON, OK, None, None)),
    "result-has-id": ((200, JSON, {"success": True, "data": {"status": "queued"}}, None, None), (200, JSON, OK, None, None)),
    "result-status-known": ((200, JSON, ok(status="done"), None, None), (200, JSON, ok(status="processing"), None, None)),
    "result-count": ((200, JSON, ok(sentCount=-1), None, None), (200, JSON, ok(sentCount=0), None, None)),
    "result-status-queued": ((200, JSON, ok(status="sent"), None, None), (200, JSON, OK, None, None)),
    "result-provider": ((200, JSON, ok(provider="ses"), {"providerType": "resend"}, None), (200, JSON, ok(provider="resend"), {"providerType": "resend"}, None)),
    "success-without-error": ((200, JSON, {**OK, "error": "string"}, None, None), (200, JSON, {**OK, "error": None}, None, None)),
}
# Rules judged across responses need a run's memory (RunState, the Schemathesis checks): see below.
RESPONSE_RULES = [r for r in RULES if r.subject is Subject.RESPONSE and not isinstance(r.form, ResponseHistory)
                  and r.set is RuleSet.CONTRACT]


def judge(case, level):
    status, headers, body, request, elapsed = case
    return validate_response(status, headers, body, request=request, level=level, elapsed=elapsed, timeout=10.0 if elapsed else None)


def test_table_covers_every_rule():
    assert set(CASES) == {r.id for r in RESPONSE_RULES}


@pytest.mark.parametrize("rule", RESPONSE_RULES, ids=lambda r: r.id)
def test_response_rule_broken_alone_and_satisfied(rule):
    breaking, satisfying = CASES[rule.id]
    assert {v.rule_id for v in judge(breaking, rule.level)} == {rule.id}
    assert judge(satisfying, rule.level) == []


def test_issue_examples():
    body = {"recipientType": "segment", "from": "a@example.com", "fromName": "A", "subject": "S"}
    assert [v.rule_id for v in validate_request(body)] == ["batch-needs-recipientId"]
    both = [v.rule_id for v in validate_request({**body, "recipientEmail": "b@example.com"})]
    assert both == ["batch-needs-recipientId", "batch-forbids-recipientEmail"]
    good = {"success": True, "data": {"id": "m_1", "status": "queued"}, "error": None}
    assert validate_response(200, JSON, good) == []
    assert [v.rule_id for v in validate_response(200, JSON, {**good, "success": False})] == ["envelope-consistent"]


def test_violations_carry_pointer_and_readable_message():
    found = validate_request({"recipientType": "email", "from": None, "fromName": "A", "subject": "S", "recipientEmail": "not an address"})
    by_rule = {v.rule_id: v for v in found}
    assert by_rule["field-types"].pointer == "/from" and "null" in by_rule["field-types"].message
    assert by_rule["email-format"].pointer == "/recipientEmail"
    missing = validate_request({"recipientType": "email", "recipientEmail": "a@example.com"})
    assert sorted(v.pointer for v in missing) == ["/from", "/fromName", "/subject"]
    # a property that must be absent is pointed at itself, not at the object holding it
    batch = {"recipientType": "tag", "recipientId": "tag_1", "from": "a@example.com", "fromName": "A", "subject": "S"}
    [forbidden] = validate_request({**batch, "recipientEmail": "b@example.com"})
    assert (forbidden.rule_id, forbidden.pointer) == ("batch-forbids-recipientEmail", "/recipientEmail")


def test_raw_bodies_are_parsed_and_garbage_is_not_json():
    assert validate_response(400, JSON, json.dumps(ERR).encode()) == []
    broken = validate_response(400, JSON, b"<html>oops</html>")
    assert [v.rule_id for v in broken] == ["content-type-json"]
    assert "not JSON" in broken[0].message


def test_429_is_reported_as_transient_rate_limit():
    [violation] = validate_response(429, JSON, ERR)
    assert violation.rule_id == "status-documented" and "429" in violation.message


def test_validators_are_compiled_once_per_level():
    contract = contract_for()
    assert contract is contract_for(load_spec())
    assert contract.request_validator("documented") is contract.request_validator("documented")
    assert contract.response_validator("strict") is contract.response_validator("strict")


# --- differential: the protocol-level verdicts agree with openapi-core ---------------------------

PROTOCOL_RULES = {"no-server-error", "status-documented", "content-type-json", "success-schema", "error-schema"}
CORPUS = [
    (200, "application/json", OK),
    (200, "application/json", {**OK, "error": None}),
    (200, "application/json", ok(message=5)),
    (200, "application/json", ok(sentCount="1")),
    (200, "text/plain", OK),
    (200, "application/json", {"data": {}}),
    (400, "application/json", ERR),
    (400, "application/json", {"success": False}),
    (401, "application/json", {"success": "no", "error": "x"}),
    (403, "application/json", ERR),
    (404, "application/json", ERR),
    (500, "application/json", ERR),
]


@pytest.mark.parametrize(("status", "media", "body"), CORPUS)
def test_protocol_verdicts_agree_with_openapi_core(status, media, body):
    spec = load_spec()
    api = openapi_core.OpenAPI.from_dict(spec.document)
    request = MockRequest("https://api.migma.ai", "post", "/v1/sending", data=b"{}", content_type="application/json")
    response = MockResponse(json.dumps(body).encode(), status_code=status, content_type=media)
    try:
        api.validate_response(request, response)
        core_ok = True
    except Exception:
        core_ok = False
    ours = {v.rule_id for v in validate_response(status, {"content-type": media}, body, level="schema")}
    assert (not (ours & PROTOCOL_RULES)) == core_ok, ours


def test_an_id_given_twice_breaks_result_id_unique_unless_the_second_is_a_replay():
    form = get_rule("result-id-unique").form
    memory: dict = {}

    def judge_once(body, replay_key=None, label="the first send"):
        return form.judge(memory, response_facts(200, JSON, json.dumps(body).encode(), None, None, None), replay_key, label)

    assert judge_once(ok(id="m_1"), "key-1") == (True, None)
    assert judge_once(ok(id="m_1"), "key-1") == (True, None)  # an idempotent replay of the first
    judged, message = judge_once(ok(id="m_1"), label="the second send")
    assert judged and message == "data.id 'm_1' was already given to an earlier accepted send (the first send); this send, 'the second send', got it again"
    assert judge_once(ok(id="m_2")) == (True, None)
    assert judge_once({"success": True, "data": {"status": "queued"}}) == (False, None)  # no id: result-has-id's business
    assert judge_once({**ERR}) == (False, None)


# --- the vendor set: a 429 carries an integer Retry-After and the ApiError envelope -----------------

WITH_VENDOR = contract_for().response_validator("documented", ["contract", "vendor"])


@pytest.mark.parametrize(("headers", "body", "broken"), [
    ({**JSON, "Retry-After": "3"}, ERR, None),
    ({**JSON, "Retry-After": " 0 "}, ERR, None),
    (JSON, ERR, "no Retry-After header"),
    ({**JSON, "Retry-After": "1.5"}, ERR, "Retry-After '1.5' is not a whole number of seconds"),
    ({**JSON, "Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, ERR, "is not a whole number of seconds"),
    ({**JSON, "Retry-After": "²"}, ERR, "is not a whole number of seconds"),
    ({**JSON, "Retry-After": "3"}, {"success": True}, "not the ApiError envelope (the body does not say `success: false`)"),
    ({"content-type": "text/plain", "Retry-After": "3"}, b"Too Many Requests", "not the ApiError envelope (the body is not JSON"),
    ({**JSON, "Retry-After": "3"}, {"success": False, "error": " "}, "not the ApiError envelope (the body has no `error` text)"),
])
def test_rate_limit_retry_after_wants_whole_seconds_and_the_envelope(headers, body, broken):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    found = {v.rule_id: v.message for v in WITH_VENDOR.evaluate(429, headers, raw).violations}
    if broken is None:
        assert "rate-limit-retry-after" not in found
    else:
        assert broken in found["rate-limit-retry-after"]
    # without the vendor set, nobody asks
    assert "rate-limit-retry-after" not in {v.rule_id for v in validate_response(429, headers, raw, level="strict")}


def test_with_the_vendor_set_a_409_is_a_documented_status_and_only_then():
    conflict = json.dumps({"success": False, "error": "IDEMPOTENCY_CONFLICT: another body"}).encode()
    assert "status-documented" not in {v.rule_id for v in WITH_VENDOR.evaluate(409, JSON, conflict).violations}
    assert "status-documented" in {v.rule_id for v in validate_response(409, JSON, conflict)}
    assert "status-documented" in {v.rule_id for v in WITH_VENDOR.evaluate(422, JSON, conflict).violations}


# --- the JSON fast path: the decoder's scanner alone, same value and same error as decode -----------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6,
)
_PADDING = st.sampled_from(["", " ", "\n", "\t \r\n"])


def _outcome(call, text):
    try:
        return "value", call(text)
    except ValueError as exc:  # JSONDecodeError, and the request parser's own refusals
        return type(exc).__name__, str(exc)


@settings(max_examples=300)
@given(st.one_of(
    st.tuples(_PADDING, _JSON_VALUES.map(json.dumps), _PADDING).map("".join),
    st.text(alphabet='{}[]",:0123456789.eE+-truefalsn \\u', max_size=20),
))
def test_decode_whole_gives_what_decode_gives(text):
    from migma_contract.contract.rules import JSON_DECODER, decode_whole

    for decoder in (json.JSONDecoder(), JSON_DECODER):
        assert _outcome(functools.partial(decode_whole, decoder), text) == _outcome(decoder.decode, text)


def _read_as_json_loads_reads_it(text):
    """What `response_facts` must make of a body: the request's reading (`rules.JSON_DECODER`: any integer a number,
    no NaN, Infinity or number past IEEE 754), or its error; a leading BOM worded as `json.loads` words it."""
    from migma_contract.contract.rules import JSON_DECODER
    from migma_contract.core.bounded import loads

    try:
        if text.startswith("\ufeff"):
            loads(text)
        return True, JSON_DECODER.decode(text), None
    except (ValueError, RecursionError) as exc:
        return False, None, f"{type(exc).__name__}: {str(exc)[:120]}"


@settings(max_examples=300)
@given(st.one_of(
    st.tuples(_PADDING, _JSON_VALUES.map(json.dumps), _PADDING).map("".join),
    st.text(alphabet='{}[]",:0123456789.eE+-truefalsn \\u', max_size=20),
    st.sampled_from(["", "\ufeff{}", '{"n": ' + "1" * 5000 + "}", '{"n": -' + "9" * 4301 + "} ", "[1, 2", "{} x", "nul",
                     "NaN", '{"n": -Infinity}', "[1e999]", " 1.5e3 "]),
))
def test_a_response_body_is_read_as_json_loads_reads_it(text):
    facts = response_facts(200, JSON, text, None, None, None)
    assert (facts.parsed, facts.body, facts.parse_error) == _read_as_json_loads_reads_it(text)
    raw = response_facts(200, JSON, text.encode("utf-8", "surrogatepass"), None, None, None)
    assert (raw.parsed, raw.body) == (facts.parsed, facts.body)


def test_a_response_body_is_read_without_a_python_call_per_number():
    """A number in a response body cost a Python call (`parse_int`) on the common path (speed, issue 23)."""
    import sys

    body = json.dumps({**OK, "error": None, "counts": list(range(300))}).encode()
    validate_response(200, JSON, body)  # compiled and cached first
    calls = []
    sys.setprofile(lambda frame, event, arg: calls.append(frame.f_code.co_name) if event == "call" else None)
    try:
        verdict = validate_response(200, JSON, body)
    finally:
        sys.setprofile(None)
    assert verdict == [] and len(calls) < 30, sorted(set(calls))


def test_a_response_body_of_a_str_subclass_is_read_as_text():
    class Text(str):
        pass

    assert validate_response(200, JSON, Text(json.dumps(OK))) == validate_response(200, JSON, json.dumps(OK)) == []
    assert response_facts(200, JSON, Text('{"a": 1}'), None, None, None).body == {"a": 1}


def test_rules_asking_one_question_of_a_body_ask_it_once_and_each_stays_silent_alone():
    validator = contract_for().response_validator("strict")
    rules = validator._for_status(200)
    grouped = {ids for _, ids in rules.speakers}
    assert ("result-has-id", "result-status-known") in grouped  # the same test of `data`, asked once
    assert len({speaks for speaks, _ in rules.speakers}) == len(rules.speakers)
    # a success without `data`: every rule about `data` is silent; with `data` but no sentCount, only result-count
    bare = validator.evaluate(200, {"content-type": "application/json"}, b'{"success": true}').applied
    assert not {"result-has-id", "result-status-known", "result-count", "result-provider"} & set(bare)
    assert "envelope-consistent" in bare and "success-without-error" in bare
    partial = validator.evaluate(200, {"content-type": "application/json"},
                                 b'{"success": true, "data": {"id": "m_1", "status": "queued"}}').applied
    assert {"result-has-id", "result-status-known"} <= set(partial) and "result-count" not in partial


_JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.floats(-1, 1, allow_nan=False), st.text(max_size=3))
_ENVELOPE_KEYS = st.sampled_from(["success", "data", "error", "id", "status", "sentCount", "provider", "x"])
_SUCCESSES = st.fixed_dictionaries(
    {"success": st.sampled_from([True, 1, False]),
     "data": st.fixed_dictionaries({}, optional={"id": st.sampled_from(["m_1", "", 5]), "status": st.sampled_from(["queued", "sent", "x"]),
                                                 "sentCount": st.sampled_from([0, 1, -1, "1"]), "provider": st.sampled_from(["migma", "ses"])})},
    optional={"error": st.sampled_from([None, "x", ""])})
_BODIES = st.one_of(_SUCCESSES, st.recursive(_JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_ENVELOPE_KEYS, inner, max_size=5)), max_leaves=12))


@settings(max_examples=400, deadline=None)
@given(_BODIES, st.sampled_from([200, 201, 400, 401, 403, 404]))
def test_each_speaks_of_test_and_its_schema_agree(body, status):
    # a validator asks every rule's speaks_of at once through the schemas (in Rust): they must say what the tests say
    import jsonschema_rs

    speakers = {rule.form.speaks_of for rule in RULES if getattr(rule.form, "speaks_of", None) is not None}
    assert speakers and all(hasattr(speaks, "schema") for speaks in speakers)
    for speaks in speakers:
        assert speaks(status, body) == jsonschema_rs.Draft202012Validator(speaks.schema(status)).is_valid(body), (status, body)


@settings(max_examples=200, deadline=None)
@given(_BODIES, st.sampled_from(["schema", "documented", "strict"]))
def test_the_one_question_in_rust_gives_the_verdict_the_rules_give_one_by_one(body, level):
    validator = contract_for().response_validator(level)
    rules = validator._for_status(200)
    raw = json.dumps(body).encode()
    fast = validator.evaluate(200, {"content-type": "application/json"}, raw)
    quick, rules.quick = rules.quick, None
    try:
        slow = validator.evaluate(200, {"content-type": "application/json"}, raw)
    finally:
        rules.quick = quick
    assert fast == slow


# Raw answers as servers may write them: member names repeated exactly or in another case (ſ and K fold to s and k),
# strings holding colons and escapes (a lone surrogate, a pair), NaN and 1e999, whitespace around, nesting past
# MAX_DEPTH, bytes that are not UTF-8; with the Content-Type given in every way the judge reads.
_NAMES = st.sampled_from(["success", "Success", "data", "DATA", "error", "id", "ID", "status", "sentCount", "sentcount",
                          "provider", "message", "x", "s", "\u017f", "k", "\u212a"])
_SCALAR_TEXTS = st.sampled_from(["true", "1", '"queued"', '"migma"', "null", '"m_1"', "0", "1.5", '":"', '"\\ud800"',
                                 '"\\ud83d\\ude00"', '"\\u00e9"', '"Queued \u00e9"', "NaN", "-Infinity", "1e999", "[]", "{}", '{"a": 1}'])


def _object_text(members):
    return "{" + ", ".join(f"{json.dumps(name)}: {value}" for name, value in members) + "}"


_DATA_TEXTS = st.lists(st.tuples(_NAMES, _SCALAR_TEXTS), max_size=5).map(_object_text)
_SUCCESS_MEMBERS = [("success", "true"), ("data", None), ("error", "null")]  # None: the data object
_ERROR_MEMBERS = [("success", "false"), ("error", '"recipientId is required"')]
_DATA_MEMBERS = [("id", '"m_1"'), ("status", '"queued"'), ("provider", '"migma"'), ("sentCount", "1"), ("message", '"Queued"')]


@st.composite
def _answers_near_valid(draw):
    """A valid answer's text with a member or two added (a repeat, the same name in another case, another name) or changed."""
    top, data = list(draw(st.sampled_from([_SUCCESS_MEMBERS, _ERROR_MEMBERS]))), list(_DATA_MEMBERS)
    for _ in range(draw(st.integers(0, 2))):
        members = draw(st.sampled_from([top, data]))
        name, value = draw(st.sampled_from(members))
        change = draw(st.sampled_from(["repeat", "add", "value"]))
        if change == "value":
            members[members.index((name, value))] = (name, draw(_SCALAR_TEXTS))
        else:
            member = (name, value) if change == "repeat" else (draw(_NAMES), draw(_SCALAR_TEXTS))
            members.insert(draw(st.integers(0, len(members))), member)
    return _object_text([(name, _object_text(data) if value is None else value) for name, value in top])


_ANSWER_TEXTS = st.one_of(
    _answers_near_valid(),
    _SUCCESSES.map(json.dumps),
    st.lists(st.tuples(_NAMES, st.one_of(_SCALAR_TEXTS, _DATA_TEXTS)), max_size=5).map(_object_text),
    st.integers(60, 70).map(lambda n: '{"success": true, "data": {"id": ' + "[" * n + "]" * n + "}}"),
    st.integers(60, 70).map(lambda n: "[" * n + "]" * n),
    _SCALAR_TEXTS,
)
_RAW_ANSWERS = st.one_of(
    st.tuples(_PADDING, _ANSWER_TEXTS, _PADDING).map("".join).flatmap(
        lambda text: st.sampled_from([text, text.encode("utf-8", "surrogatepass")])),
    st.sampled_from([b'{"success": true, "data": {"id": "\xff"}}', b"\xef\xbb\xbf{}", "\ufeff{}", "", b"{} x", 5, None]),
)
_ANSWER_HEADERS = (
    {"content-type": "application/json"}, {"Content-Type": "application/json; charset=utf-8"}, {}, {"content-type": "text/html"},
    {"content-type": "application/json", "Content-Type": "text/plain"}, {"Content-Type": "text/plain", "content-type": "application/json"},
    {"content-type": "application/json, text/html"}, {"CONTENT-TYPE": " application/json\t"}, {"content-type": "application/json\xa0"},
    {"content-type": "application/problem+json"}, {"x-other": "1", "content-type": "application/json"},
    {"content-type": "application/json; charset=iso-8859-1"}, {"content-type": "application/json;charset=UTF-8"},
)


@settings(max_examples=400, deadline=None)
@given(_RAW_ANSWERS, st.sampled_from([200, 200, 201, 400, 401, 404, 500]))
def test_a_clean_answer_told_at_once_is_what_the_full_reading_says(raw, status):
    # `_StatusRules.clean` decides the plainly clean raw answer without `response_facts` (speed, issue 23): whatever it
    # says must be the full reading's verdict, and what it cannot say plainly it leaves to it
    for level in ("schema", "documented", "strict"):
        validator = contract_for().response_validator(level)
        for headers in _ANSWER_HEADERS:
            full = validator.evaluate(status, headers, raw, facts=response_facts(status, headers, raw, None, None, None, validator.documented))
            assert validator.evaluate(status, headers, raw) == full, (level, headers)


def test_a_plainly_clean_answer_is_told_at_once_and_anything_else_by_the_full_reading():
    validator = contract_for().response_validator()
    rules = validator._for_status(200)
    raw = json.dumps(OK).encode()
    assert validate_response(200, JSON, raw) == [] and rules.clean(JSON, raw) is rules.common[1]
    assert rules.clean(JSON, raw + b" \r\n\t") is rules.common[1]  # (JSON's whitespace after the value)
    deep = b'"variables": ' + b"[" * 70 + b"]" * 70 + b', "id"'  # (a member the schema leaves open, no colon in it)
    for status, answer in ((200, raw.replace(b'"id": "m_1"', b'"id": "m_1", "id": "m_2"')),  # a member repeated, a name in two cases
                           (200, raw.replace(b'"status"', b'"Status": "sent", "status"')),
                           (200, raw.replace(b'{"success": true', b'{"success": true, "success": true')),
                           (400, b'{"success": false, "error": "x", "Error": "y"}'),
                           (200, raw + b" x"), (200, raw + b"\x0c"), (200, raw.decode() + "\xa0"),  # not JSON's whitespace
                           (200, raw.replace(b'"id"', deep, 1)),  # deeper than the toolkit reads
                           (200, raw.replace(b'"Queued"', b'"\\ud800"')), (200, raw.replace(b'"Queued"', b'NaN'))):
        full = validator.evaluate(status, JSON, answer, facts=response_facts(status, JSON, answer, None, None, None))
        clean = validator._for_status(status).common[1]  # (a body not read is judged in part: fewer rules applied)
        assert validator._for_status(status).clean(JSON, answer) is None and full != clean, answer
        assert validator.evaluate(status, JSON, answer) == full
    latin = {"content-type": "application/json; charset=iso-8859-1"}  # another charset: the body is not read (in part)
    answer = raw.replace(b'"Queued"', '"Queued \u00e9"'.encode())
    full = validator.evaluate(200, latin, answer, facts=response_facts(200, latin, answer, None, None, None))
    assert rules.clean(latin, answer) is None and validator.evaluate(200, latin, answer) == full
    assert "success-schema" not in full.applied
