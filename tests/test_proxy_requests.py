"""A request reaches the upstream as its client sent it, on every server stack (attack pass R1 on the proxy).

The proxy and the mock run on the toolkit's bounded server configuration (`wire.serve`): what that server reads is
what the app sees, what the proxy forwards and what the judge reads as the client's request.
"""

from __future__ import annotations

import json

import pytest

from migma_contract import contract_for
from migma_contract.contract.catalogue import NO_SERVER_ERROR
from migma_contract.mock import create_app
from migma_contract.traffic.proxy import TrafficProxy
from migma_contract.traffic.tally import TrafficJudge
from migma_contract.wire.serve import PROTOCOLS, serve_in_thread

from .faulty_servers import FULL_KEY
from .helpers import raw_exchange
from .hostile_servers import each_request, raw_server

pytestmark = pytest.mark.e2e  # servers on loopback

STACKS = sorted(PROTOCOLS)
VALID = json.dumps({"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com",
                    "fromName": "News", "subject": "Hello", "emailId": "email_welcome"}).encode()
OK = json.dumps({"success": True, "data": {"id": "m1", "status": "queued"}, "error": None}).encode()
H2C = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"  # curl --http2
WEBSOCKET = b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"


def _send(extra: bytes = b"", body: bytes = VALID, framing: bytes | None = None) -> bytes:
    framing = b"Content-Length: %d\r\n" % len(body) if framing is None else framing
    return (b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer "
            + FULL_KEY.encode() + b"\r\n" + extra + framing + b"Connection: close\r\n\r\n" + body)


def _judge():
    return TrafficJudge(contract_for(), "documented", kind="proxy", label="test proxy")


def _proxied(stack, request: bytes, status: bytes = b"200 OK"):
    """(the proxy's answer, the requests the upstream received, the judge's result) for `request` sent through."""
    received: list[bytes] = []

    def answer(request: bytes) -> bytes:
        received.append(request)
        return b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(OK) + OK

    judge = _judge()
    with raw_server(each_request(answer)) as up, serve_in_thread(TrafficProxy(up, judge, timeout=5), stack=stack) as url:
        answered = raw_exchange(url, request)
    judge.settle()
    return answered, received, judge.result()


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("upgrade", [H2C, WEBSOCKET], ids=["h2c", "websocket"])
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_pass_r1_f3_a_send_asking_for_an_upgrade_reaches_the_upstream_with_its_body(stack, upgrade, chunked):
    """Pass R1, F3: `curl --http2 http://proxy/v1/sending` (Upgrade: h2c): on the httptools stack the upstream received
    the send with Content-Length: 0, and the judge blamed the client (an empty body) and the upstream (for its 200)."""
    request = _send(upgrade, b"%x\r\n%s\r\n0\r\n\r\n" % (len(VALID), VALID), b"Transfer-Encoding: chunked\r\n") if chunked \
        else _send(upgrade)
    answered, received, result = _proxied(stack, request)
    assert answered.startswith(b"HTTP/1.1 200") and answered.endswith(OK), answered
    assert len(received) == 1 and received[0].endswith(b"\r\ncontent-length: %d\r\n\r\n" % len(VALID) + VALID), received
    assert b"upgrade" not in received[0].lower()  # hop-by-hop: the proxy asks for no upgrade
    assert (result.exit_code, result.findings) == (0, []), result.findings


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("upgrade", [H2C, WEBSOCKET], ids=["h2c", "websocket"])
def test_pass_r1_f3_the_mock_reads_a_send_asking_for_an_upgrade_with_its_body(stack, upgrade):
    """Pass R1, F3: the reference mock answered `curl --http2`'s correct send 400 "the body is empty" (httptools stack)."""
    with serve_in_thread(create_app(), stack=stack) as url:
        answered = raw_exchange(url, _send(upgrade))
    assert answered.startswith(b"HTTP/1.1 200"), answered[:300]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("coding", [b"gzip, chunked", b"identity, chunked", b"deflate"])
def test_pass_r1_f4_a_send_in_another_transfer_coding_is_refused_not_forwarded(stack, coding):
    """Pass R1, F4: `Transfer-Encoding: gzip, chunked`: on the httptools stack the proxy forwarded the gzip bytes as a
    plain body with a Content-Length, and the judge blamed the client and the upstream. Refused 400, on every stack."""
    import gzip

    packed = gzip.compress(VALID)
    answered, received, result = _proxied(stack, _send(body=b"%x\r\n%s\r\n0\r\n\r\n" % (len(packed), packed),
                                                       framing=b"Transfer-Encoding: " + coding + b"\r\n"))
    assert answered.startswith(b"HTTP/1.1 400") and received == [], answered
    assert result.findings == [] and result.traffic.judged == 0


@pytest.mark.parametrize("stack", STACKS)
def test_pass_r1_f5_an_override_header_the_connection_drops_routes_nothing(stack):
    """Pass R1, F5: POST /v1/sending with `X-HTTP-Method-Override: PUT` named by its own `Connection`: the proxy drops
    the header, the upstream receives a plain POST send, yet the route was read from the client's headers: the send
    passed unjudged and the upstream's 500 to a valid send was hidden. Routed on what the upstream received."""
    request = _send(b"X-HTTP-Method-Override: PUT\r\n").replace(b"Connection: close", b"Connection: close, X-HTTP-Method-Override")
    answered, received, result = _proxied(stack, request, status=b"500 Internal Server Error")
    assert answered.startswith(b"HTTP/1.1 500") and b"override" not in received[0].lower(), received
    assert result.traffic.judged == 1 and result.traffic.unjudged == 0, result.traffic
    assert result.exit_code == 1 and any(finding.rule == NO_SERVER_ERROR.id for finding in result.findings), result.findings
