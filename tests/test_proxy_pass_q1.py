"""The proxy after attack pass Q1: a note or a quoted value is masked (the exchange's own, the upstream's credentials)
before it is cut, never cut through a base64 credential to a prefix no redactor masks (F1, F2); a Content-Encoding
value is quoted whole or by its length (F2's class). Loopback servers: the end-to-end tier (the units are marked apart)."""

import base64
import re
import urllib.parse

import pytest

from migma_contract import contract_for
from migma_contract.traffic.tally import ObservedExchange, TrafficJudge, noted
from migma_contract.wire.coding import as_given

from .test_proxy_pass_z1 import _run, _send

USER, PASSWORD = "svcuser", "S3cr3tPassw0rd~?>~?>~ZZkq"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()  # holds `/` (at 31 and 35)
USERINFO = f"{USER}:{urllib.parse.quote(PASSWORD, safe='')}@"


def _leaks(written: str) -> list[str]:
    """Every 8-character piece of the Basic value or of the password found in `written`."""
    return [secret[i:i + 8] for secret in (BASIC, PASSWORD) for i in range(len(secret) - 7) if secret[i:i + 8] in written]


def _echo_in_location(prefix: bytes):
    def answer(request):
        echoed = re.search(rb"authorization: Basic (\S+)", request, re.I).group(1)
        return b"HTTP/1.1 302 Found\r\nLocation: " + prefix + echoed + b"\r\nContent-Length: 0\r\n\r\n"
    return answer


@pytest.mark.e2e
@pytest.mark.parametrize("pad", [131, 134, 138])  # the value's `/` within the 200 characters, its end past them
def test_q1_f1_a_location_echoing_the_upstreams_basic_credential_across_its_cut_shows_none_of_it(pad):
    """Pass Q1, F1: the no-endpoint note quoted a 302's Location cut at 200 characters after its last `/`: a base64
    Basic credential (the one the proxy adds from --upstream's userinfo) echoed across the cut kept its prefix (20 of
    the password's 24 characters), which no redactor masks. The Location is masked before it is cut."""
    prefix = b"http://login.example/" + b"a" * pad + b"?tok="
    got, _, written = _run([_send(key=None)], _echo_in_location(prefix), upstream_userinfo=USERINFO)
    assert got[0].startswith(b"HTTP/1.1 302")
    assert "Location: <" in written and not _leaks(written), written


@pytest.mark.e2e
@pytest.mark.parametrize("query", [348, 354, 360])
def test_q1_f2_a_note_cut_through_the_upstreams_basic_credential_shows_none_of_it(query):
    """Pass Q1, F2: every note is cut at 500 characters; the cut dropped only the run after the last `/`, so a
    base64 credential across it kept the rest (a long client query moving a short Location's echo of the upstream's
    Basic value there). A note is masked with the exchange's own and the upstream's credentials before it is cut."""
    request = _send(key=None).replace(b"/v1/sending", b"/v1/sending?q=" + b"a" * query, 1)
    got, _, written = _run([request], _echo_in_location(b"/?t="), upstream_userinfo=USERINFO)
    assert got[0].startswith(b"HTTP/1.1 302")
    assert "characters, cut)" in written and not _leaks(written), written


@pytest.mark.parametrize("at", range(456, 500, 6))  # the value across the 500th character
def test_q1_f2_a_cut_never_keeps_part_of_a_base64_run(at):
    """Pass Q1, F2 (unit): wherever a base64 value (`/`, `+`, `=` in it) stands across the cut, none of it is kept,
    even unmasked (a credential no one told the judge of)."""
    note = "x " * (at // 2) + "t=" + BASIC + " and more " * 20
    said = noted(note)
    assert "characters, cut)" in said and not _leaks(said), said


def test_q1_a_long_content_encoding_is_quoted_whole_or_by_its_length():
    """Pass Q1 (F2's class, unit): a Content-Encoding value was quoted cut to 40 characters, before any masking: a
    credential echoed there showed its prefix. Past 40 characters only its length is said."""
    body, why = as_given(b"\x1f\x8b not json", "gzip, " + BASIC)
    assert body is None and why is not None and not _leaks(why) and "characters, not shown" in why, why
    body, why = as_given(b"\x1f\x8b not json", "gzip")
    assert why is not None and "'gzip'" in why, why


@pytest.mark.parametrize("pad", [131, 134, 138])
def test_q1_f1_an_observed_location_quoting_its_own_basic_credential_across_its_cut_shows_none_of_it(pad):
    """Pass Q1, F1 (unit, the same class in the judge's own no-endpoint note, every way in): the Location was cut at
    200 characters before any masking. It is masked with the exchange's own credentials, then cut at a separator."""
    judge = TrafficJudge(contract_for(), "documented", kind="check", label="t", timeout=5)
    location = "http://login.example/" + "a" * pad + "?tok=" + BASIC
    judge.observe(ObservedExchange(
        method="POST", url="http://api.example/v1/sending", request_body=b"{}", status=302,
        request_headers=[("Authorization", f"Basic {BASIC}"), ("Content-Type", "application/json")],
        response_headers=[("Location", location)], via_url=True))
    judge.settle()
    written = "\n".join(judge.result().traffic.notes)
    assert "Location: <" in written and not _leaks(written), written


@pytest.mark.e2e
@pytest.mark.parametrize("framing", [
    b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n{body}",
    b"Content-Length: {n}\r\nContent-Length: {n}\r\n\r\n{raw}",
    b"Content-Length: {n}, {n}\r\n\r\n{raw}",
], ids=["length-beside-chunked", "length-twice", "length-list"])
def test_q1_an_upstream_answer_framed_as_node_refuses_is_the_servers_finding(framing):
    """Pass Q1 (with Z4, F4's `framing_apart`): an upstream answer with a Content-Length beside a Transfer-Encoding, or
    one given twice, is read by h11 (httpx) and refused by Node's client: the proxy forwards it mended, and it passed
    green. It came on the wire: the server's no-server-error, as the middleware judges one under httptools' `send`."""
    ok = b'{"success": true, "data": {"id": "m1", "status": "queued"}, "error": null}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(ok), ok)
    tail = framing.replace(b"{body}", chunked).replace(b"{n}", b"%d" % len(ok)).replace(b"{raw}", ok)
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + tail
    got, result, written = _run([_send()], answer)
    assert got[0].startswith(b"HTTP/1.1 200") and ok in got[0], got[0]
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], written
    assert "Node" in written, written
