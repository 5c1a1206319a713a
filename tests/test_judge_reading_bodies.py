"""How the judge reads bodies (red-team pass K: 1, 4, 5, 8).

- An answer with NaN, Infinity or -Infinity is no JSON (RFC 8259 §6): the answer's reader is the request's, and such an
  answer breaks content-type-json on every way in (the check, the proxy, the middleware).
- An answer nested deeper than the validator goes is not read (its body rules stand unjudged, the exchange judged in
  part), never a crash; the client's own breaks in the same exchange are judged all the same.
- A request body its parties may read differently (a Content-Encoding, a leading UTF-8 BOM, JSON nested deeper than
  the toolkit reads) is judged in part: neither party is blamed for body-json-object.
"""

import gzip
import json

import httpx
import pytest
from click.testing import CliRunner

from migma_contract import contract_for, validate_response
from migma_contract.asgi import ContractMiddleware
from migma_contract.cli import main
from migma_contract.contract.catalogue import BODY_JSON_OBJECT
from migma_contract.traffic.tally import ObservedExchange, TrafficJudge
from migma_contract.wire.asgi_transport import SyncASGITransport
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FULL_KEY, RESTRICTED_KEY, Variant, on_success
from .test_proxy import proxied

VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
AUTH = {"Authorization": f"Bearer {FULL_KEY}"}
JSON = "application/json"
CONTENT_TYPE_JSON = "content-type-json"
WORDS = ["NaN", "Infinity", "-Infinity"]
BEYOND_IEEE = ["1e999", "-1e999"]  # JSON's grammar: RFC 8259 §6 lets a reader refuse the range, or read it (inf)


def _answer_with(word):
    return f'{{"success": true, "data": {{"id": "m1", "status": "queued", "cost": {word}}}, "error": null}}'.encode()


def _observed(answer, request=None, request_headers=(), status=200):
    body = request if request is not None else json.dumps(VALID).encode()
    return ObservedExchange("POST", "https://staging.example/v1/sending",
                            [("Content-Type", JSON), ("Authorization", AUTH["Authorization"]), *request_headers], body,
                            status, [("Content-Type", JSON)], answer, elapsed=0.05, where="test exchange")


def _judged(exchange):
    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test")
    verdict = judge.observe(exchange)
    return verdict, judge.result()


# --- 1: NaN and Infinity are no JSON in an answer, as in a request ----------------------------------------------------


@pytest.mark.parametrize("word", WORDS)
def test_an_answer_with_nan_or_infinity_is_no_json(word):
    found = [v for v in validate_response(200, {"content-type": JSON}, _answer_with(word)) if v.rule_id == CONTENT_TYPE_JSON]
    assert found and "not JSON" in found[0].message and word.lstrip("-") in found[0].message
    verdict, result = _judged(_observed(_answer_with(word)))
    assert {(j.rule_id, j.party) for j in verdict.breaches} == {(CONTENT_TYPE_JSON, "server")}
    assert result.verdict != "passed"


@pytest.mark.parametrize("word", BEYOND_IEEE)
def test_an_answer_with_a_number_beyond_ieee_754_is_json_judged_in_part(word):
    """Attack pass (M1, F6): `1e400` is JSON's grammar (RFC 8259 §6 leaves its range open): no "not JSON" finding."""
    assert not [v for v in validate_response(200, {"content-type": JSON}, _answer_with(word)) if v.rule_id == CONTENT_TYPE_JSON]
    verdict, result = _judged(_observed(_answer_with(word)))
    assert not verdict.breaches and "beyond IEEE 754" in (verdict.partly or "") and not result.findings


def test_the_answers_reader_is_the_requests():
    from migma_contract.contract import rules, validators

    for setting in ("parse_constant", "parse_float"):
        assert getattr(validators._DECODER, setting) is getattr(rules.JSON_DECODER, setting)
    answer = b'{"success": true, "data": {"id": "m1", "status": "queued", "sentCount": ' + b"7" * 5000 + b"}}"
    assert not [v for v in validate_response(200, {"content-type": JSON}, answer) if v.rule_id == CONTENT_TYPE_JSON]


NAN_COST = Variant("nan-cost", CONTENT_TYPE_JSON, after=on_success(lambda payload, request: payload["data"].update(cost=float("nan"))))


@pytest.mark.e2e
def test_the_proxy_fails_an_answer_with_nan():
    with proxied(NAN_COST.app()) as (url, judge), httpx.Client(base_url=url) as client:
        assert b"NaN" in client.post("/v1/sending", json=VALID, headers=AUTH).content
    assert {(f.rule, f.broken_by) for f in judge.result().findings} == {(CONTENT_TYPE_JSON, "server")}


def test_the_middleware_fails_an_answer_with_nan():
    wrapped = ContractMiddleware(NAN_COST.app())
    with httpx.Client(transport=SyncASGITransport(wrapped), base_url="http://app") as client:
        assert b"NaN" in client.post("/v1/sending", json=VALID, headers=AUTH).content
    assert {(f.rule, f.broken_by) for f in wrapped.result().findings} == {(CONTENT_TYPE_JSON, "server")}


@pytest.mark.e2e
def test_the_check_fails_a_server_answering_nan(tmp_path):
    with serve_in_thread(NAN_COST.app()) as url:
        result = CliRunner().invoke(main, [
            "check", "--base-url", url, "--api-key", FULL_KEY, "--restricted-api-key", RESTRICTED_KEY, "--plan", "minimal",
            "--from", "sender@example.com", "--email-id", "email_welcome", "--tag-id", "tag_vip",
            "--report-dir", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "NOT CONFORMANT" in result.output and f"✗ {CONTENT_TYPE_JSON}" in result.output


# --- 8: an answer nested deeper than the validator goes ---------------------------------------------------------------


@pytest.mark.parametrize("depth", [65, 256, 900])
def test_an_answer_nested_too_deep_is_judged_in_part_never_a_crash(depth):
    answer = b'{"success": false, "error": ' + b"[" * depth + b"]" * depth + b"}"
    missing = json.dumps({k: v for k, v in VALID.items() if k != "subject"}).encode()
    verdict, result = _judged(_observed(answer, request=missing, status=400))
    assert verdict.partly and "deeper than 64 levels" in verdict.partly
    assert {(j.rule_id, j.party) for j in verdict.breaches} == {("required-fields", "client")}  # the client's own break
    assert not any(j.party == "server" and j.rule_id == CONTENT_TYPE_JSON for j in verdict.judgements)
    assert result.traffic.partly_judged == 1 and not result.traffic.unjudged


# --- 4 and 5: request bodies their parties may read differently --------------------------------------------------------


def _nested(depth):
    value = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


REQUESTS = {
    "gzip": (gzip.compress(json.dumps(VALID).encode()), [("Content-Encoding", "gzip")], "Content-Encoding"),
    "br": (b"\x8b\x05\x80" + json.dumps(VALID).encode() + b"\x03", [("Content-Encoding", " br ")], "Content-Encoding"),
    "bom": (b"\xef\xbb\xbf" + json.dumps(VALID).encode(), [], "byte order mark"),
    "deep": (json.dumps({**VALID, "variables": _nested(70)}).encode(), [], "deeper than 64 levels"),
}


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize("name", REQUESTS)
def test_a_request_body_read_in_more_than_one_way_is_judged_in_part(name, status):
    raw, headers, why = REQUESTS[name]
    answer = _answer_with("1") if status == 200 else b'{"success": false, "error": "not JSON"}'
    verdict, result = _judged(_observed(answer, request=raw, request_headers=headers, status=status))
    assert not verdict.breaches, verdict.breaches
    assert BODY_JSON_OBJECT.id not in {j.rule_id for j in verdict.judgements}
    assert verdict.partly and why in verdict.partly
    assert result.traffic.partly_judged == 1 and result.verdict == "incomplete"


@pytest.mark.parametrize("headers", [[], [("Content-Encoding", "identity")]])
def test_a_plain_or_identity_request_is_judged_in_full(headers):
    verdict, _ = _judged(_observed(_answer_with("1"), request_headers=headers))
    assert verdict.partly is None and not verdict.breaches


def test_a_bom_before_no_json_is_still_no_json():
    verdict, _ = _judged(_observed(b'{"success": false, "error": "bad"}', request=b"\xef\xbb\xbf{nope", status=400))
    assert verdict.partly is None
    assert (BODY_JSON_OBJECT.id, "client") in {(j.rule_id, j.party) for j in verdict.breaches}
