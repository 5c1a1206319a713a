"""The proxy after attack pass Z1: a header name a peer chose is quoted whole in its own case or not at all, and the
proxy's own 502 is masked with every credential the judge knows (F1); a 404/405 is no endpoint whatever its label or
body (F2); the 502's masking runs off the event loop (F3); a coded 4xx HTML answer is read for the envelope decoded, as
`check` reads it (F4). Loopback servers: the end-to-end tier (the units are marked apart)."""

import asyncio
import base64
import gzip
import json
import re

import pytest

from migma_contract import contract_for
from migma_contract.core.fields import request_head_refusable, shown_name, unreadable_head
from migma_contract.judge.verdict import ENVELOPE_BYTES, no_endpoint
from migma_contract.traffic import proxy as proxy_module
from migma_contract.traffic.proxy import TrafficProxy
from migma_contract.traffic.tally import TrafficJudge, cut_at_a_separator
from migma_contract.wire.serve import serve_in_thread
from migma_contract.wire.upstream import client_refuses

from .helpers import raw_exchange
from .hostile_servers import each_request, raw_server

VALID = json.dumps({"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com",
                    "fromName": "News", "subject": "Hello", "emailId": "email_welcome"}).encode()
OK = json.dumps({"success": True, "data": {"id": "m1", "status": "queued"}, "error": None}).encode()
ERROR = json.dumps({"success": False, "data": None, "error": "Not Found"}).encode()
KEY = b"mk_live_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2"


def _judge():
    return TrafficJudge(contract_for(), "documented", kind="proxy", label="test proxy", timeout=5)


def _send(key=KEY):
    return (b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + (b"Authorization: Bearer " + key + b"\r\n" if key else b"")
            + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(VALID) + VALID)


def _answer(status, body, content_type=b"application/json", extra=b""):
    return (b"HTTP/1.1 %d X\r\nContent-Type: %s\r\n%sContent-Length: %d\r\n\r\n" % (status, content_type, extra, len(body))
            + body)


def _run(requests, answer, upstream_userinfo=""):
    """(what the client read for each request, the judge's result, everything the report writes as one text)."""
    judge = _judge()
    with raw_server(each_request(answer if callable(answer) else lambda request: answer)) as up_url:
        up_url = up_url.replace("http://", f"http://{upstream_userinfo}") if upstream_userinfo else up_url
        with serve_in_thread(TrafficProxy(up_url, judge, timeout=5)) as proxy_url:
            got = [raw_exchange(proxy_url, request) for request in requests]
    judge.settle()
    result = judge.result()
    written = "\n".join(result.traffic.notes) + json.dumps([str(finding) for finding in result.findings])
    return got, result, written


def _echo_as_name(pattern):
    """An upstream echoing what `pattern` finds in the request as a header name (a NUL in its value: refused)."""
    def answer(request):
        echoed = re.search(pattern, request).group(1)
        return b"HTTP/1.1 200 OK\r\n" + echoed + b": a\x00b\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    return answer


# -- F1 ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [b"c3ZjdXNlcjpTdXAzclMzY3JldFBhc3N3MHJkWFlaYWI", b"mk_live_" + b"Ab3" * 24])
def test_z1_f1_a_long_header_name_is_described_never_cut_to_a_prefix(name):
    """Pass Z1, F1 (unit): `shown_name` quoted a peer's header name cut to 64 bytes and lower-cased, before any masking:
    an echoed long key showed its first 64 characters, an echoed base64 credential its lower-cased form (recovered
    letter by letter), which no redactor matches. Past 40 bytes it says only the length; every message built on it
    (the proxy's reading of an answer, the middleware's of an app's head) quotes none of it."""
    for said in (shown_name(name), client_refuses([(name, b"a\x00b")]), unreadable_head([(name + b"@", b"x")])):
        assert said is not None
        assert name[:20].lower().decode() not in said.lower(), said


def test_z1_f1_a_short_header_name_is_quoted_whole_in_its_own_case():
    """Pass Z1, F1 (unit): a name short enough to quote is quoted as it came (never case-folded): the redactor then
    masks a credential echoed as one, since it sees it whole in its own case."""
    assert shown_name(b"X-Api-Key") == "'X-Api-Key'"
    said = client_refuses([(b"dTpzM2NyZXRQd2Q", b"a\x00b")])
    assert said is not None and "'dTpzM2NyZXRQd2Q'" in said, said


@pytest.mark.e2e
def test_z1_f1_the_upstreams_basic_credential_echoed_as_a_header_name_is_written_nowhere():
    """Pass Z1, F1 (f1b_cli_basic.py): an upstream echoing the Authorization it got (the proxy's Basic credential) as a
    header name: its base64, lower-cased, was in the 502, the console and every report. Nothing of it now, in any case."""
    password = "Sup3rS3cretPassw0rdXYZab"
    basic = base64.b64encode(f"svcuser:{password}".encode()).rstrip(b"=")
    got, _, written = _run([_send(key=b"")], _echo_as_name(rb"(?im)^authorization: *basic +([A-Za-z0-9+/]+)"),
                                upstream_userinfo=f"svcuser:{password}@")
    assert got[0].startswith(b"HTTP/1.1 502 "), got[0][:200]
    for text in (got[0].decode("latin-1"), written):
        assert basic[:16].lower().decode() not in text.lower() and password.lower() not in text.lower(), text


@pytest.mark.e2e
def test_z1_f1_a_long_key_echoed_as_a_header_name_shows_no_prefix():
    """Pass Z1, F1 (f1c_long_key.py): a client key of 80 characters echoed as a header name: its first 64 characters
    were in the 502 and the no-server-error finding (cut before masking; no redactor masks a prefix)."""
    key = b"mk_live_" + b"Ab3" * 24
    got, _, written = _run([_send(key=key)], _echo_as_name(rb"(?im)^authorization: *bearer +(\S+)\r$"))
    assert got[0].startswith(b"HTTP/1.1 502 "), got[0][:200]
    for text in (got[0].decode("latin-1"), written):
        assert key[:20].lower().decode() not in text.lower(), text


@pytest.mark.e2e
def test_z1_f1_the_proxys_502_masks_a_key_the_judge_already_knew():
    """Pass Z1, F1 (f1_502_key_echo.py): the 502 was masked with the request's credentials new to the judge only: the
    same client's second request (or another client, whose key the upstream echoed) read the key in the 502's body."""
    other = b"mk_live_Bb1Bb2Bb3Bb4Bb5Bb6Bb7Bb8"
    def answer(request):  # always client A's key, whoever asks
        return (b"HTTP/1.1 200 OK\r\n" + KEY + b": a\x00b\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")

    got, _, written = _run([_send(), _send(), _send(key=other)], answer)
    for read in got:
        assert read.startswith(b"HTTP/1.1 502 ") and KEY.lower() not in read.lower(), read
    assert KEY.decode() not in written


# -- F2 ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [404, 405])
@pytest.mark.parametrize("label", ["text/html", "text/html; charset=utf-8", "application/json", "text/plain"])
def test_z1_f2_a_404_or_405_is_no_endpoint_whatever_its_label_or_body(status, label):
    """Pass Z1, F2 (unit, the one reading of proxy and check): the envelope exemption for a 4xx HTML answer also lifted
    the 404/405 reading: a framework's JSON error sent as text/html was judged and blamed (check: a dozen rule failures
    where a wrong --base-url is the configuration error, exit 2)."""
    documented = contract_for().spec.documented_statuses
    for given in (documented, ()):
        assert no_endpoint(status, label, given, [ERROR]) is not None


def test_z1_f2_another_4xx_html_answer_holding_the_envelope_is_still_the_apis():
    """Pass Z1, F2 (unit): the exemption stays for the 4xx HTML answers it was meant for (X5, F5)."""
    assert no_endpoint(400, "text/html", contract_for().spec.documented_statuses, [ERROR]) is None
    assert no_endpoint(400, "text/html", (), [b"<html>bad request</html>"]) is not None


@pytest.mark.e2e
def test_z1_f2_the_proxy_passes_a_404_html_envelope_unjudged():
    """Pass Z1, F2 (f2_404_html_envelope.py): a 404 text/html whose body is the envelope was judged (exit 1); as with
    application/json it is the --upstream reading, unjudged (exit 3)."""
    _, result, written = _run([_send()], _answer(404, ERROR, b"text/html"))
    assert result.exit_code == 3 and result.traffic.judged == 0 and not result.findings, written
    assert "--upstream" in written, written


# -- F3 ----------------------------------------------------------------------------------------------------------------

def _on_a_loop():
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.mark.e2e
def test_z1_f3_the_502s_masking_runs_off_the_event_loop(monkeypatch):
    """Pass Z1, F3 (f4_mask_on_loop.py): the 502's words were masked on the event loop with a redactor built from all
    the request's credentials (~0.3 s for a 1 MiB body holding thousands; 16 such held every other exchange past its
    deadline). It runs on a worker thread, its `own` bounded as a note's is; nothing here is timed."""
    where = []
    masked = TrafficProxy._masked

    def spy(self, message, own):
        where.append(_on_a_loop())
        return masked(self, message, own)

    monkeypatch.setattr(TrafficProxy, "_masked", spy)

    got, _, _ = _run([_send()], _echo_as_name(rb"(?im)^authorization: *bearer +(\S+)\r$"))  # (a 502 of its own)
    assert got[0].startswith(b"HTTP/1.1 502 "), got[0][:200]
    assert where == [False], where


def test_z1_f3_the_502s_words_are_masked_with_a_bounded_own_and_every_known_credential():
    """Pass Z1, F3/F1 (unit): `TrafficJudge.masked` masks the exchange's own credentials (bounded as a note's: those
    past the bound as given) and those the judge knew already."""
    judge = _judge()
    judge.learn_now("POST", "http://u/v1/sending", [("Authorization", "Bearer " + KEY.decode())])
    own = [f"cred{index:05d}_" + "x" * 40 for index in range(2000)]
    said = judge.masked(f"{KEY.decode()} {own[0]} {own[-1]}", own)
    assert KEY.decode() not in said and own[0] not in said and own[-1] not in said, said


# -- F4 ----------------------------------------------------------------------------------------------------------------

def test_z1_f4_a_coded_body_is_read_for_the_envelope_decoded_and_bounded():
    """Pass Z1, F4 (unit): the proxy read a 4xx HTML answer's coded bytes for the envelope, check the decoded body."""
    coded = [(b"content-encoding", b"gzip")]
    assert b"".join(proxy_module._enveloped_as_read(coded, [gzip.compress(ERROR)])) == ERROR
    assert b"".join(proxy_module._enveloped_as_read([], [ERROR])) == ERROR
    big = b"".join(proxy_module._enveloped_as_read(coded, [b"\x1f" * (2 * ENVELOPE_BYTES + 1)]))
    assert len(big) > ENVELOPE_BYTES
    assert b"".join(proxy_module._enveloped_as_read(coded, [b"not gzip"])) == b""


@pytest.mark.e2e
def test_z1_f4_a_gzip_coded_4xx_html_envelope_is_judged_as_check_judges_it():
    """Pass Z1, F4 (f3_gzip_envelope.py): a 400 text/html answer whose body is the envelope, gzip-coded, passed unjudged
    as an HTML page (exit 3), where the same answer uncoded, and `check` reading httpx's decoded body, judge it."""
    coded = gzip.compress(ERROR)
    _, result, written = _run([_send()], _answer(400, coded, b"text/html", b"Content-Encoding: gzip\r\n"))
    assert result.traffic.judged == 1 and result.exit_code == 1, written


@pytest.mark.parametrize("headers", [
    [(b"content-length", b"mk_live_" + b"Ab3" * 24)],
    [(b"transfer-encoding", b"gzip, mk_live_" + b"Ab3" * 24)],
])
def test_z1_f1_a_long_framing_value_is_described_never_cut_to_a_prefix(headers):
    """Pass Z1, F1 (unit, the same class): a Content-Length or Transfer-Encoding value was quoted cut to 40 or 60 bytes
    before any masking (a key echoed there: its prefix, which no redactor masks). Past the bound, only its length."""
    for said in (unreadable_head(headers), client_refuses(headers)):
        assert said is not None and "Ab3Ab3" not in said and "bytes, not shown" in said, said
    said = request_head_refusable([(name.decode(), value.decode()) for name, value in headers])
    assert said is not None and "Ab3Ab3" not in said[0], said


def test_z1_f1_a_dropped_header_is_named_whole_in_its_own_case_or_by_its_length():
    """Pass Z1, F1 (unit, the same class): a header the proxy cannot forward (a control character in its value) was
    named in the note cut to 64 bytes and lower-cased: an upstream echoing a long key or a base64 credential as a header
    name had its prefix, or its lower-cased form, in every report."""
    key = b"mk_live_" + b"Ab3" * 24
    _, dropped = proxy_module.sendable_headers([(key, b"a\x01b"), (b"X-Key-AbC", b"a\x01b")])
    assert dropped == ["(a name of 80 bytes, not shown)", "'X-Key-AbC'"], dropped


def test_z1_f1_a_long_location_is_cut_after_a_separator_never_through_a_token():
    """Pass Z1, F1 (unit, the same class): the no-endpoint note quoted a Location cut at 200 characters: a key in it
    across the cut left its prefix, which no redactor masks. It is cut after the last separator before the bound."""
    key = "mk_live_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2"
    location = "https://h/" + "a" * 180 + "/" + key + "/x"
    said = cut_at_a_separator(location, 200)
    assert key[:10] not in said and said.endswith("/…") and len(said) <= 201, said
    assert cut_at_a_separator("https://h/x", 200) == "https://h/x"
