"""A request its parties may read differently is judged in part, never against a guessed reading (red-team pass I: 2, 4).

- Its media type: the document speaks of `application/json` requests only. A body sent as a form, as text, as
  multipart, with no Content-Type, with another charset or with two Content-Types is one a server may parse otherwise
  (Django REST framework, express.urlencoded and Rails read a form as other fields; Spring answers 415): its request
  rules and its status are not judged, and the verdict is not green. No rule of the catalogue names the request's
  media type, so neither party is blamed.
- A field the contract reads as one value (`Authorization`, `Content-Type`, `Idempotency-Key`) given twice, even alike:
  one party keeps the first, another the last or the joined `a, a`. The rules resting on it are not judged.

The check's own requests are always `application/json` (tests/test_corpus.py: its verdicts are unchanged).
"""

import json

import httpx
import pytest

from migma_contract import contract_for
from migma_contract.judge.verdict import SERVER
from migma_contract.mock import create_app
from migma_contract.traffic.proxy import TrafficProxy
from migma_contract.traffic.tally import ObservedExchange, TrafficJudge
from migma_contract.wire.serve import serve_in_thread

from . import hostile_servers as hostile

VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_1"}
OK = json.dumps({"success": True, "data": {"id": "msg_1", "provider": "migma", "status": "queued"}, "error": None}).encode()
AUTH = ("Authorization", "Bearer mc_live_4f9a8b7c6d5e4f3a2b1c")
# The attack's form body: valid JSON, and as a form `recipientType=segment` with no recipientId (what a form parser read)
FORM_AS_JSON = json.dumps(dict(VALID, note="&recipientType=segment&from=n@example.com&fromName=N&subject=S&")).encode()

NOT_JSON = {
    "form": [("Content-Type", "application/x-www-form-urlencoded")],
    "text": [("Content-Type", "text/plain;charset=UTF-8")],
    "multipart": [("Content-Type", "multipart/form-data; boundary=x")],
    "a +json type": [("Content-Type", "application/vnd.api+json")],
    "none": [],
    "another charset": [("Content-Type", "application/json; charset=iso-8859-1")],
    "two values": [("Content-Type", "application/json, text/plain")],
    "given twice alike": [("Content-Type", "application/json"), ("Content-Type", "application/json")],
}


def _observe(headers, *, status=200, answer=OK, body=FORM_AS_JSON, judge=None):
    judge = judge or TrafficJudge(contract_for(), "documented", kind="proxy", label="test")
    exchange = ObservedExchange("POST", "https://staging.example/v1/sending", [*headers, AUTH], body, status,
                                [("Content-Type", "application/json")], answer, elapsed=0.05, where="test exchange")
    return judge, judge.observe(exchange)


@pytest.mark.parametrize("name", NOT_JSON)
def test_a_request_in_another_media_type_is_judged_in_part_never_green(name):
    """Pass I, 2 (t_form_body.py): a form-encoded JSON text, which a form parser reads as a segment send without
    recipientId, answered 200: the judge read a valid email send and said exit 0."""
    judge, verdict = _observe(NOT_JSON[name])
    judged = {j.rule_id for j in verdict.judgements}
    assert not verdict.breaches
    assert "accepts-valid" not in judged and "status-documented" not in judged  # no guessed reading of the request
    assert "success-schema" in judged  # the answer's body is still judged
    result = judge.result()
    assert (result.verdict, result.exit_code) == ("incomplete", 3) and result.traffic.partly_judged == 1
    assert any("request rules and its status were not judged" in note for note in result.traffic.notes), result.traffic.notes


def test_a_refusal_of_another_media_type_is_not_the_servers_break():
    """Pass I, 2 (t_ctype_blame.py): JSON sent as text/plain, a strict server's 415 was blamed on status-documented."""
    refusal = b'{"success": false, "error": "Content-Type must be application/json"}'
    for headers in (NOT_JSON["text"], NOT_JSON["none"], NOT_JSON["two values"]):
        judge, verdict = _observe(headers, status=415, answer=refusal, body=json.dumps(VALID).encode())
        assert not verdict.breaches and not judge.findings, verdict.judgements
        assert judge.result().exit_code == 3
    _, verdict = _observe([], status=500, answer=refusal)  # a 5xx is the server's, whatever the request
    assert [j.rule_id for j in verdict.breaches] == ["no-server-error"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                                          ' application/json ; charset="UTF-8"', "application/json;charset=utf8"])
def test_a_json_request_is_judged_in_full(content_type):
    judge, verdict = _observe([("Content-Type", content_type)], body=json.dumps(VALID).encode())
    assert "accepts-valid" in {j.rule_id for j in verdict.judgements if j.party == SERVER}
    assert judge.result().exit_code == 0 and not judge.result().traffic.partly_judged


def test_a_repeated_authorization_is_judged_in_part():
    """Pass I, 4: `Authorization` given twice is joined `Bearer a, Bearer b`, no Bearer credential: the server that read
    the first key and answered 200 was blamed for auth-required."""
    second = ("Authorization", "Bearer mc_live_0000000000000000000000")
    for pair in ([second], [AUTH]):  # another key, or the same one again
        judge, verdict = _observe([("Content-Type", "application/json"), *pair], body=json.dumps(VALID).encode())
        assert not verdict.breaches and "auth-required" not in {j.rule_id for j in verdict.judgements}
        result = judge.result()
        assert (result.exit_code, result.traffic.partly_judged) == (3, 1)
        assert any("Authorization more than once" in note for note in result.traffic.notes), result.traffic.notes


def test_a_repeated_idempotency_key_is_never_keyed_on_the_joined_value():
    """Pass I, 4: a send then its retry giving `Idempotency-Key` twice; the server replays (the same key): the judge keyed
    the retry on "order-42, order-42" and blamed the server for result-id-unique."""
    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test")
    key = ("Idempotency-Key", "order-42")
    body = json.dumps(VALID).encode()
    _observe([("Content-Type", "application/json"), key], body=body, judge=judge)
    _, verdict = _observe([("Content-Type", "application/json"), key, key], body=body, judge=judge)
    assert not verdict.breaches and "result-id-unique" not in {j.rule_id for j in verdict.judgements}
    assert "accepts-valid" in {j.rule_id for j in verdict.judgements}  # the rest of the exchange is judged
    result = judge.result()
    assert not result.findings and (result.exit_code, result.traffic.partly_judged) == (3, 1)
    assert any("Idempotency-Key more than once" in note for note in result.traffic.notes), result.traffic.notes
    # a third send under the single key is still a replay of the first (the doubtful one was not remembered)
    _, verdict = _observe([("Content-Type", "application/json"), key], body=body, judge=judge)
    assert not verdict.breaches and "result-id-unique" in {j.rule_id for j in verdict.judgements}


@pytest.mark.e2e
def test_the_bundled_mock_behind_the_proxy_is_not_blamed_for_a_key_sent_twice():
    """Pass I, 4 (t_idem_mock.py): the mock replays a send whose Idempotency-Key came twice alike (right: one key)."""
    headers = [("Authorization", "Bearer mc_test_full_access"), ("Idempotency-Key", "order-42")]
    with serve_in_thread(create_app()) as mock:
        judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test")
        with serve_in_thread(TrafficProxy(mock, judge)) as url, httpx.Client() as client:
            send = dict(VALID, emailId="email_welcome")  # one the mock's world holds
            first = client.post(f"{url}/v1/sending", json=send, headers=headers)
            again = client.post(f"{url}/v1/sending", json=send, headers=[*headers, headers[1]])
        assert first.json()["data"]["id"] == again.json()["data"]["id"]  # the mock replayed it
        result = judge.result()
    assert not result.findings and (result.exit_code, result.traffic.partly_judged) == (3, 1), result.headline


@pytest.mark.e2e
def test_a_form_send_through_the_proxy_is_not_green():
    """Pass I, 2 end to end: the upstream reads the form (200 to what it parsed); the proxy's verdict is no green."""
    with hostile.raw_server(hostile.each_request(lambda _: hostile.response("200 OK", OK))) as upstream:
        judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test")
        with serve_in_thread(TrafficProxy(upstream, judge)) as url, httpx.Client() as client:
            client.post(f"{url}/v1/sending", content=FORM_AS_JSON,
                        headers=[AUTH, ("Content-Type", "application/x-www-form-urlencoded")])
        result = judge.result()
    assert (result.verdict, result.exit_code, result.traffic.partly_judged) == ("incomplete", 3, 1), result.headline
