"""A Content-Type is read as exactly one well-formed media type or as none, by the one judge (pass X1, F1).

- Request: a value that is not exactly one media type under RFC 9110's grammar (`application/json,`, a list even of
  one type twice, a parameter with no name, no `=`, an unclosed quote, a space in a value, `;;`, a charset given
  twice) is no `application/json` to a server that parses it strictly (FastAPI's `email.message` reads
  `application/json,` as its own type and answers 422; Spring and Go refuse it, 415): its request rules and its status
  are left unjudged, as for two Content-Type lines, on every way in (check, proxy, judge, middleware).
- Answer: such a value (or an empty Content-Type line beside `application/json`) breaks content-type-json: a strict
  client (Go's `mime.ParseMediaType`) refuses it, and one reading the first of two lines reads "".
"""

import json

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from migma_contract import contract_for
from migma_contract.asgi import ContractMiddleware
from migma_contract.core.fields import media_type, members_of
from migma_contract.judge.verdict import SERVER
from migma_contract.traffic.tally import ObservedExchange, TrafficJudge

from .test_judge_reading import WAYS

VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_1"}
AUTH = ("Authorization", "Bearer mc_live_4f9a8b7c6d5e4f3a2b1c")
OK = json.dumps({"success": True, "data": {"id": "msg_1", "provider": "migma", "status": "queued"}, "error": None}).encode()

# no one media type: what the attack sent (t16_reqct.py, t17_fastapi.py, t21_ctparams.py)
MALFORMED = ["application/json,", ",application/json", "application/json, application/json", "application/json, APPLICATION/JSON",
             "application/json; =x", 'application/json; charset="utf-8', "application/json; a=b c", "application/json;;",
             "application/json; charset=utf-8,", "application/json; charset=utf-8; charset=latin1",
             "application/json; charset=utf-8; charset=utf-8", "application/json; charset", "application /json",
             "application/ json", 'application/json"', "application/json; q=0.5, text/plain", ""]
# one media type, JSON: judged in full (OWS around ";" is allowed; a quoted-pair is read)
WELL_FORMED = ["application/json", "application/json ; charset=utf-8", 'application/json; charset="utf\\-8"',
               "Application/JSON;charset=UTF-8", 'application/json; profile="a,b"']


def _observe(content_type, status, answer):
    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test")
    exchange = ObservedExchange("POST", "https://staging.example/v1/sending", [("Content-Type", content_type), AUTH],
                                json.dumps(VALID).encode(), status, [("Content-Type", "application/json")], answer,
                                elapsed=0.05, where="test exchange")
    return judge, judge.observe(exchange)


@pytest.mark.parametrize("value", MALFORMED, ids=repr)
def test_a_value_that_is_not_one_well_formed_media_type_is_none(value):
    """Pass X1, F1: `values_of` dropped the empty member and folded the identical ones; the judge split parameters on
    `;` and `=` leniently and kept the first charset."""
    assert media_type(value, empty_parameters=False) is None


def test_one_well_formed_media_type_is_read_with_its_parameters():
    assert media_type("application/json ; charset=UTF-8") == ("application/json", {"charset": "UTF-8"})
    assert media_type('application/json; charset="utf\\-8"') == ("application/json", {"charset": "utf-8"})
    assert media_type('text/plain; a="x,y"') == ("text/plain", {"a": "x,y"})
    assert media_type("application/json;") == ("application/json", {})  # RFC 9110 allows an empty parameter...
    assert media_type("application/json;", empty_parameters=False) is None  # ...which the request side does not trust
    assert members_of("application/json,") == ["application/json", ""]
    assert members_of(', a/b; c="x,y" ,') == ["", 'a/b; c="x,y"', ""]


def test_a_long_malformed_value_is_read_in_one_pass():
    """Pass X1, F1: the parser's regex must not backtrack over runs of `; ` (every quantifier possessive): with a
    nested choice this value takes longer than any test run."""
    assert media_type("a/b" + "; " * 5000 + ",") is None
    assert media_type("a/b" + ';a="' * 5000 + ",") is None


@pytest.mark.parametrize("status", [415, 422])
@pytest.mark.parametrize("value", MALFORMED, ids=repr)
def test_a_refusal_of_a_request_whose_content_type_is_no_one_media_type_is_not_blamed(value, status):
    """Pass X1, F1 (t16_reqct.py, t21_ctparams.py): a valid send labelled `application/json,` (or with a malformed
    parameter) refused 415/422 was blamed on accepts-valid and status-documented ("broken by the server", exit 1)."""
    refusal = json.dumps({"success": False, "error": "unsupported media type"}).encode()
    judge, verdict = _observe(value, status, refusal)
    judged = {j.rule_id for j in verdict.judgements if j.party == SERVER}
    assert not verdict.breaches and not judge.findings, verdict.judgements
    assert "accepts-valid" not in judged and "status-documented" not in judged
    result = judge.result()
    assert (result.exit_code, result.traffic.partly_judged) == (3, 1)


@pytest.mark.parametrize("value", WELL_FORMED, ids=repr)
def test_a_json_request_with_one_well_formed_content_type_is_judged_in_full(value):
    judge, verdict = _observe(value, 415, json.dumps({"success": False, "error": "no"}).encode())
    assert {j.rule_id for j in verdict.breaches} >= {"accepts-valid"}  # a JSON send refused: the server's break
    judge, verdict = _observe(value, 200, OK)
    assert not verdict.breaches and judge.result().exit_code == 0


def _call(app, scope, messages):
    """What `app` sends for `scope` and the request `messages` (in-process, no server)."""
    import anyio

    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def record(message):
        sent.append(message)

    anyio.run(app, scope, receive, record)
    return sent


def test_the_middleware_does_not_blame_fastapi_for_refusing_a_content_type_with_a_trailing_comma():
    """Pass X1, F1 (t23_middleware.py): FastAPI reads `application/json,` as written (email.message), parses no JSON and
    answers 422; ContractMiddleware blamed it on accepts-valid and status-documented, exit 1."""
    api = FastAPI()

    class Send(BaseModel):
        recipientType: str
        model_config = {"extra": "allow"}

    @api.post("/v1/sending")
    def send(body: Send) -> dict[str, object]:
        return {"success": True, "data": {"id": "snd_x", "status": "queued"}}

    for content_type, status, exit_code in ((b"application/json", 200, 0), (b"application/json,", 422, 3)):
        wrapped = ContractMiddleware(api, level="documented")
        body = json.dumps(VALID).encode()
        scope = {"type": "http", "method": "POST", "path": "/v1/sending", "raw_path": b"/v1/sending", "query_string": b"",
                 "headers": [(b"host", b"app"), (b"authorization", AUTH[1].encode()), (b"content-type", content_type),
                             (b"content-length", b"%d" % len(body))],
                 "scheme": "http", "root_path": "", "http_version": "1.1"}
        sent = _call(wrapped, scope, [{"type": "http.request", "body": body, "more_body": False}])
        assert sent[0]["status"] == status
        result = wrapped.result()
        assert (result.exit_code, [f.rule for f in result.findings]) == (exit_code, [])


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("headers", [
    [("Content-Type", "application/json,")], [("Content-Type", ",application/json")],
    [("Content-Type", "application/json"), ("Content-Type", "")], [("Content-Type", ""), ("Content-Type", "application/json")],
    [("Content-Type", "application/json; =x")], [("Content-Type", 'application/json; charset="utf-8')],
], ids=repr)
def test_an_answer_whose_content_type_is_no_one_media_type_breaks_content_type_json(way, headers):
    """Pass X1, F1 (t11_ctempty.py): an answer labelled `application/json,`, `,application/json` or with an empty
    Content-Type line beside `application/json` was green on content-type-json (exit 0), though Go's
    mime.ParseMediaType refuses the value and a first-line reader (Go's Header.Get) reads ""."""
    ok, actual = WAYS[way](headers)["content-type-json"]
    assert not ok and "not one well-formed media type" in actual


@pytest.mark.parametrize("way", WAYS)
def test_an_answer_with_one_well_formed_json_content_type_keeps_content_type_json(way):
    for value in ("application/json;", "application/json ; charset=utf-8", 'application/json; charset="UTF-8"'):
        assert WAYS[way]([("Content-Type", value)])["content-type-json"][0], value
