"""Pass X5, F1 and F4 (an outside differential pass over the ways in): `validate_response` and the Schemathesis checks.

F1: an answer whose body was not read (a lone surrogate escape, a number past IEEE 754, a charset label its bytes do
not match) is "judged in part" by the proxy, `judge` and the middleware, never green; `validate_response` returned
`[]` and every Schemathesis check passed. F4: common but off-type inputs to `validate_response` (a status "200",
header pairs, bytes names, NaN in a parsed body) gave a traceback, a false content-type-json, or "null".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest
import schemathesis

from migma_contract import ResponseViolations, contract_for, validate_response
from migma_contract.generate.bodies import BodyFactory
from migma_contract.mock import load_mock_config
from migma_contract.schemathesis_checks import CHECKS, violations_of
from migma_contract.testing import ContractBreach, Validators
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FULL_KEY, Resp, Variant

SPEC = Path(__file__).resolve().parent.parent / "spec" / "openapi.yaml"
JSON = {"content-type": "application/json"}
# breaks result-status-known, result-count, result-status-queued and success-without-error under every reading
BAD = {"success": True, "data": {"id": "msg_1", "status": "delivered", "sentCount": -3, "message": "Hi"}, "error": "oops"}
PLAIN = json.dumps(BAD).encode()
SURROGATE = PLAIN.replace(b'"Hi"', b'"Hi \\ud83d"')  # as Node's JSON.stringify writes a string cut inside an emoji
BIG_NUMBER = PLAIN.replace(b'"sentCount": -3', b'"sentCount": -1e999')
FOUR = {"result-count", "result-status-known", "result-status-queued", "success-without-error"}
UNREAD = [  # (headers, body, what `unread` names)
    (JSON, SURROGATE, "lone surrogate"),
    (JSON, BIG_NUMBER, "beyond IEEE 754"),
    ({"content-type": "application/json; charset=utf-16"}, PLAIN, "another charset than UTF-8"),
]
OK = {"success": True, "data": {"id": "m_1", "status": "queued", "sentCount": 1}, "error": None}
VALID = BodyFactory(contract_for().spec, load_mock_config().fixtures()).valid_body()  # a send the mock accepts


# --- F1: validate_response ---------------------------------------------------------------------------------------


def test_the_control_body_breaks_the_four_rules():
    """Pass X5, F1: the body without its quirk, read: the four rules it breaks under every reading."""
    found = validate_response(200, JSON, PLAIN, level="strict")
    assert {v.rule_id for v in found} == FOUR and found.unread is None and found.judged_in_full


@pytest.mark.parametrize(("headers", "body", "why"), UNREAD, ids=["lone-surrogate", "past-ieee-754", "utf-16-label"])
def test_validate_response_never_reports_an_unread_body_as_passed(headers, body, why):
    """Pass X5, F1: an answer whose body was not read is judged in part: never falsy, never `== []`, and it says why
    and which rules stand unjudged (it returned a plain `[]`: the same as a pass)."""
    found = validate_response(200, headers, body, level="strict")
    assert isinstance(found, ResponseViolations) and isinstance(found, list)
    assert found and found != [] and not found == [] and not found.judged_in_full  # noqa: SIM201 (both operators)
    assert why in found.unread
    assert set(found.unjudged) >= FOUR and "content-type-json" not in found.unjudged  # the header was judged
    assert "unread=" in repr(found) and found.copy() == found and found.copy().unread == found.unread
    with pytest.raises(AssertionError):
        assert not found


def test_a_body_judged_in_full_still_reads_as_a_plain_list():
    """Pass X5, F1: backward compatibility: a clean answer is `[]`, falsy and printed as `[]`; violations compare as
    the list they are."""
    clean = validate_response(200, JSON, OK)
    assert clean == [] and not clean and repr(clean) == "[]" and clean.unjudged == ()
    broken = validate_response(200, JSON, PLAIN, level="strict")
    assert broken == list(broken) and list(broken) == broken and broken != []


def test_an_unread_body_with_a_violation_of_what_was_judged_reports_both():
    """Pass X5, F1: what was judged is reported (a late answer), and what was not read is said."""
    found = validate_response(200, JSON, SURROGATE, elapsed=12.0, timeout=10.0)
    assert [v.rule_id for v in found] == ["responds-in-time"] and found.unread is not None
    assert "responds-in-time" not in found.unjudged and "result-status-known" in found.unjudged
    deep = b"[" * 300 + b"]" * 300  # nested deeper than the toolkit reads: the same class
    nested = validate_response(200, JSON, deep)
    assert nested.unread is not None and "deeper" in nested.unread and nested


# --- F1: the Schemathesis checks ---------------------------------------------------------------------------------


def _answering(body: bytes, content_type: str = "application/json", *, always: bool = False) -> Variant:
    """The mock whose accepted sends (`always`: every answer) are answered 200 with `body`."""
    return Variant("unread-body", None,
                   after=lambda req, resp: Resp.of(200, body, content_type) if always or resp.status == 200 else resp)


def _call(app, body_id: str = "k"):
    schema = schemathesis.openapi.from_dict(contract_for().spec.document)
    schema.app = app
    operation = schema["/v1/sending"]["POST"]
    case = operation.Case(body=VALID, headers={"Authorization": f"Bearer {FULL_KEY}", "Idempotency-Key": body_id})
    return case, case.call()


@pytest.mark.parametrize(("headers", "body", "why"), UNREAD, ids=["lone-surrogate", "past-ieee-754", "utf-16-label"])
def test_each_body_check_fails_as_not_judged_when_the_body_was_not_read(headers, body, why):
    """Pass X5, F1: every registered check of a rule the unread body would be judged by fails, saying it was not
    judged and why; the rules its header decides pass (every `migma_*` check passed: a green Schemathesis run)."""
    case, response = _call(_answering(body, headers["content-type"]).app(), f"k-{why}")
    assert response.status_code == 200
    found = violations_of(response, case)
    assert found.unread is not None and why in found.unread and found != []
    failed = {}
    for check in CHECKS:
        try:
            check(None, response, case)
        except AssertionError as exc:
            failed[check.__name__] = str(exc)
    assert {"migma_result_status_known", "migma_result_count", "migma_result_has_id", "migma_success_schema",
            "migma_result_id_unique"} <= set(failed)
    assert all("not judged" in text and why in text for text in failed.values()), failed
    assert not {"migma_content_type_json", "migma_status_documented", "migma_no_server_error"} & set(failed)


def test_the_checks_still_pass_a_good_answer_and_fail_a_bad_one_on_its_rules():
    """Pass X5, F1: the control: a read body is judged (no "not judged"), its breaks reported as before."""
    case, response = _call(_answering(PLAIN).app(), "k-plain")
    found = violations_of(response, case)
    assert found.unread is None and {"result-status-known", "result-count"} <= {v.rule_id for v in found}
    case, response = _call(_answering(json.dumps(OK | {"data": OK["data"] | {"id": "m_x5a"}}).encode()).app(), "k-ok")
    assert violations_of(response, case) == []
    for check in CHECKS:
        check(None, response, case)  # none raises


def test_schemathesis_itself_reports_the_unread_body_as_a_failure():
    """Pass X5, F1: through Schemathesis' own check runner (`call_and_validate`, what `schemathesis run` does per
    case): the run fails ("Custom check failed: `migma_result_status_known`", not judged) where it was green."""
    schema = schemathesis.openapi.from_dict(contract_for().spec.document)
    schema.app = _answering(SURROGATE).app()
    operation = schema["/v1/sending"]["POST"]
    case = operation.Case(body=VALID, headers={"Authorization": f"Bearer {FULL_KEY}"})
    [known] = [check for check in CHECKS if check.__name__ == "migma_result_status_known"]
    with pytest.raises(BaseExceptionGroup) as raised:  # Schemathesis' FailureGroup of its failures
        case.call_and_validate(checks=[known])
    [failure] = raised.value.exceptions
    assert failure.title == "Custom check failed: `migma_result_status_known`" and "not judged" in failure.message


@pytest.mark.e2e  # a `schemathesis run` process against a loopback server
@pytest.mark.parametrize(("body", "fails"), [(SURROGATE, True), (json.dumps(OK).encode(), False)], ids=["unread", "control"])
def test_a_real_schemathesis_run_is_not_green_on_an_unread_body(body, fails, tmp_path):
    """Pass X5, F1: `SCHEMATHESIS_HOOKS=migma_contract.schemathesis_checks schemathesis run`, as the docs give it,
    against a server answering every send 200 with a lone surrogate escape: "5 generated, 5 passed" before; now
    the run fails with `migma_result_status_known` not judged (the control, the same answer read, passes)."""
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "migma_contract.schemathesis_checks", "NO_COLOR": "1"}
    with serve_in_thread(_answering(body, always=True).app()) as url:
        done = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", str(SPEC), "--url", url, "-H", f"Authorization: Bearer {FULL_KEY}",
             "--phases", "examples,fuzzing", "--max-examples", "3", "--generation-deterministic",
             "-c", "migma_result_status_known", "--no-color"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
        )
    output = done.stdout + done.stderr
    assert (done.returncode != 0) is fails, output
    assert ("Custom check failed: `migma_result_status_known`" in output and "not judged" in output) is fails, output


def test_the_pytest_validators_do_not_pass_an_unread_body():
    """Pass X5, F1: the pytest plugin's `migma_validate.assert_response` (the same reading) fails as judged in part."""
    validators = Validators()
    response = httpx.Response(200, headers=JSON, content=SURROGATE, request=httpx.Request("POST", "http://t/v1/sending"))
    assert validators.response(200, JSON, SURROGATE).unread is not None
    with pytest.raises(ContractBreach, match=r"judged in part only:\n  not judged .*lone surrogate"):
        validators.assert_response(response)
    validators.assert_response(httpx.Response(200, headers=JSON, json=OK, request=httpx.Request("POST", "http://t/v1/sending")))


# --- F4: validate_response's inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["200", b"200", " 200 ", HTTPStatus.OK])
def test_a_status_given_as_digits_or_an_http_status_is_read_as_an_int(status):
    """Pass X5, F4: `"200"` raised TypeError ('<' not supported between 'str' and 'int')."""
    assert validate_response(status, JSON, OK) == []
    assert [v.rule_id for v in validate_response(status, JSON, {**OK, "success": False})] == ["envelope-consistent"]


@pytest.mark.parametrize(("status", "error", "words"), [
    (True, TypeError, "status must be an int"), (200.0, TypeError, "not float"), (None, TypeError, "not NoneType"),
    ("OK", ValueError, "three digits"), ("2000", ValueError, "three digits"), ("٢٠٠", ValueError, "three digits"),
])
def test_a_status_of_a_wrong_type_is_a_clear_error(status, error, words):
    """Pass X5, F4: a wrong status is a one-line error naming what is expected (True was judged as status True)."""
    with pytest.raises(error, match=words):
        validate_response(status, JSON, OK)


@pytest.mark.parametrize("headers", [
    [("content-type", "application/json")],  # pairs, as ASGI and httpx's `raw` give them
    [(b"content-type", b"application/json")],
    (("Content-Type", "application/json"),),
    {b"content-type": b"application/json"},  # bytes names and values in a mapping
    {"content-type": b"application/json"},
    {"Content-Type": ["application/json"]},  # Schemathesis's Response.headers: a list of values per name
    httpx.Headers({"content-type": "application/json"}),
])
def test_header_pairs_bytes_and_value_lists_are_read_as_their_fields(headers):
    """Pass X5, F4: pairs raised AttributeError; bytes names gave a false content-type-json ("Content-Type is None")."""
    assert validate_response(200, headers, OK) == []


def test_an_object_with_items_and_an_integer_status_of_another_type_are_read_as_before():
    """Pass X5, F4: what read before still reads: `email.message.Message` (urllib's headers: `items()`, no mapping)
    and an integer type of another library (`__index__`, as NumPy's)."""
    from email.message import Message

    message = Message()
    message["Content-Type"] = "application/json"

    class Index:
        def __index__(self):
            return 200

    assert validate_response(Index(), message, OK) == []


def test_a_name_given_twice_among_pairs_is_read_as_the_field_repeated():
    """Pass X5, F4: a repeated field's values read together (RFC 9110 §5.3), as every other way in reads them."""
    [violation] = validate_response(200, [("content-type", "text/html"), ("Content-Type", "application/json")], OK)
    assert violation.rule_id == "content-type-json" and "2 different values" in violation.message


@pytest.mark.parametrize("headers", ["content-type: application/json", 7, [("content-type",)], ["content-type"], None])
def test_headers_of_a_wrong_type_are_a_clear_error(headers):
    """Pass X5, F4: a one-line TypeError naming the accepted types, never an AttributeError from inside."""
    with pytest.raises(TypeError, match=r"headers must be a mapping or an iterable of \(name, value\) pairs"):
        validate_response(200, headers, OK)


@pytest.mark.parametrize(("value", "spelled"), [(float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity")])
def test_nan_or_an_infinity_in_a_parsed_body_is_named_not_called_null(value, spelled):
    """Pass X5, F4: a parsed sentCount of NaN was reported "null is not of type integer": now the body is judged in
    part, its reason naming the value and where it is (no JSON text gives it; the raw bytes tell which text it was)."""
    found = validate_response(200, JSON, {**OK, "data": {**OK["data"], "sentCount": value}})
    assert found and found.unread is not None and not any("null" in v.message for v in found)
    assert f"holds {spelled} at /data/sentCount" in found.unread and "result-count" in found.unjudged
    assert validate_response(200, JSON, {**OK, "data": {**OK["data"], "sentCount": 1.5}}).unread is None  # finite: judged
