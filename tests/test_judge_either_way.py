"""Exchanges a correct server may read either way, judged in part and never a server finding (attack pass M1 on issue 24).

Each test reproduces one finding through a real way in (`judge` of a HAR: `open_recording` and the `TrafficJudge` every
way in shares) and in the unit where its class lives (`contract.rules`, `judge.deserve`, `judge.verdict`):
F2 result-id-unique excused a repeated `data.id` by the Idempotency-Key alone; F6 JSON whose reading RFC 8259 leaves
open (a lone surrogate escape, a number beyond IEEE 754) was a server finding; F7 the vendor's 409 for a reused key was
accepts-valid's and status-documented's; F10 `Bearer<TAB>key` accepted blamed the server; F11 a front end's refusal of
a target or head it may refuse (an HTML 400, a 431) was the API's.
"""

import json

import pytest

from migma_contract import contract_for
from migma_contract.contract.catalogue import ACCEPTS_VALID, AUTH_REQUIRED, BODY_FORM, REUSED_KEY_STATUSES, STATUS_DOCUMENTED
from migma_contract.contract.rules import LeftOpen, Level
from migma_contract.contract.validators import response_facts
from migma_contract.judge.deserve import Ambiguous, Standing, deserve, parsed_body
from migma_contract.judge.verdict import FRONT_END_HEAD, Knowledge, judge_exchange
from migma_contract.traffic.recordings import open_recording
from migma_contract.traffic.tally import ObservedExchange, TrafficJudge

VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
URL = "https://staging.example.test/v1/sending"
KEY_A, KEY_B = "mc_live_tenant_a_0123456789", "mc_live_tenant_b_9876543210"
ACCEPTED = '{"success": true, "data": {"id": "msg_SAME", "status": "queued", "provider": "migma"}, "error": null}'
CONFLICT = '{"success": false, "error": "IDEMPOTENCY_CONFLICT: key reused with another body", "code": "IDEMPOTENCY_CONFLICT"}'
CONTENT_TYPE_JSON = "content-type-json"
HTML_400 = "<!doctype html><html><body><h1>HTTP Status 400 - Bad Request</h1>Invalid character found</body></html>"


def entry(body=VALID, *, key=KEY_A, auth=None, idempotency=None, answer=ACCEPTED, status=200, url=URL,
          media="application/json", extra=()):
    text = body if isinstance(body, str) else json.dumps(body)
    headers = [{"name": "Authorization", "value": auth if auth is not None else f"Bearer {key}"},
               {"name": "Content-Type", "value": "application/json"}, *({"name": n, "value": v} for n, v in extra)]
    if idempotency is not None:
        headers.append({"name": "Idempotency-Key", "value": idempotency})
    return {"startedDateTime": "2026-12-06T00:00:00Z", "time": 5,
            "request": {"method": "POST", "url": url, "httpVersion": "HTTP/1.1", "headers": headers, "queryString": [],
                        "cookies": [], "headersSize": -1, "bodySize": len(text), "postData": {"mimeType": "application/json", "text": text}},
            "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
                         "headers": [{"name": "Content-Type", "value": media}],
                         "content": {"size": len(answer), "mimeType": media, "text": answer},
                         "redirectURL": "", "headersSize": -1, "bodySize": len(answer)},
            "cache": {}, "timings": {"send": 0, "wait": 5, "receive": 0}}


def judged_har(tmp_path, *entries):
    """`judge` of a HAR holding `entries`: the run's result."""
    path = tmp_path / "traffic.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "tests", "version": "1"}, "entries": list(entries)}}))
    judge = TrafficJudge(contract_for(), "documented", kind="recording", label=str(path))
    for exchange in open_recording(path).exchanges():
        judge.observe(exchange)
    return judge.result()


def server_findings(result):
    return {f.rule for f in result.findings if f.broken_by == "server"}


def blamed(result):
    return {(f.rule, f.broken_by) for f in result.findings}


# --- F2: a repeated data.id is a replay only under the same API key, key and body --------------------------------


@pytest.mark.parametrize(("second", "finding"), [
    ({}, False),  # the same send under the same key: an idempotent replay
    ({"key": KEY_B}, True),  # another tenant under the same Idempotency-Key: handed tenant A's send
    ({"body": {**VALID, "recipientEmail": "bob@example.com"}}, True),  # another send under the key: a conflict
])
def test_a_shared_data_id_is_excused_only_for_the_same_api_key_key_and_body(tmp_path, second, finding):
    result = judged_har(tmp_path, entry(idempotency="order-1"), entry(idempotency="order-1", **second))
    assert ("result-id-unique" in server_findings(result)) == finding, result.findings
    if finding:
        [found] = result.findings_for("result-id-unique")
        assert "not a replay" in found.actual or "a conflict" in found.actual


# --- F6: grammar-valid JSON whose reading RFC 8259 leaves open ----------------------------------------------------

LONE_HIGH = json.dumps(VALID).replace('"Hello"', '"Sale \\ud83d"')  # what JSON.stringify writes for "Sale 😀".slice(0, 6)
LEFT_OPEN = {
    "lone high surrogate": LONE_HIGH,
    "lone low surrogate": json.dumps(VALID).replace('"Hello"', '"\\udc00"'),
    "lone surrogate in a member name": json.dumps({**VALID, "variables": {"\\udc00": 1}}).replace("\\\\", "\\"),
    "number beyond IEEE 754": json.dumps({**VALID, "variables": {"n": 1}}).replace("1}", "1e400}"),
}


@pytest.mark.parametrize("text", LEFT_OPEN.values(), ids=LEFT_OPEN.keys())
@pytest.mark.parametrize("status", [200, 400])
def test_a_request_whose_json_rfc_8259_leaves_open_is_judged_in_part_whatever_the_answer(tmp_path, text, status):
    answer = ACCEPTED if status == 200 else '{"success": false, "error": "bad subject \\ud83d"}'  # the input echoed
    result = judged_har(tmp_path, entry(text, answer=answer, status=status))
    assert not server_findings(result) and not result.findings, result.findings
    assert result.traffic.partly_judged == 1
    body = parsed_body(text.encode())
    assert type(body) is Ambiguous and "RFC 8259" in body.why
    with pytest.raises(LeftOpen):  # the mock (a correct server) refuses it all the same
        BODY_FORM.parse(text.encode())


def test_an_answer_with_a_lone_surrogate_escape_is_json_judged_in_part():
    facts = response_facts(400, {"content-type": "application/json"}, b'{"success": false, "error": "x \\ud83d"}', None, None, None)
    assert facts.unread is not None and "lone surrogate" in facts.unread
    exchange = ObservedExchange("POST", URL, [("Content-Type", "application/json"), ("Authorization", f"Bearer {KEY_A}")],
                                json.dumps({**VALID, "recipientType": "nope"}).encode(), 400,
                                [("Content-Type", "application/json")], b'{"success": false, "error": "bad \\udc00"}')
    verdict = judge_exchange(contract_for(), Level.DOCUMENTED, exchange)
    assert verdict.breaches and all(j.party == "client" for j in verdict.breaches), verdict.breaches
    assert "lone surrogate" in (verdict.partly or "")


# --- F7: a reused key's answer under an Idempotency-Key whose earlier use does not show -----------------------------


@pytest.mark.parametrize("status", sorted(REUSED_KEY_STATUSES))
def test_a_reused_keys_conflict_is_left_unjudged_in_traffic(tmp_path, status):
    result = judged_har(tmp_path, entry(idempotency="order-1"),
                        entry({**VALID, "subject": "Hello again"}, idempotency="order-1", status=status, answer=CONFLICT))
    assert not result.findings, result.findings
    assert result.traffic.partly_judged == 1
    without_key = judged_har(tmp_path, entry({**VALID, "subject": "Hello again"}, status=status, answer=CONFLICT))
    assert {ACCEPTS_VALID.id, STATUS_DOCUMENTED.id} <= server_findings(without_key)  # no key: the 409 is the server's


def test_a_key_leaves_the_status_open_only_where_the_keys_earlier_use_does_not_show():
    exchange = ObservedExchange("POST", URL, [("Content-Type", "application/json"), ("Authorization", f"Bearer {KEY_A}"),
                                              ("Idempotency-Key", "order-1")], json.dumps(VALID).encode(), 409,
                                [("Content-Type", "application/json")], CONFLICT.encode())
    traffic = judge_exchange(contract_for(), Level.DOCUMENTED, exchange)
    assert not traffic.breaches and "Idempotency-Key" in (traffic.partly or "")
    run = judge_exchange(contract_for(), Level.DOCUMENTED, exchange, Knowledge(Standing.FULL, data_known=True))
    assert ACCEPTS_VALID.id in {j.rule_id for j in run.breaches}  # a check's keys are its own, fresh: judged


# --- F10: Bearer<TAB>key -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 401])
def test_bearer_tab_key_is_the_clients_fault_never_the_servers(tmp_path, status):
    answer = ACCEPTED if status == 200 else '{"success": false, "error": "unauthorized"}'
    result = judged_har(tmp_path, entry(auth=f"Bearer\t{KEY_A}", status=status, answer=answer))
    assert blamed(result) == {(AUTH_REQUIRED.id, "client")}, result.findings
    found = deserve(contract_for(), Level.DOCUMENTED, VALID, f"Bearer\t{KEY_A}", Standing.UNSURE, answered=status)
    assert {AUTH_REQUIRED.deserves, ACCEPTS_VALID.deserves} <= found.statuses
    assert [rule for rule, _, _ in found.client] == [AUTH_REQUIRED.id]
    refused = deserve(contract_for(), Level.DOCUMENTED, VALID, f"Basic {KEY_A}", Standing.UNSURE, answered=200)
    assert refused.statuses == {AUTH_REQUIRED.deserves}  # no reading gives a Bearer key: 401 only, as before


# --- F11: what a front end may refuse before any app ---------------------------------------------------------------


@pytest.mark.parametrize("target", ["?tags=a|b", "?meta={%22a%22:1}", "?q=a^b", "?a[]=1"])
def test_a_target_rfc_3986_forbids_refused_by_a_front_end_is_no_server_finding(tmp_path, target):
    refused = judged_har(tmp_path, entry(url=URL + target, status=400, answer=HTML_400, media="text/html"))
    assert not server_findings(refused), refused.findings
    assert refused.traffic.unjudged == 1  # a front end's 4xx HTML page: no endpoint answered (Pass Z2, F7)
    accepted = judged_har(tmp_path, entry(url=URL + target))  # the app answered: judged in full
    assert not accepted.findings and accepted.traffic.partly_judged == 0


def test_a_head_past_front_end_limits_refused_431_is_no_server_finding(tmp_path):
    cookie = ("Cookie", "s=" + "a" * (FRONT_END_HEAD + 100))
    for status, media, answer in ((431, "application/json", '{"success": false, "error": "headers too large"}'),
                                  (400, "text/html", HTML_400)):
        result = judged_har(tmp_path, entry(status=status, answer=answer, media=media, extra=[cookie]))
        assert not server_findings(result), result.findings


def test_a_refusal_of_an_ordinary_head_stays_the_servers(tmp_path):
    html = judged_har(tmp_path, entry(status=400, answer=HTML_400, media="text/html"))
    # a 4xx HTML page is a front end's, no endpoint's (`no_endpoint`: passed unjudged, never blamed; Pass Z2, F7)
    assert not html.findings and html.traffic.unjudged == 1
    too_large = judged_har(tmp_path, entry(status=431, answer='{"success": false, "error": "too large"}'))
    assert {ACCEPTS_VALID.id, STATUS_DOCUMENTED.id} <= server_findings(too_large)


# --- the middleware: the same judge, an app reading the request as Python's json does --------------------------------


def _app_reading_json(status, answer):
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def send(request):
        await request.json()  # Python's json: a lone surrogate escape is a one-code-point string, 1e400 is inf
        return Response(answer, status_code=status, media_type="application/json")

    return Starlette(routes=[Route("/v1/sending", send, methods=["POST"])])


@pytest.mark.parametrize(("text", "headers", "status", "answer"), [
    (LONE_HIGH, {}, 200, ACCEPTED),  # F6: accepted as Python reads it
    (json.dumps(VALID), {"Idempotency-Key": "order-1"}, 409, CONFLICT),  # F7: the vendor's conflict for a reused key
], ids=["lone-surrogate-accepted", "reused-key-409"])
def test_the_middleware_blames_no_app_for_a_reading_left_open(text, headers, status, answer):
    import httpx

    from migma_contract.asgi import ContractMiddleware
    from migma_contract.wire.asgi_transport import SyncASGITransport

    middleware = ContractMiddleware(_app_reading_json(status, answer))
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
        response = client.post("/v1/sending", content=text.encode(),
                               headers={"Authorization": f"Bearer {KEY_A}", "Content-Type": "application/json", **headers})
        assert response.status_code == status
    result = middleware.result()
    assert not result.findings and result.traffic.partly_judged == 1, result.findings


def test_a_front_ends_refusal_of_a_request_that_is_no_json_either_is_no_server_finding(tmp_path):
    """Two doubts at once (a media type other than JSON, a target a front end refuses): each leaves its part unjudged."""
    item = entry(url=URL + "?tags=a|b", status=400, answer=HTML_400, media="text/html")
    item["request"]["headers"][1]["value"] = "text/plain"
    result = judged_har(tmp_path, item)
    assert not server_findings(result), result.findings


@pytest.mark.parametrize("answer, media", [("<html><body>Too Many Requests</body></html>", "text/html"),
                                           ('{"whatever": 1}', "application/json")])
def test_a_send_answered_429_in_traffic_is_judged_in_part_never_green(tmp_path, answer, media):
    """Final pass P1, F3: in traffic no retry follows a 429, and its status and body rules were left unjudged while
    the exchange counted as judged in full: a gateway answering every send 429 with an HTML page stayed green (exit 0).
    Now such an exchange is judged in part: no green verdict rests on it."""
    result = judged_har(tmp_path, entry(status=429, answer=answer, media=media), entry(status=429, answer=answer, media=media))
    if media == "text/html":  # a front end's page: no endpoint answered, passed unjudged (`no_endpoint`; Pass Z2, F7)
        assert result.exit_code == 3 and result.traffic.unjudged == 2 and not result.findings, result.headline
        return
    assert result.exit_code == 3 and result.traffic.partly_judged == 2, result.headline
    assert any("429" in note and "judged in part" in note for note in result.traffic.notes), result.traffic.notes


@pytest.mark.parametrize("auth, key", [("[Filtered]", "[Filtered]"), (f"Bearer {KEY_A}", "[Filtered]"), (None, "XXXXXX"),
                                       (f"Bearer {KEY_A}", "***")])
def test_a_repeated_id_under_a_masked_key_or_credentials_is_never_excused_as_a_replay(tmp_path, auth, key):
    """Final pass P2, F1: Schemathesis writes `[Filtered]` for Idempotency-Key and Authorization alike, so sends under
    different real keys looked like replays of one key and a server repeating data.id was excused (exit 0). A masked key
    or credential leaves whether a repeat is a replay unknown: that rule is not judged for it, and no green verdict follows."""
    result = judged_har(tmp_path, entry(auth=auth, key=KEY_A, idempotency=key), entry(auth=auth, key=KEY_B, idempotency=key))
    assert result.exit_code == 3 and result.findings == [], result.headline
    assert any("masked its Idempotency-Key" in note for note in result.traffic.notes), result.traffic.notes
    # a first use under a masked key is remembered and judged as usual: a later repeat under real keys is still a finding
    result = judged_har(tmp_path, entry(auth=auth, idempotency=key), entry(key=KEY_B), entry(key=KEY_A))
    assert result.exit_code == 1 and "result-id-unique" in {f.rule for f in result.findings}, result.headline


@pytest.mark.parametrize("coding", ["gzip", "form"])
def test_a_retry_whose_body_has_no_one_reading_is_never_blamed_for_its_replayed_id(coding):
    """Last pass Q, F1: a client gzipping its body retried under the same Idempotency-Key and API key (gzip writes its
    time into the header: the bytes differ, the JSON does not); the correct server replayed the id and result-id-unique
    called it a conflict (exit 1). A body with no one reading leaves a repeat unjudged (judged in part), never blamed."""
    import gzip

    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="t")
    for number, variant in enumerate((1000, 2000)):
        if coding == "gzip":
            body, extra = gzip.compress(json.dumps(VALID).encode(), mtime=variant), [("Content-Encoding", "gzip")]
            media = "application/json"
        else:
            pairs = list(VALID.items()) if variant == 1000 else list(reversed(VALID.items()))
            body, extra, media = "&".join(f"{k}={v}" for k, v in pairs).encode(), [], "application/x-www-form-urlencoded"
        judge.observe(ObservedExchange(
            "POST", URL, [("Content-Type", media), *extra, ("Authorization", f"Bearer {KEY_A}"), ("Idempotency-Key", "retry-1")],
            body, 200, [("Content-Type", "application/json")], ACCEPTED.encode(), elapsed=0.1, where=f"send {number}"))
    judge.settle()
    result = judge.result()
    assert result.exit_code == 3 and result.findings == [], result.headline
    assert any("no one reading" in note for note in result.traffic.notes), result.traffic.notes
