"""The proxy after attack pass X1: its two server stacks decide alike where the proxy decides (F4), interim answers
are said to be dropped (F3), a note quoting a URL keeps its own punctuation after a masked value (F6). Loopback
servers: the end-to-end tier (the guard's units, F5, are in tests/test_boundary_x1.py)."""

import json
from pathlib import Path

import pytest

from migma_contract import contract_for
from migma_contract.traffic.proxy import TrafficProxy
from migma_contract.traffic.tally import TrafficJudge
from migma_contract.wire.serve import PROTOCOLS, serve_in_thread

from .helpers import raw_exchange
from .hostile_servers import each_request, raw_server

pytestmark = pytest.mark.e2e

STACKS = sorted(PROTOCOLS)
VALID = json.dumps({"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com",
                    "fromName": "News", "subject": "Hello", "emailId": "email_welcome"}).encode()
OK = json.dumps({"success": True, "data": {"id": "m1", "status": "queued"}, "error": None}).encode()
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(OK) + OK
HEAD = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer mc_live_x1x1x1x1x1x1x1x1\r\n"


def _judge():
    return TrafficJudge(contract_for(), "documented", kind="proxy", label="test proxy")


def _through(stack, request, answer=ANSWER):
    """(what the client read, what the upstream received, the judge's result) for raw `request` bytes."""
    seen = []

    def upstream(request_bytes):
        seen.append(request_bytes)
        return answer

    judge = _judge()
    with raw_server(each_request(upstream)) as up_url, \
            serve_in_thread(TrafficProxy(up_url, judge, timeout=5), stack=stack) as proxy_url:
        got = raw_exchange(proxy_url, request)
    judge.settle()
    return got, seen, judge.result()


@pytest.mark.parametrize("stack", STACKS)
def test_x1_f4_a_target_with_a_fragment_is_refused_on_both_stacks(stack):
    """Pass X1, F4 (t6_targets.py): `POST /v1/sending#frag` was forwarded as /v1/sending and judged on httptools (llhttp
    drops the fragment) and refused 400 by the proxy on h11: now the proxy's 400 on both, never forwarded."""
    request = HEAD % b"/v1/sending#frag" + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(VALID) + VALID
    got, seen, result = _through(stack, request)
    assert got.startswith(b"HTTP/1.1 400 "), got[:60]
    assert b"no fragment" in got and not seen
    assert result.exit_code == 3 and result.traffic.unjudged == 1


@pytest.mark.parametrize("stack", STACKS)
def test_x1_f4_a_content_length_beside_a_transfer_encoding_is_refused_on_both_stacks(stack):
    """Pass X1, F4 (t7_reqside.py "CL + TE"): httptools' server refused it 400 (unjudged, INCOMPLETE); h11 read it as
    chunked, and the proxy forwarded and judged it. Now refused 400 on both, never forwarded, passed unjudged."""
    chunked = b"%x\r\n" % len(VALID) + VALID + b"\r\n0\r\n\r\n"
    request = HEAD % b"/v1/sending" + b"Connection: close\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
    got, seen, result = _through(stack, request)
    assert got.startswith(b"HTTP/1.1 400 "), got[:60]
    assert not seen
    assert result.exit_code == 3 and result.traffic.unjudged == 1 and not result.findings


@pytest.mark.parametrize("stack", STACKS)
def test_x1_f3_an_interim_answer_is_dropped_and_the_docs_say_so(stack):
    """Pass X1, F3 (t1_framing.py "103 then 200"): the client gets the final answer alone; docs/traffic.md said every
    answer comes back unchanged and named only the reason phrase as what ASGI cannot carry."""
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    request = HEAD % b"/v1/sending" + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(VALID) + VALID
    got, seen, result = _through(stack, request, interim + ANSWER)
    assert got.startswith(b"HTTP/1.1 200 ") and b" 103 " not in got and len(seen) == 1
    assert result.exit_code == 0
    docs = " ".join((Path(__file__).parent.parent / "docs" / "traffic.md").read_text(encoding="utf-8").split())
    assert "Interim answers (1xx" in docs and "http.response.early_hint" in docs


def test_x1_f6_a_note_quoting_a_location_with_a_credential_keeps_what_follows_the_masked_value():
    """Pass X1, F6 (t9_echo.py, exchange 6): "(Location: http://x/?token=[REDACTED] no endpoint answers so": the masked
    parameter value ran on over the note's `)` (and the `,` after the send's URL). The URLs are written in angle
    brackets (RFC 3986 Appendix C), where a value ends: the note keeps its punctuation, the value stays masked."""
    token = "tok_ZXCVBNMasdfghjklqwerty987654"
    answer = b"HTTP/1.1 302 Found\r\nLocation: http://x/?token=" + token.encode() + b"\r\nContent-Length: 0\r\n\r\n"
    request = (HEAD % b"/v1/sending?api_key=k_secret_0123456789abcdef" + b"Connection: close\r\nContent-Length: %d\r\n\r\n"
               % len(VALID) + VALID)
    got, _, result = _through(STACKS[0], request, answer)
    assert got.startswith(b"HTTP/1.1 302 ")
    notes = "\n".join(result.traffic.notes)
    assert "(Location: <http://x/?token=[REDACTED]>): no endpoint answers so" in notes, notes
    assert "api_key=[REDACTED]>, was answered 302" in notes, notes
    assert token not in notes and "k_secret_0123456789abcdef" not in notes
