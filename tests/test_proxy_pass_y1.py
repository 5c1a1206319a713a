"""The proxy after attack pass Y1: an answer read only after its deadline is judged in part, never green (F1); requests
refused at the door teach the redactor nothing and every note is masked with its own exchange's credentials (F2); the
proxy's own 502 quotes none of the upstream's bytes (F3); repeated refusals are counted under one note, which never
pushes out the note explaining the verdict (F4). Loopback servers: the end-to-end tier (the units are marked apart)."""

import base64
import json

import pytest

from migma_contract import contract_for
from migma_contract.traffic import proxy as proxy_module
from migma_contract.traffic.proxy import TrafficProxy
from migma_contract.traffic.tally import TrafficJudge
from migma_contract.wire.serve import serve_in_thread
from migma_contract.wire.upstream import h11_head_refused

from .helpers import raw_exchange
from .hostile_servers import each_request, raw_server
from .test_proxy_upstream import _Clock, _Task

VALID = json.dumps({"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com",
                    "fromName": "News", "subject": "Hello", "emailId": "email_welcome"}).encode()
OK = json.dumps({"success": True, "data": {"id": "m1", "status": "queued"}, "error": None}).encode()
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(OK) + OK
PAGE = b"<html>not found</html>"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(PAGE) + PAGE
KEY = "mk_live_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2"


def _judge():
    return TrafficJudge(contract_for(), "documented", kind="proxy", label="test proxy", timeout=5)


def _send(target=b"/v1/sending", extra=b""):
    return (b"POST " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + extra
            + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(VALID) + VALID)


def _cross_site(target):
    return b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: cross-site\r\nConnection: close\r\n\r\n"


def _run(requests, answer=ANSWER, judge=None, upstream_userinfo=""):
    """(what the client read for each request, the judge's result)."""
    judge = judge or _judge()

    with raw_server(each_request(answer if callable(answer) else lambda request: answer)) as up_url:
        up_url = up_url.replace("http://", f"http://{upstream_userinfo}") if upstream_userinfo else up_url
        with serve_in_thread(TrafficProxy(up_url, judge, timeout=5)) as proxy_url:
            got = [raw_exchange(proxy_url, request) for request in requests]
    judge.settle()
    return got, judge.result()


_DEADLINE = proxy_module._Deadline


def _late_deadline(timeout, loop=None, task=None):
    """An exchange's deadline whose upstream's answer was read only after it came (a fake clock, as the X1 F2 units):
    its bytes were waiting in the socket when the timer ran 3 s late, so when they arrived does not show."""
    clock = _Clock()
    deadline = _DEADLINE(timeout, clock, _Task())
    clock.io.append(deadline.settled)
    clock.run_until(timeout + 3)
    assert deadline.late and deadline.upstream_elapsed() is None and deadline.expired is None
    return deadline


@pytest.mark.e2e
def test_y1_f1_an_answer_read_only_after_its_deadline_is_judged_in_part_never_green(monkeypatch):
    """Pass Y1, F1 (t10.py, t11.py): the proxy's loop read the upstream's answer only after the deadline, so when it
    arrived does not show: the send went to the judge with no time and only a note, responds-in-time "not exercised",
    and the run was green (exit 0) with an upstream slower than --timeout. It is judged in part for responds-in-time
    (as the middleware's `in_part`): incomplete (exit 3), never green, never blamed."""
    monkeypatch.setattr(proxy_module, "_Deadline", _late_deadline)
    got, result = _run([_send(extra=b"Authorization: Bearer mc_live_y1y1y1y1y1y1y1y1\r\n")])
    assert got[0].startswith(b"HTTP/1.1 200 ")
    assert result.traffic.judged == 1 and result.traffic.partly_judged == 1, result.traffic
    assert not result.findings, [(finding.rule, finding.actual) for finding in result.findings]
    assert result.exit_code == 3
    assert any("responds-in-time was not judged" in note for note in result.traffic.notes), result.traffic.notes


@pytest.mark.e2e
def test_y1_f2_refused_cross_site_requests_do_not_spend_the_credential_bound():
    """Pass Y1, F2 (t13.py 45): a web page's refused (403) requests were learned before the Host/Origin check, used up
    the redactor's 1,000 credentials, and a later send's key showed unmasked in the no-endpoint note quoting its URL.
    Requests refused at the door are not learned (never forwarded nor judged; their notes quote none of them)."""
    import secrets

    flood = [_cross_site(b"/x.png?" + b"&".join(b"token%d=" % j + secrets.token_urlsafe(384).encode() for j in range(8)))
             for _ in range(45)]
    got, result = _run([*flood, _send(b"/v1/sending?ref=" + KEY.encode(), b"Authorization: Bearer " + KEY.encode() + b"\r\n")], answer=NOT_FOUND)
    assert all(answer.startswith(b"HTTP/1.1 403 ") for answer in got[:-1])
    notes = "\n".join(result.traffic.notes)
    assert "ref=[REDACTED]" in notes, notes
    assert KEY not in notes and "distinct credentials" not in notes, notes  # the bound not spent by the refused


@pytest.mark.e2e
def test_y1_f2_a_note_is_masked_with_its_own_exchanges_credentials_past_the_bound():
    """Pass Y1, F2: past the bound on credentials (1,000, reached here by forwarded traffic), a later key was masked
    only in its own exchange's findings: a note quoting it (the no-endpoint note quotes the send's URL) wrote it in
    clear. Notes are masked with their own exchange's credentials, as findings are."""
    judge = _judge()
    for batch in range(130):  # 1,040 distinct credentials learned: the bound is reached
        judge.learn_request("GET", "http://upstream/x?" + "&".join(f"token{j}=tok_{batch:04d}_{j}_abcdefghijklmnop"
                                                                   for j in range(8)), [])
    _, result = _run([_send(b"/v1/sending?ref=" + KEY.encode(), b"Authorization: Bearer " + KEY.encode() + b"\r\n")], answer=NOT_FOUND, judge=judge)
    notes = "\n".join(result.traffic.notes)
    assert "was answered" in notes and "404" in notes, notes
    assert KEY not in notes, notes


def test_y1_f2_a_note_given_its_exchanges_credentials_never_writes_them():
    """Pass Y1, F2 (unit): `note(own=...)` and `pass_unjudged(own=...)` mask the exchange's own credentials when the
    note is made, whatever the redactor has learned."""
    judge = _judge()
    judge._secrets.update(f"filler{index}" for index in range(1_000))  # the bound reached: nothing more is learned
    judge.note(f"a request to /x?ref={KEY} was refused", own=[KEY])
    judge.pass_unjudged(f"the send, POST <http://u/v1/sending?ref={KEY}>, was answered 404", own=[KEY])
    notes = "\n".join(judge.result().traffic.notes)
    assert KEY not in notes and notes.count("[REDACTED]") == 2, notes


@pytest.mark.e2e
def test_y1_f3_the_proxys_own_502_quotes_none_of_the_upstreams_bytes():
    """Pass Y1, F3 (t3.py): h11's error text quotes the offending header line word for word: the proxy's 502 handed the
    client the Authorization the proxy had added (the upstream's Basic credentials) and what else the line held. The
    502 says the reason and at most the header's name."""
    password = "s3cretPassw0rdXYZ"
    basic = base64.b64encode(f"gate:{password}".encode())

    def echo(request):
        auth = next(line for line in request.split(b"\r\n") if line.lower().startswith(b"authorization"))
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Echo " + auth + b" pw=" + password.encode()
                + b"\r\nContent-Length: 2\r\n\r\n{}")

    got, result = _run([_send()], answer=echo, upstream_userinfo=f"gate:{password}@")
    assert got[0].startswith(b"HTTP/1.1 502 "), got[0][:200]
    assert basic not in got[0] and password.encode() not in got[0], got[0]
    assert b"illegal header line" in got[0], got[0]
    text = "\n".join(result.traffic.notes) + json.dumps([str(finding) for finding in result.findings])
    assert basic.decode() not in text and password not in text


@pytest.mark.parametrize("head, shown", [
    (b"HTTP/1.1 200 OK\r\nX-Echo Authorization: Basic Z2F0ZTpzZWNyZXQ=\r\n\r\n", "illegal header line"),
    (b"HTTP/1.1 200 OK\x00Basic Z2F0ZTpzZWNyZXQ=\r\n\r\n", "illegal status line"),
])
def test_y1_f3_h11s_reason_is_said_without_the_bytes_it_quotes(head, shown):
    """Pass Y1, F3 (unit): h11's message quotes the line it refused (`illegal header line: bytearray(b'...')`): the
    reason is kept, the bytes are not."""
    why, _ = h11_head_refused(head)
    assert why is not None and shown in why and "Z2F0ZTpzZWNyZXQ" not in why and "bytearray" not in why, why


@pytest.mark.e2e
def test_y1_f4_refused_requests_are_counted_under_one_note_and_never_push_out_the_verdicts():
    """Pass Y1, F4 (t14.py): 60 cross-site requests refused 403 were each noted word for word; the report kept the first
    50 notes, so the note explaining why the run is incomplete (the send answered 404: "check --upstream") was dropped
    and the last note read "… and 11 more notes like these". Repeated refusals are one note, counted."""
    refused = [_cross_site(b"/x.png?n=%d" % index) for index in range(60)]
    got, result = _run([*refused, _send()], answer=NOT_FOUND)
    assert all(answer.startswith(b"HTTP/1.1 403 ") for answer in got[:-1])
    assert result.exit_code == 3
    notes = result.traffic.notes
    assert any("--upstream" in note and "404" in note for note in notes), notes
    refusals = [note for note in notes if "refused 403" in note]
    assert len(refusals) == 1 and refusals[0].startswith("60 × "), refusals
    assert not any("more notes like these" in note for note in notes), notes


def test_y1_f4_asides_never_push_out_the_notes_that_explain_the_verdict():
    """Pass Y1, F4 (unit): the notes kept word for word were one list: 50 distinct asides (a header dropped, a request
    for another path refused) left no room for a note saying why sends passed unjudged. They are kept apart."""
    judge = _judge()
    for index in range(80):
        judge.note(f"aside {index}: a header dropped", aside=True)
    judge.pass_unjudged("the send was answered 404: check --upstream: not judged")
    notes = judge.result().traffic.notes
    assert any("check --upstream" in note for note in notes), notes
    assert "… and 30 more notes like these" in notes, notes


def test_y1_f4_many_notes_of_one_kind_never_drop_the_one_of_another():
    """Pass Y1, F4 (unit): past the 50 notes kept word for word, 60 sends answered 404 (one note each, its exchange's
    number apart) dropped every later note, whatever it said: a note of a kind none kept is kept (up to 20 more)."""
    judge = _judge()
    for index in range(60):
        judge.pass_unjudged(f"proxy exchange {index}: the send, POST <http://u/v1/sending>, was answered 404: not judged")
    judge.pass_unjudged("the proxy's server: a request head over 16 KiB, a 431; not forwarded, not judged")
    notes = judge.result().traffic.notes
    assert any("16 KiB" in note for note in notes), notes
    assert "… and 10 more notes like these" in notes, notes


def test_y1_f3_the_proxys_own_words_are_masked_with_the_upstreams_and_the_requests_credentials():
    """Pass Y1, F3 (unit): what else the proxy's own answer may quote (a Content-Length's value, 40 bytes of it) never
    carries the upstream's credentials the proxy adds nor the request's own."""
    password = "s3cretPassw0rdXYZ"
    basic = base64.b64encode(f"gate:{password}".encode()).decode()
    proxy = TrafficProxy(f"http://gate:{password}@127.0.0.1:9", _judge())
    said = proxy._masked(f"a Content-Length that is not digits only ('Basic {basic}', {password}, {KEY})", [KEY])
    assert basic not in said and password not in said and KEY not in said and "Content-Length" in said, said
