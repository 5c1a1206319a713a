"""Pass U2: what a server or a front end refuses before any app, read as each of them may read it.

F2: a correct app behind gunicorn was blamed for gunicorn's own 414 to a request line of 4.1-8 KB: only a whole head
past 8 KB was a front end's refusal. Each part of a head (request line, query, one header line, header lines, the whole
head) past the smallest common default now leaves a 4xx's status and body rules unjudged; a head under all stays judged.
F3: a negotiation field given twice (`Accept: application/xml`, then `Accept: application/json`) was read joined only,
while Starlette and Go read the first: a correct app's 406 was blamed. Each reading (first, last, joined) now counts.
F4: a recording whose recorder leaves out the Content-Length the client sent (vcrpy's aiohttp stub) made a server's
411 "its request has no Content-Length": the 411 excuse now holds only where the recording shows the wire's framing.
"""

import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from migma_contract import contract_for
from migma_contract.asgi import ContractMiddleware
from migma_contract.contract.catalogue import ACCEPTS_VALID, STATUS_DOCUMENTED
from migma_contract.judge.verdict import FRONT_END_FIELD, FRONT_END_FIELDS, FRONT_END_LINE, FRONT_END_QUERY
from migma_contract.traffic.recordings import open_recording
from migma_contract.traffic.tally import ObservedExchange, TrafficJudge, judge_exchange
from migma_contract.wire.asgi_transport import SyncASGITransport

from .test_judge_either_way import HTML_400, URL, entry, judged_har, server_findings

VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
KEY = "mc_live_tenant_a_0123456789"
REFUSED = {ACCEPTS_VALID.id, STATUS_DOCUMENTED.id}


# --- F2: the limits common servers and front ends apply before any app ----------------------------------------------

@pytest.mark.parametrize(("query", "extra"), [
    ("?ref=" + "a" * 4500, ()),  # a request line past gunicorn's 4,094 (its own 414), under 8 KB
    ("?ref=" + "a" * (FRONT_END_QUERY + 10), ()),  # a query past IIS's 2,048 (maxQueryString)
    ("", [("X-Trace", "t" * FRONT_END_FIELD)]),  # one header line past gunicorn's and Apache's 8,190
    ("", [(f"X-F{i}", "1") for i in range(FRONT_END_FIELDS)]),  # more header lines than gunicorn, Apache, Tomcat allow
])
@pytest.mark.parametrize(("status", "media", "answer"), [
    (414, "text/html", "<html><body><h1>Request-URI Too Long</h1></body></html>"),
    (431, "application/json", '{"success": false, "error": "too large"}'),
    (400, "text/html", HTML_400),
])
def test_pass_u2_f2_a_head_past_the_smallest_common_front_end_limit_refused_is_no_server_finding(tmp_path, query, extra,
                                                                                                status, media, answer):
    """Pass U2, F2: gunicorn answers 414 to a request line past 4,094 bytes before the app; that status and its body are
    the front end's, judged in part, never the server's break."""
    result = judged_har(tmp_path, entry(url=URL + query, status=status, answer=answer, media=media, extra=extra))
    assert not server_findings(result), result.findings
    # a 4xx HTML page is no endpoint's answer at all (`no_endpoint`, every way in's reading): passed unjudged (Pass Z2, F7)
    assert (result.traffic.unjudged if media == "text/html" else result.traffic.partly_judged) == 1
    assert any("front end" in note for note in result.traffic.notes), result.traffic.notes


def test_pass_u2_f2_a_head_under_every_front_end_limit_refused_stays_the_servers(tmp_path):
    """Pass U2, F2: a head under all of them reaches the app behind any front end: a 414 to it is the server's."""
    query = "?ref=" + "a" * (FRONT_END_QUERY - 10)
    extra = [("X-Trace", "t" * (FRONT_END_FIELD - 200)), *((f"X-F{i}", "1") for i in range(FRONT_END_FIELDS - 10))]
    assert len("POST /v1/sending" + query + " HTTP/1.1") < FRONT_END_LINE
    for status in (414, 431):
        result = judged_har(tmp_path, entry(url=URL + query, status=status, answer='{"success": false, "error": "x"}'))
        assert server_findings(result) >= REFUSED, result.findings
    under = judged_har(tmp_path, entry(status=431, answer='{"success": false, "error": "x"}', extra=extra[:1]))
    assert server_findings(under) >= REFUSED, under.findings


def test_pass_u2_f2_a_repeated_field_counts_as_its_own_lines(tmp_path):
    """Pass U2, F2: two Cookie lines of 5 KB each are two lines under 8,190 (not one joined line past it), and a head
    of 10 KB: past Tomcat's 8 KB, so a 400 to it is still the front end's."""
    extra = [("Cookie", "a=" + "x" * 5000), ("Cookie", "b=" + "y" * 5000)]
    # (a JSON answer: a 4xx HTML page is passed unjudged whatever the head, `no_endpoint`, Pass Z2, F7)
    result = judged_har(tmp_path, entry(status=400, answer='{"success": false, "error": "x"}', extra=extra))
    assert not server_findings(result)
    assert any("head is about" in note for note in result.traffic.notes), result.traffic.notes


# --- F3: a refusal field given more than once, read each way a server may read it ---------------------------------

def _exchange(headers, status):
    return ObservedExchange("POST", URL, [("Authorization", f"Bearer {KEY}"), ("Content-Type", "application/json"),
                                          *headers], json.dumps(VALID).encode(), status,
                            [("Content-Type", "application/json")], b'{"success": false, "error": "Not Acceptable"}')


def _server_breaks(verdict):
    return {j.rule_id for j in verdict.breaches if j.party == "server"}


@pytest.mark.parametrize(("name", "first", "second"), [
    ("Accept", "application/xml", "application/json"),  # Starlette, Go, Java read the first
    ("Accept", "application/json", "application/xml"),  # a server keeping the last
    ("Accept-Encoding", "identity;q=0", "identity"),
    ("Accept-Charset", "iso-8859-5", "utf-8"),
    ("Accept-Language", "fr", "en"),
])
def test_pass_u2_f3_a_negotiation_field_given_twice_answered_406_is_judged_in_part(name, first, second):
    """Pass U2, F3: `Accept: application/xml` then `Accept: application/json` is read joined (JSON admitted) by RFC 9110
    §5.3, but Starlette's `request.headers["accept"]` and Go's `Header.Get` read the first: a correct app's 406 was blamed."""
    verdict = judge_exchange(contract_for(), "documented", _exchange([(name, first), (name, second)], 406))
    assert not _server_breaks(verdict), verdict.breaches
    assert verdict.partly is not None and "406" in verdict.partly and "given 2 times" in verdict.partly, verdict.partly


def test_pass_u2_f3_a_field_given_twice_that_every_reading_admits_stays_judged():
    """Pass U2, F3: twice, admitting JSON in every reading (first, last, joined): a 406 is the server's."""
    verdict = judge_exchange(contract_for(), "documented",
                             _exchange([("Accept", "application/json"), ("Accept", "*/*")], 406))
    assert _server_breaks(verdict) >= REFUSED, verdict.breaches


def test_pass_u2_f3_the_middleware_leaves_a_first_reading_apps_406_unblamed():
    """Pass U2, F3 (the reproduction): httpx sends two Accept fields to a Starlette app reading `headers["accept"]`."""

    async def send(request):
        accept = request.headers.get("accept", "*/*")  # the first field only
        if "json" not in accept and "*/*" not in accept:
            return JSONResponse({"success": False, "error": "Not Acceptable"}, status_code=406)
        return JSONResponse({"success": True, "data": {"id": "msg_1", "status": "queued", "provider": "migma"}, "error": None})

    middleware = ContractMiddleware(Starlette(routes=[Route("/v1/sending", send, methods=["POST"])]))
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
        answer = client.post("/v1/sending", json=VALID, headers=[("Authorization", f"Bearer {KEY}"),
                                                                 ("Accept", "application/xml"), ("Accept", "application/json")])
    assert answer.status_code == 406
    result = middleware.result()
    assert result.findings == [] and result.traffic.partly_judged == 1, result.findings


# --- F4: a 411 excused only where the recording shows the wire's framing ------------------------------------------

def _cassette(tmp_path, body_yaml, headers_yaml=""):
    path = tmp_path / "aio.yaml"
    path.write_text(f"""interactions:
- request:
    body: {body_yaml}
    headers:
      Authorization:
      - Bearer {KEY}
      Content-Type:
      - application/json
{headers_yaml}    method: POST
    uri: http://127.0.0.1:1/v1/sending
  response:
    body:
      string: '{{"success": false, "error": "Length Required"}}'
    headers:
      Content-Type:
      - application/json
    status:
      code: 411
      message: Length Required
version: 1
""")
    judge = TrafficJudge(contract_for(), "documented", kind="recording", label=str(path))
    for exchange in open_recording(path).exchanges():
        judge.observe(exchange)
    return judge.result()


def test_pass_u2_f4_a_411_to_a_recorded_body_whose_recorder_drops_the_framing_is_judged(tmp_path):
    """Pass U2, F4: vcrpy's aiohttp stub records only the caller's headers, though aiohttp always sends a Content-Length
    for a body it holds: the 411 was excused as "its request has no Content-Length", a reason the wire never gave."""
    result = _cassette(tmp_path, "'" + json.dumps(VALID) + "'")
    assert server_findings(result) >= REFUSED, result.findings
    assert not any("no Content-Length" in note for note in result.traffic.notes), result.traffic.notes


def test_pass_u2_f4_a_411_to_a_send_the_recording_shows_chunked_stays_excused(tmp_path):
    """Pass U2, F4: a head recorded with Transfer-Encoding: chunked shows the framing: a 411 to it stays unjudged."""
    result = _cassette(tmp_path, "'" + json.dumps(VALID) + "'", "      Transfer-Encoding:\n      - chunked\n")
    assert not server_findings(result), result.findings
    assert any("no Content-Length" in note for note in result.traffic.notes), result.traffic.notes


def test_pass_u2_f4_the_proxy_and_middleware_see_the_wire_so_a_411_to_a_chunked_send_stays_excused():
    """Pass U2, F4: a way in that sees the wire (the default) keeps the excuse for a body sent with no Content-Length."""
    exchange = ObservedExchange("POST", URL, [("Authorization", f"Bearer {KEY}"), ("Content-Type", "application/json")],
                                json.dumps(VALID).encode(), 411, [("Content-Type", "application/json")],
                                b'{"success": false, "error": "Length Required"}')
    assert not _server_breaks(judge_exchange(contract_for(), "documented", exchange))
